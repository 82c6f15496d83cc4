// The workspace database (IndexedDB through Dexie). This folder is the only code that imports
// Dexie. The schema lives in numbered versions, each with its upgrade() and the date it was added;
// a new version never edits an old one (browsers upgrade from whatever version they have).
import Dexie, { type EntityTable, type Transaction } from 'dexie';
import type { PrefRecord, RecordKind, Split } from '../data/records.js';

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
}

export type StoredRecord = PrefRecord & { id?: number; datasetId: string };

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
];

export const DEFAULT_DB_NAME = 'prefstudio';

export class PrefDb extends Dexie {
  datasets!: EntityTable<DatasetRow, 'id'>;
  records!: EntityTable<StoredRecord, 'id'>;

  constructor(name = DEFAULT_DB_NAME, options?: ConstructorParameters<typeof Dexie>[1]) {
    super(name, options);
    for (const v of SCHEMA_VERSIONS) this.version(v.version).stores(v.stores).upgrade(v.upgrade);
  }
}

export function emptyCounts(): DatasetCounts {
  return { total: 0, byKind: { pair: 0, unpaired: 0, ranking: 0, stepwise: 0 }, bySplit: { train: 0, test: 0 } };
}

export function addToCounts(c: DatasetCounts, r: Pick<PrefRecord, 'kind' | 'split'>, n = 1): void {
  c.total += n;
  c.byKind[r.kind] += n;
  c.bySplit[r.split] += n;
}
