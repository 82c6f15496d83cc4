// Schema v2 (labels) on fake-indexeddb: a v1 workspace upgrades with its data intact; a label and
// its record are saved and undone together; deleting a labels dataset drops its labels; backups
// carry labels with their references remapped; a partial import waits for the person's choice;
// bulk writes for the dataset browser.
import 'fake-indexeddb/auto';
import Dexie from 'dexie';
import { afterEach, describe, expect, it } from 'vitest';
import { detectFormat } from '../../src/data/import/detect.js';
import { bytesSource, textSource } from '../../src/data/io/source.js';
import type { PairRecord } from '../../src/data/records.js';
import {
  addRecords,
  backupWorkspace,
  createDataset,
  deleteDataset,
  findLabelDataset,
  getDataset,
  importFile,
  ImportRejectedError,
  labelsOf,
  labelsOfSharedTasks,
  listDatasets,
  openWorkspace,
  putRecords,
  recordIds,
  restoreWorkspace,
  saveLabel,
  scanDataset,
  SCHEMA_VERSIONS,
  undoLabel,
  type NewLabel,
  type PrefDb,
  type StoredRecord,
} from '../../src/db/index.js';

const open: PrefDb[] = [];
let n = 0;
const dbName = () => `labels-${process.pid}-${n++}`;
async function freshDb(name = dbName()): Promise<PrefDb> {
  const db = await openWorkspace(name);
  open.push(db);
  return db;
}
afterEach(async () => {
  for (const db of open.splice(0)) {
    db.close();
    await db.delete();
  }
});

function pair(i: number, extra: Partial<PairRecord> = {}): PairRecord {
  return {
    kind: 'pair',
    prompt: `prompt ${i}`,
    chosen: `good ${i}`,
    rejected: `bad ${i}`,
    source: { type: 'manual' },
    createdAt: 1_700_000_000_000 + i,
    split: 'train',
    tags: [],
    ...extra,
  };
}

function label(sourceDatasetId: string, sourceRecordId: number, annotator: string, extra: Partial<NewLabel> = {}): NewLabel {
  return { taskKey: `task-${sourceRecordId}`, sourceDatasetId, sourceRecordId, annotator, createdAt: Date.now(), decision: { type: 'prefer', winner: 0 }, shown: [1, 0], ...extra };
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of gen) parts.push(p);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('schema v2', () => {
  it('adds the labels table and keeps v1 data as it was', async () => {
    const name = dbName();
    // A workspace written by the v1 app: only the v1 stores.
    const v1 = new Dexie(name);
    v1.version(1).stores(SCHEMA_VERSIONS[0]!.stores);
    await v1.open();
    const dataset = { id: 'd1', name: 'old', createdAt: 1, updatedAt: 1, status: 'ready', counts: { total: 2, byKind: { pair: 2, unpaired: 0, ranking: 0, stepwise: 0 }, bySplit: { train: 2, test: 0 } } };
    await v1.table('datasets').add(dataset);
    await v1.table('records').bulkAdd([pair(1), pair(2)].map((r) => ({ ...r, datasetId: 'd1' })));
    const before = await v1.table('records').toArray();
    v1.close();

    const db = await freshDb(name);
    expect(db.verno).toBe(SCHEMA_VERSIONS.at(-1)!.version);
    // v4 counts the prompt and candidate kinds: zero for an older dataset, the rest as it was.
    const upgraded = { ...dataset, counts: { ...dataset.counts, byKind: { ...dataset.counts.byKind, prompt: 0, candidates: 0 } } };
    expect(await db.datasets.toArray()).toEqual([upgraded]);
    expect(await db.records.toArray()).toEqual(before);
    // The new table works on the upgraded workspace.
    const ids = await recordIds(db, 'd1');
    await saveLabel(db, label('d1', ids[0]!, 'ann'), pair(1, { annotator: 'ann' }));
    expect(await labelsOf(db, 'd1', 'ann')).toHaveLength(1);
    expect((await getDataset(db, 'd1'))!.counts.total).toBe(2);
  });
});

describe('labels', () => {
  it('a label and its record are saved together into a labels dataset, and undone together', async () => {
    const db = await freshDb();
    const src = await createDataset(db, 'source');
    const ids = await addRecords(db, src.id, [pair(1), pair(2)]);
    const first = await saveLabel(db, label(src.id, ids[0]!, 'ann'), pair(1, { annotator: 'ann' }));
    const out = await findLabelDataset(db, src.id);
    expect(out!.name).toBe('source · labels');
    expect(first.outputDatasetId).toBe(out!.id);
    expect((await getDataset(db, out!.id))!.counts.total).toBe(1);
    const skip = await saveLabel(db, label(src.id, ids[1]!, 'ann', { decision: { type: 'skip' } }), null);
    expect(skip.recordId).toBeUndefined();
    // The second label reuses the labels dataset.
    await saveLabel(db, label(src.id, ids[1]!, 'ann'), pair(2, { annotator: 'ann' }));
    expect((await listDatasets(db)).length).toBe(2);
    expect((await getDataset(db, out!.id))!.counts.total).toBe(2);
    expect((await labelsOf(db, src.id, 'ann')).map((l) => l.decision.type)).toEqual(['prefer', 'skip', 'prefer']);

    const undone = await undoLabel(db, first.labelId);
    expect(undone!.sourceRecordId).toBe(ids[0]);
    expect(await db.records.get(first.recordId!)).toBeUndefined();
    expect((await getDataset(db, out!.id))!.counts.total).toBe(1);
    expect(await undoLabel(db, first.labelId)).toBeUndefined();
    // The source is untouched throughout.
    expect((await getDataset(db, src.id))!.counts.total).toBe(2);
  });

  it('an invalid record saves no label; deleting the labels dataset drops its labels', async () => {
    const db = await freshDb();
    const src = await createDataset(db, 'source');
    const [id] = await addRecords(db, src.id, [pair(1)]);
    await expect(saveLabel(db, label(src.id, id!, 'ann'), { ...pair(1), chosen: '' })).rejects.toThrow(/chosen: is empty/);
    expect(await db.labels.count()).toBe(0);
    expect(await findLabelDataset(db, src.id)).toBeUndefined();
    await saveLabel(db, label(src.id, id!, 'ann'), pair(1));
    await deleteDataset(db, (await findLabelDataset(db, src.id))!.id);
    expect(await db.labels.count()).toBe(0);
  });

  it('finds the tasks labelled more than once', async () => {
    const db = await freshDb();
    const src = await createDataset(db, 'source');
    const ids = await addRecords(db, src.id, [pair(1), pair(2)]);
    await saveLabel(db, label(src.id, ids[0]!, 'a'), pair(1));
    await saveLabel(db, label(src.id, ids[0]!, 'b'), pair(1));
    await saveLabel(db, label(src.id, ids[1]!, 'a'), pair(2));
    const shared = await labelsOfSharedTasks(db);
    expect(shared.map((l) => l.annotator).sort()).toEqual(['a', 'b']);
    expect(new Set(shared.map((l) => l.taskKey))).toEqual(new Set([`task-${ids[0]}`]));
  });

  it('a backup carries the labels; restore remaps their datasets and records', async () => {
    const db = await freshDb();
    const src = await createDataset(db, 'source');
    const ids = await addRecords(db, src.id, [pair(1), pair(2), pair(3)]);
    await saveLabel(db, label(src.id, ids[2]!, 'ann', { rationale: 'clearer' }), pair(3, { annotator: 'ann', rationale: 'clearer' }));
    await saveLabel(db, label(src.id, ids[0]!, 'ann', { decision: { type: 'skip' } }), null);
    const bytes = await collect(backupWorkspace(db));

    const other = await freshDb();
    await addRecords(other, (await createDataset(other, 'padding')).id, [pair(9), pair(8)]); // shifts record ids
    const r = await restoreWorkspace(other, bytesSource('b.jsonl.gz', bytes), { mode: 'merge' });
    expect(r).toEqual({ datasets: 2, records: 4, labels: 2 });
    const restoredSrc = (await listDatasets(other)).find((d) => d.name === 'source')!;
    const restoredOut = (await findLabelDataset(other, restoredSrc.id))!;
    const labels = await labelsOf(other, restoredSrc.id, 'ann');
    expect(labels.map((l) => l.decision.type)).toEqual(['prefer', 'skip']);
    const srcRecord = await other.records.get(labels[0]!.sourceRecordId);
    expect(srcRecord).toMatchObject({ datasetId: restoredSrc.id, prompt: 'prompt 3' });
    const outRecord = await other.records.get(labels[0]!.recordId!);
    expect(outRecord).toMatchObject({ datasetId: restoredOut.id, rationale: 'clearer' });
    expect(labels[0]!.outputDatasetId).toBe(restoredOut.id);

    // Replace: exactly the backup's labels.
    await restoreWorkspace(other, bytesSource('b.jsonl.gz', bytes), { mode: 'replace' });
    expect(await other.labels.count()).toBe(2);
  });
});

describe('an import with bad rows waits for the choice', () => {
  const text = ['{"prompt":"a","chosen":"x","rejected":"y"}', '{"prompt":"b","chosen":5,"rejected":"y"}', '{"prompt":"c","chosen":"x","rejected":"y"}'].join('\n');

  it('import nothing: the database stays as it was; import the valid rows: they are stored', async () => {
    const db = await freshDb();
    const source = textSource('mixed.jsonl', text);
    const mapping = (await detectFormat(source)).mapping!;
    const seen: { written: number; rejected: number; errors: unknown[] }[] = [];
    await expect(
      importFile(db, source, mapping, {
        name: 'mixed',
        confirmPartial: async (s) => {
          seen.push(s);
          // While the person decides, nothing is visible.
          expect(await listDatasets(db)).toEqual([]);
          return false;
        },
      }),
    ).rejects.toThrow(ImportRejectedError);
    expect(seen[0]).toMatchObject({ written: 2, rejected: 1, errors: [{ line: 2, field: 'chosen' }] });
    expect(await db.datasets.count()).toBe(0);
    expect(await db.records.count()).toBe(0);

    const kept = await importFile(db, source, mapping, { name: 'mixed', confirmPartial: async () => true });
    expect(kept.written).toBe(2);
    expect((await listDatasets(db))[0]!.counts.total).toBe(2);
  });

  it('a clean file is not asked about', async () => {
    const db = await freshDb();
    const source = textSource('clean.jsonl', '{"prompt":"a","chosen":"x","rejected":"y"}\n');
    let asked = false;
    await importFile(db, source, (await detectFormat(source)).mapping!, { name: 'clean', confirmPartial: async () => (asked = true) });
    expect(asked).toBe(false);
  });
});

describe('bulk writes for the browser', () => {
  it('scans in id order, writes records back with their ids and recounts', async () => {
    const db = await freshDb();
    const d = await createDataset(db, 'd');
    await addRecords(db, d.id, [pair(1), pair(2), pair(3)]);
    const all: (StoredRecord & { id: number })[] = [];
    await scanDataset(db, d.id, (r) => all.push(r));
    expect(all.map((r) => r.prompt)).toEqual(['prompt 1', 'prompt 2', 'prompt 3']);
    await putRecords(db, all.map((r) => ({ ...r, split: 'test' as const })));
    expect((await getDataset(db, d.id))!.counts.bySplit).toEqual({ train: 0, test: 3 });
    // Deleted then put back under the same ids (undo of a delete).
    await db.records.bulkDelete(all.map((r) => r.id));
    await putRecords(db, all);
    expect((await db.records.toArray()).map((r) => r.id)).toEqual(all.map((r) => r.id));
    await expect(putRecords(db, [{ ...all[0]!, kind: 'pear' } as never])).rejects.toThrow(/kind/);
  });
});
