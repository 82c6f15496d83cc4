// Backup of the whole workspace to one file (JSON lines, gzip) and restore from it. The file is a
// header line, one line per dataset, one per record, and an end line with the counts (a file cut
// short is refused). Version 2 adds the labels (after the records, which carry their old ids so
// the labels' references are remapped on restore). Restore stages everything and switches over in one transaction: a bad or
// truncated backup changes nothing.
import { Gzip } from 'fflate';
import { DataFormatError, throwIfAborted } from '../data/errors.js';
import type { ByteSource } from '../data/io/source.js';
import { openRows } from '../data/read/open.js';
import { isPlainObject } from '../data/read/rows.js';
import { assertRecord } from '../data/validate.js';
import { deleteStaged, newId, recount } from './datasets.js';
import { holdStagingLock, type StagingLock } from './staging-lock.js';
import { isQuotaError, StorageFullError } from './errors.js';
import { emptyCounts, type DatasetRow, type LabelRow, type PrefDb, type StoredRecord } from './schema.js';

export const BACKUP_FORMAT = 'prefstudio-backup';
export const BACKUP_VERSION = 2;

type Line =
  | { type: 'header'; format: string; version: number; schemaVersion: number; createdAt: number }
  | { type: 'dataset'; dataset: DatasetRow }
  | { type: 'record'; dataset: string; id?: number; record: Omit<StoredRecord, 'id' | 'datasetId'> }
  | { type: 'label'; label: Omit<LabelRow, 'id'> }
  | { type: 'end'; datasets: number; records: number; labels?: number };

export interface BackupOptions {
  signal?: AbortSignal;
  pageSize?: number;
  /** gzip level 0-9 (default 6). */
  level?: number;
}

/** The workspace as gzip-compressed JSON lines, produced a page of records at a time. */
export async function* backupWorkspace(db: PrefDb, options: BackupOptions = {}): AsyncGenerator<Uint8Array> {
  const { signal, pageSize = 1000 } = options;
  const out: Uint8Array[] = [];
  const gz = new Gzip({ level: (options.level ?? 6) as 6 }, (chunk) => out.push(chunk));
  const encoder = new TextEncoder();
  const write = (lines: Line[], final = false) => gz.push(encoder.encode(lines.map((l) => JSON.stringify(l) + '\n').join('')), final);

  write([{ type: 'header', format: BACKUP_FORMAT, version: BACKUP_VERSION, schemaVersion: db.verno, createdAt: Date.now() }]);
  const datasets = await db.datasets.where('status').equals('ready').toArray();
  write(datasets.map((dataset) => ({ type: 'dataset', dataset })));
  let records = 0;
  for (const d of datasets) {
    const ids = (await db.records.where('datasetId').equals(d.id).primaryKeys()) as number[];
    for (let at = 0; at < ids.length; at += pageSize) {
      throwIfAborted(signal);
      const page = await db.records.bulkGet(ids.slice(at, at + pageSize));
      const lines: Line[] = [];
      for (const r of page) {
        if (!r) continue;
        const { id, datasetId: _d, ...record } = r;
        lines.push({ type: 'record', dataset: d.id, id, record });
      }
      records += lines.length;
      write(lines);
      while (out.length) yield out.shift()!;
    }
  }
  let labels = 0;
  const labelIds = (await db.labels.toCollection().primaryKeys()) as number[];
  for (let at = 0; at < labelIds.length; at += pageSize) {
    throwIfAborted(signal);
    const page = await db.labels.bulkGet(labelIds.slice(at, at + pageSize));
    const lines: Line[] = page.filter((l) => l !== undefined).map(({ id: _id, ...label }) => ({ type: 'label', label }));
    labels += lines.length;
    write(lines);
    while (out.length) yield out.shift()!;
  }
  write([{ type: 'end', datasets: datasets.length, records, labels }], true);
  while (out.length) yield out.shift()!;
}

export interface RestoreOptions {
  /** 'merge' (default): add the backup's datasets beside the current ones. 'replace': the
   *  workspace becomes exactly the backup. */
  mode?: 'merge' | 'replace';
  signal?: AbortSignal;
  onProgress?: (p: { datasets: number; records: number }) => void;
}

export interface RestoreResult {
  datasets: number;
  records: number;
  labels: number;
}

export async function restoreWorkspace(db: PrefDb, source: ByteSource, options: RestoreOptions = {}): Promise<RestoreResult> {
  const { signal, mode = 'merge' } = options;
  const opened = await openRows(source, { signal, container: 'jsonl' });
  const staged = new Map<string, string>(); // backup dataset id -> staged id
  /** Held while the staged datasets are written, so another tab opening the workspace leaves them be. */
  const locks: StagingLock[] = [];
  let header = false;
  let end: Extract<Line, { type: 'end' }> | null = null;
  let records = 0;
  let pending: StoredRecord[] = [];
  let pendingOldIds: (number | undefined)[] = [];
  /** Record id in the backup -> id here (the labels' references). */
  const recordIdMap = new Map<number, number>();
  const labels: Omit<LabelRow, 'id'>[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const rows = pending;
    const oldIds = pendingOldIds;
    pending = [];
    pendingOldIds = [];
    const ids = (await guarded(() => db.records.bulkAdd(rows, { allKeys: true }))) as number[];
    oldIds.forEach((old, i) => old !== undefined && recordIdMap.set(old, ids[i]!));
  };
  try {
    for await (const batch of opened.rows) {
      throwIfAborted(signal);
      for (const raw of batch) {
        const at = { line: raw.ref.line };
        if (raw.error !== undefined) throw new DataFormatError(`bad backup line: ${raw.error}`, at);
        const line = raw.value as Line;
        if (!isPlainObject(line)) throw new DataFormatError('bad backup line: not an object', at);
        if (end) throw new DataFormatError('bad backup: lines after the end line', at);
        if (!header) {
          if (line.type !== 'header' || line.format !== BACKUP_FORMAT) throw new DataFormatError('not a PrefStudio backup (no header line)', at);
          if (line.version > BACKUP_VERSION) throw new DataFormatError(`backup version ${line.version} is newer than this app reads (${BACKUP_VERSION})`, at);
          header = true;
          continue;
        }
        if (line.type === 'dataset') {
          const id = newId();
          const d = line.dataset;
          if (!isPlainObject(d) || typeof d.id !== 'string' || typeof d.name !== 'string') throw new DataFormatError('bad dataset line', at);
          // A second line with the same id would orphan the first staged copy (never made ready, never cleaned up).
          if (staged.has(d.id)) throw new DataFormatError(`bad backup: dataset ${d.id} appears twice`, at);
          staged.set(d.id, id);
          locks.push(await holdStagingLock(id));
          await guarded(() => db.datasets.add({ ...d, id, status: 'staging', counts: emptyCounts() }));
        } else if (line.type === 'record') {
          const datasetId = staged.get(line.dataset);
          if (!datasetId) throw new DataFormatError(typeof line.dataset === 'string' ? `record of an unknown dataset ${line.dataset}` : 'record line without a "dataset" id', at);
          let record;
          try {
            record = assertRecord(line.record);
          } catch (e) {
            throw new DataFormatError(`bad record: ${(e as Error).message}`, at);
          }
          pending.push({ ...record, datasetId });
          pendingOldIds.push(typeof line.id === 'number' ? line.id : undefined);
          records++;
          if (pending.length >= 1000) await flush();
        } else if (line.type === 'label') {
          const l = line.label;
          if (!isPlainObject(l) || typeof l.taskKey !== 'string' || typeof l.annotator !== 'string' || !isPlainObject(l.decision)) {
            throw new DataFormatError('bad label line', at);
          }
          labels.push(l);
        } else if (line.type === 'end') {
          if (![line.datasets, line.records, line.labels ?? 0].every((x) => Number.isInteger(x))) {
            throw new DataFormatError('bad end line: datasets, records and labels must be counts', at);
          }
          end = line;
        } else {
          const type = (line as { type?: unknown }).type;
          // Only a string is quoted back: stringifying a hostile value can overflow the stack.
          throw new DataFormatError(type === undefined ? 'bad backup line: no "type"' : `unknown backup line type ${typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : `(a ${Array.isArray(type) ? 'list' : typeof type})`}`, at);
        }
      }
      options.onProgress?.({ datasets: staged.size, records });
    }
    await flush();
    if (!header) throw new DataFormatError('empty backup');
    if (!end) throw new DataFormatError('the backup is truncated: no end line');
    if (end.datasets !== staged.size || end.records !== records || (end.labels ?? 0) !== labels.length) {
      throw new DataFormatError(
        `the backup is inconsistent: its end line counts ${end.datasets} datasets, ${end.records} records and ${end.labels ?? 0} labels, the file has ${staged.size}, ${records} and ${labels.length}`,
      );
    }
    const remapped = labels.map((l) => {
      const out: Omit<LabelRow, 'id'> = { ...l, sourceDatasetId: staged.get(l.sourceDatasetId) ?? l.sourceDatasetId };
      out.sourceRecordId = recordIdMap.get(l.sourceRecordId) ?? l.sourceRecordId;
      if (l.recordId !== undefined) {
        const id = recordIdMap.get(l.recordId);
        if (id === undefined) delete out.recordId;
        else out.recordId = id;
      }
      if (l.outputDatasetId !== undefined) out.outputDatasetId = staged.get(l.outputDatasetId) ?? l.outputDatasetId;
      return out;
    });
    throwIfAborted(signal);
    await guarded(() =>
      db.transaction('rw', db.datasets, db.records, db.labels, async () => {
        if (mode === 'replace') {
          const old = await db.datasets.where('status').equals('ready').primaryKeys();
          await db.records.where('datasetId').anyOf(old).delete();
          await db.datasets.bulkDelete(old);
          await db.labels.clear();
        }
        await db.labels.bulkAdd(remapped);
        for (const id of staged.values()) {
          const labelsOf = (await db.datasets.get(id))?.labelsOf;
          // A labels dataset follows its source to the source's new id.
          await db.datasets.update(id, { status: 'ready', ...(labelsOf !== undefined ? { labelsOf: staged.get(labelsOf) ?? labelsOf } : {}) });
          await recount(db, id);
        }
      }),
    );
    return { datasets: staged.size, records, labels: labels.length };
  } catch (e) {
    for (const id of staged.values()) await deleteStaged(db, id);
    throw e;
  } finally {
    for (const lock of locks) lock.release();
  }
}

async function guarded<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (isQuotaError(e)) throw new StorageFullError('storage is full: the restore was rolled back and nothing already stored changed', [], e);
    throw e;
  }
}
