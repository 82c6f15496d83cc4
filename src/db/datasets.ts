// Datasets and their records: create, list, query, edit, delete. Every record written is validated
// here with the zod schemas (the db boundary), whoever calls. Staged datasets (an import in
// progress) are invisible to all of these.
import { RECORD_KINDS, SPLITS, type PrefRecord, type RecordKind, type Split } from '../data/records.js';
import { assertRecord } from '../data/validate.js';
import { DatasetNotFoundError, isQuotaError, StorageFullError } from './errors.js';
import { stagingInProgress } from './staging-lock.js';
import { emptyCounts, PrefDb, type DatasetCounts, type DatasetRow, type StoredRecord } from './schema.js';

export async function openWorkspace(name?: string, options?: ConstructorParameters<typeof PrefDb>[1]): Promise<PrefDb> {
  const db = new PrefDb(name, options);
  await db.open();
  await discardStaged(db);
  return db;
}

/** Removes what interrupted imports left behind (a closed tab mid-import), leaving alone the
 *  staged datasets an import or restore elsewhere is still writing (staging-lock.ts). */
export async function discardStaged(db: PrefDb): Promise<number> {
  const staged = await db.datasets.where('status').equals('staging').primaryKeys();
  const running = await stagingInProgress();
  const stale = staged.filter((id) => !running?.has(id));
  for (const id of stale) await deleteStaged(db, id);
  return stale.length;
}

export async function deleteStaged(db: PrefDb, id: string): Promise<void> {
  await db.transaction('rw', db.datasets, db.records, db.labels, async () => {
    await db.records.where('datasetId').equals(id).delete();
    // Labels whose records were in it are gone with them (the queue would count them as done).
    // Labels *of* it stay: agreement between annotators is by task content.
    await db.labels.where('outputDatasetId').equals(id).delete();
    await db.datasets.delete(id);
  });
}

export function newId(): string {
  return globalThis.crypto.randomUUID();
}

export async function listDatasets(db: PrefDb): Promise<DatasetRow[]> {
  return db.datasets.where('status').equals('ready').sortBy('createdAt');
}

export async function getDataset(db: PrefDb, id: string): Promise<DatasetRow | undefined> {
  const d = await db.datasets.get(id);
  return d?.status === 'ready' ? d : undefined;
}

async function readyDataset(db: PrefDb, id: string): Promise<DatasetRow> {
  const d = await getDataset(db, id);
  if (!d) throw new DatasetNotFoundError(id);
  return d;
}

export async function createDataset(db: PrefDb, name: string, description?: string): Promise<DatasetRow> {
  const now = Date.now();
  const row: DatasetRow = { id: newId(), name, createdAt: now, updatedAt: now, status: 'ready', counts: emptyCounts(), ...(description ? { description } : {}) };
  await guardQuota(() => db.datasets.add(row));
  return row;
}

export async function renameDataset(db: PrefDb, id: string, name: string): Promise<void> {
  await readyDataset(db, id);
  await guardQuota(() => db.datasets.update(id, { name, updatedAt: Date.now() }));
}

export async function deleteDataset(db: PrefDb, id: string): Promise<void> {
  await readyDataset(db, id);
  await deleteStaged(db, id);
}

/** Adds records to a dataset after validating each; returns their ids. On a full disk nothing is
 *  written and the StorageFullError carries the records back. */
export async function addRecords(db: PrefDb, datasetId: string, records: unknown[]): Promise<number[]> {
  const valid = records.map((r) => assertRecord(r));
  try {
    return await db.transaction('rw', db.datasets, db.records, async () => {
      await readyDataset(db, datasetId);
      const ids = await db.records.bulkAdd(
        valid.map((r) => ({ ...r, datasetId })),
        { allKeys: true },
      );
      await recount(db, datasetId);
      return ids as number[];
    });
  } catch (e) {
    if (isQuotaError(e)) {
      throw new StorageFullError(`storage is full: ${valid.length} record(s) were not saved (they are kept in memory); free space or export them`, valid, e);
    }
    throw e;
  }
}

/** Replaces a record's content (validated); its dataset and id stay. */
export async function updateRecord(db: PrefDb, id: number, record: unknown): Promise<void> {
  const valid = assertRecord(record);
  try {
    await db.transaction('rw', db.datasets, db.records, async () => {
      const old = await db.records.get(id);
      if (!old) throw new Error(`no record with id ${id}`);
      await db.records.put({ ...valid, datasetId: old.datasetId, id });
      await recount(db, old.datasetId);
    });
  } catch (e) {
    if (isQuotaError(e)) throw new StorageFullError('storage is full: the edit was not saved (it is kept in memory)', [valid], e);
    throw e;
  }
}

export async function deleteRecords(db: PrefDb, ids: number[]): Promise<void> {
  await db.transaction('rw', db.datasets, db.records, async () => {
    const recs = await db.records.bulkGet(ids);
    await db.records.bulkDelete(ids);
    for (const d of new Set(recs.filter((r) => r).map((r) => r!.datasetId))) await recount(db, d);
  });
}

export interface RecordQuery {
  datasetId: string;
  kind?: RecordKind;
  split?: Split;
  tag?: string;
  offset?: number;
  limit?: number;
}

function selection(db: PrefDb, q: RecordQuery) {
  if (q.kind) {
    const c = db.records.where('[datasetId+kind]').equals([q.datasetId, q.kind]);
    return c.and((r) => (!q.split || r.split === q.split) && (!q.tag || r.tags.includes(q.tag)));
  }
  if (q.split) {
    const c = db.records.where('[datasetId+split]').equals([q.datasetId, q.split]);
    return q.tag ? c.and((r) => r.tags.includes(q.tag!)) : c;
  }
  if (q.tag) return db.records.where('tags').equals(q.tag).and((r) => r.datasetId === q.datasetId);
  return db.records.where('datasetId').equals(q.datasetId);
}

export async function queryRecords(db: PrefDb, q: RecordQuery): Promise<StoredRecord[]> {
  await readyDataset(db, q.datasetId);
  let c = selection(db, q);
  if (q.offset) c = c.offset(q.offset);
  if (q.limit !== undefined) c = c.limit(q.limit);
  return c.toArray();
}

export async function countRecords(db: PrefDb, q: RecordQuery): Promise<number> {
  await readyDataset(db, q.datasetId);
  return selection(db, q).count();
}

/** A dataset's records in id order, a page at a time (exports of any size: only the ids are held
 *  at once, the records a page at a time). */
export async function* iterateRecords(db: PrefDb, datasetId: string, pageSize = 1000): AsyncGenerator<StoredRecord[]> {
  await readyDataset(db, datasetId);
  const ids = (await db.records.where('datasetId').equals(datasetId).primaryKeys()) as number[];
  for (let at = 0; at < ids.length; at += pageSize) {
    const page = await db.records.bulkGet(ids.slice(at, at + pageSize));
    yield page.filter((r): r is StoredRecord => r !== undefined);
  }
}

/** Recomputes a dataset's counts from the indexes (inside the caller's transaction). */
export async function recount(db: PrefDb, datasetId: string): Promise<DatasetCounts> {
  const counts = emptyCounts();
  for (const kind of RECORD_KINDS) counts.byKind[kind] = await db.records.where('[datasetId+kind]').equals([datasetId, kind]).count();
  for (const split of SPLITS) counts.bySplit[split] = await db.records.where('[datasetId+split]').equals([datasetId, split]).count();
  counts.total = counts.bySplit.train + counts.bySplit.test;
  await db.datasets.update(datasetId, { counts, updatedAt: Date.now() });
  return counts;
}

/** Runs a write; a quota failure becomes a StorageFullError. */
export async function guardQuota<T>(write: () => Promise<T>, message = 'storage is full: the change was not saved'): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (isQuotaError(e)) throw new StorageFullError(message, [], e);
    throw e;
  }
}

export type { PrefRecord };
