// What the dataset browser needs beyond single-record edits: one pass over a dataset (search,
// filters, statistics), ids straight from the indexes (first rows before any scan) and writing many records back with their ids (split changes, undo of a
// delete or of a deduplication). Writes are validated and counted in one transaction.
import { assertRecord } from '../data/validate.js';
import { getDataset, recount } from './datasets.js';
import { DatasetNotFoundError, isQuotaError, StorageFullError } from './errors.js';
import type { RecordKind, Split } from '../data/records.js';
import type { PrefDb, StoredRecord } from './schema.js';

export interface ScanOptions {
  pageSize?: number;
  /** Checked between pages: an aborted scan rejects with the signal's reason. */
  signal?: AbortSignal;
  /** After each page: records visited so far and the dataset's total. */
  onPage?: (done: number, total: number) => void;
}

/** Calls `visit` on every record of a dataset in id order, a page at a time. A page is one
 *  getAll over a primary-key range (the fastest read IndexedDB has; a cursor is several times
 *  slower); records of other datasets inside the range are dropped. */
export async function scanDataset(db: PrefDb, datasetId: string, visit: (r: StoredRecord & { id: number }) => void, options: ScanOptions = {}): Promise<void> {
  if (!(await getDataset(db, datasetId))) throw new DatasetNotFoundError(datasetId);
  const ids = (await db.records.where('datasetId').equals(datasetId).primaryKeys()) as number[];
  await scanRecords(db, datasetId, ids, visit, options);
}

/** scanDataset over some of a dataset's records: `ids` ascending. Pages are key ranges, so a
 *  page reads whatever lies between its first and last id; what is not asked for is dropped. */
export async function scanRecords(
  db: PrefDb,
  datasetId: string,
  ids: ArrayLike<number>,
  visit: (r: StoredRecord & { id: number }) => void,
  options: ScanOptions = {},
): Promise<void> {
  const { pageSize = 2000, signal, onPage } = options;
  for (let at = 0; at < ids.length; at += pageSize) {
    signal?.throwIfAborted();
    const end = Math.min(at + pageSize, ids.length);
    const lo = ids[at]!;
    const hi = ids[end - 1]!;
    const page = await db.records.where(':id').between(lo, hi, true, true).toArray();
    // Every id when the page is dense (a whole dataset); else only those asked for.
    const wanted = hi - lo + 1 === end - at ? null : new Set(Array.prototype.slice.call(ids, at, end) as number[]);
    for (const r of page) if (r.datasetId === datasetId && (!wanted || wanted.has(r.id!))) visit(r as StoredRecord & { id: number });
    onPage?.(end, ids.length);
  }
  signal?.throwIfAborted();
}

/** The ids (ascending) of a dataset's records of a kind, split and tag, from the indexes alone:
 *  no record is read, so a table can show its first rows before any scan. */
export async function indexedIds(db: PrefDb, datasetId: string, q: { kind?: RecordKind; split?: Split; tag?: string } = {}): Promise<number[]> {
  if (!(await getDataset(db, datasetId))) throw new DatasetNotFoundError(datasetId);
  const keys = async (c: { primaryKeys(): Promise<unknown[]> }) => (await c.primaryKeys()) as number[];
  let ids = q.kind
    ? await keys(db.records.where('[datasetId+kind]').equals([datasetId, q.kind]))
    : await keys(db.records.where('datasetId').equals(datasetId));
  if (q.split) {
    const inSplit = new Set(await keys(db.records.where('[datasetId+split]').equals([datasetId, q.split])));
    ids = ids.filter((id) => inSplit.has(id));
  }
  if (q.tag) {
    const tagged = new Set(await keys(db.records.where('tags').equals(q.tag)));
    ids = ids.filter((id) => tagged.has(id));
  }
  return ids.sort((a, b) => a - b);
}

/** Writes records with their ids and datasets (new or replaced), validating each. */
export async function putRecords(db: PrefDb, records: (StoredRecord & { id: number })[]): Promise<void> {
  const rows = records.map((r) => {
    const { id, datasetId, ...rest } = r;
    return { ...assertRecord(rest), id, datasetId };
  });
  try {
    await db.transaction('rw', db.datasets, db.records, async () => {
      const datasets = [...new Set(rows.map((r) => r.datasetId))];
      for (const d of datasets) if (!(await getDataset(db, d))) throw new DatasetNotFoundError(d);
      await db.records.bulkPut(rows);
      for (const d of datasets) await recount(db, d);
    });
  } catch (e) {
    if (isQuotaError(e)) throw new StorageFullError(`storage is full: ${rows.length} record(s) were not saved (they are kept in memory)`, rows, e);
    throw e;
  }
}
