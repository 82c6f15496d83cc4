// The workspace database (IndexedDB through Dexie). This folder is the only code that imports
// Dexie. The schema lives in numbered versions, each with its upgrade() and the date it was added;
// a new version never edits an old one (browsers upgrade from whatever version they have).
import Dexie, { type EntityTable, type Transaction } from 'dexie';
import type { PrefRecord, RecordKind, Split } from '../data/records.js';
import type { RunRow, CheckpointRow, RefCacheRow } from './runs-types.js';
import type { TuneRecord } from '../engine/tuning/tuner.js';
import type { GenerationRow, LoopRow } from './loop-types.js';

export interface DatasetCounts {
  total: number;
  byKind: Record<RecordKind, number>;
  bySplit: Record<Split, number>;
}

/** Where a dataset's records came from. */
export interface DatasetSource {
  file: string;
  format: string;
  container: string;
  compressed: boolean;
  bytes?: number;
  rowsRejected: number;
  importedAt: number;
}

export interface DatasetRow {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  /** 'staging' while an import or restore writes it: invisible to every query until 'ready'. */
  status: 'staging' | 'ready';
  counts: DatasetCounts;
  source?: DatasetSource;
  description?: string;
  /** Schema v2: this dataset holds the labels given on the dataset with this id (Label page). */
  labelsOf?: string;
}

export type StoredRecord = PrefRecord & { id?: number; datasetId: string };

/** What an annotator decided on one labelling task. Candidates are named by their canonical index
 *  (see src/services/label-tasks.ts: sorted by content), never by the side they were shown on, so
 *  two annotators' decisions compare whatever sides each saw. */
export type LabelDecision =
  | { type: 'prefer'; winner: number }
  | { type: 'tie' }
  | { type: 'bothBad' }
  | { type: 'thumb'; up: boolean }
  | { type: 'rank'; ranks: number[] }
  /** Index of the first wrong step in the shown chain; null: every step is right. */
  | { type: 'steps'; firstWrong: number | null }
  | { type: 'skip' };

export interface LabelRow {
  id?: number;
  /** Content key of the task (prompt and candidates): the same task in two workspaces or two
   *  datasets has the same key, so labels merged from backups still meet for agreement. */
  taskKey: string;
  sourceDatasetId: string;
  sourceRecordId: number;
  annotator: string;
  createdAt: number;
  decision: LabelDecision;
  /** Canonical candidate index shown on each side (left first): the blind order, for audits. */
  shown?: number[];
  /** Candidates the annotator rewrote (canonical indexes). */
  edited?: number[];
  rationale?: string;
  /** The record this label wrote (none for a skip) and its dataset. */
  recordId?: number;
  outputDatasetId?: string;
}

interface SchemaVersion {
  version: number;
  /** When this version was added (comments say why). */
  date: string;
  stores: Record<string, string | null>;
  upgrade: (tx: Transaction) => void | Promise<void>;
}

export const SCHEMA_VERSIONS: SchemaVersion[] = [
  {
    // 2026-11-22: datasets and their records. Records are found by dataset (with kind or split),
    // and by tag (multi-entry); datasets by status so staged imports stay hidden.
    version: 1,
    date: '2026-11-22',
    stores: {
      datasets: 'id, name, status, createdAt',
      records: '++id, datasetId, kind, split, *tags, [datasetId+kind], [datasetId+split]',
    },
    // First version: nothing older to migrate.
    upgrade: () => {},
  },
  {
    // 2026-11-30: labels (Label page). One row per decision of an annotator on a task; found by
    // the dataset labelled and annotator (the queue), and by task (agreement between annotators).
    // Datasets gain an optional `labelsOf` (not indexed). v1 rows stay valid as they are.
    version: 2,
    date: '2026-11-30',
    stores: {
      labels: '++id, taskKey, sourceDatasetId, [sourceDatasetId+annotator], outputDatasetId, recordId',
    },
    // Nothing to rewrite: records and datasets keep their v1 shape; the labels table starts empty.
    upgrade: () => {},
  },
  {
    // 2026-12-06: training runs (Train page). A run row holds its whole configuration, status and
    // the metrics up to its last checkpoint; checkpoints (Trainer checkpoint bytes) are found by
    // run and step; reference log-probs are cached by their fingerprint key (ref-cache.ts).
    version: 3,
    date: '2026-12-06',
    stores: {
      runs: 'id, status, createdAt',
      checkpoints: '++id, runId, [runId+step]',
      refcache: 'key',
    },
    // Nothing to rewrite: v2 tables keep their shape; the three new tables start empty.
    upgrade: () => {},
  },
  {
    // 2026-12-06: the on-policy loop (issue 13). Records gain two kinds, `prompt` (a prompt set's
    // row) and `candidates` (K generated responses awaiting judgement); generation jobs (a prompt
    // set into a candidates dataset, resumable after a reload) and loops (rounds of generate,
    // judge, train, evaluate) get a table each, found by status.
    version: 4,
    date: '2026-12-06',
    stores: {
      generations: 'id, status, createdAt',
      loops: 'id, status, createdAt',
    },
    // Every dataset's counts gain the two kinds (0: no v3 record is of either).
    upgrade: async (tx) => {
      await tx
        .table('datasets')
        .toCollection()
        .modify((d: DatasetRow) => {
          d.counts.byKind.prompt ??= 0;
          d.counts.byKind.candidates ??= 0;
        });
    },
  },
  {
    // 2026-12-07: kernel tuning (issue 16). The engine Worker's choice of kernel variants per
    // adapter identity (src/engine/tuning/tuner.ts TuneRecord), so a second start on the same GPU
    // measures nothing. Keyed by the identity key.
    version: 5,
    date: '2026-12-07',
    stores: {
      kernelTuning: 'key',
    },
    // Nothing to rewrite: the new table starts empty.
    upgrade: () => {},
  },
];

export const DEFAULT_DB_NAME = 'prefstudio';

export class PrefDb extends Dexie {
  datasets!: EntityTable<DatasetRow, 'id'>;
  records!: EntityTable<StoredRecord, 'id'>;
  labels!: EntityTable<LabelRow, 'id'>;
  runs!: EntityTable<RunRow, 'id'>;
  checkpoints!: EntityTable<CheckpointRow, 'id'>;
  refcache!: EntityTable<RefCacheRow, 'key'>;
  generations!: EntityTable<GenerationRow, 'id'>;
  loops!: EntityTable<LoopRow, 'id'>;
  kernelTuning!: EntityTable<TuneRecord, 'key'>;

  /** `upToVersion` opens an older schema (upgrade tests make a database as an older app did). */
  constructor(name = DEFAULT_DB_NAME, options?: ConstructorParameters<typeof Dexie>[1], upToVersion = Infinity) {
    super(name, options);
    for (const v of SCHEMA_VERSIONS) if (v.version <= upToVersion) this.version(v.version).stores(v.stores).upgrade(v.upgrade);
  }
}

export function emptyCounts(): DatasetCounts {
  return { total: 0, byKind: { pair: 0, unpaired: 0, ranking: 0, stepwise: 0, prompt: 0, candidates: 0 }, bySplit: { train: 0, test: 0 } };
}

export function addToCounts(c: DatasetCounts, r: Pick<PrefRecord, 'kind' | 'split'>, n = 1): void {
  c.total += n;
  c.byKind[r.kind] += n;
  c.bySplit[r.split] += n;
}
