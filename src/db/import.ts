// Staged imports. Records are written batch by batch under a dataset whose status is 'staging'
// (invisible to every query); only when the whole file is in does one small transaction make it
// 'ready' (or move the records into the dataset being appended to). Cancel, a broken file or a
// full disk deletes what was staged: an interrupted import leaves no half-written dataset and
// nothing that was already stored changes.
import { countBadRows, DataFormatError, describeRowError, ImportAbortedError, throwIfAborted, type RowError } from '../data/errors.js';
import { importRecords, type ImportBatch, type ImportOptions } from '../data/import/pipeline.js';
import type { ReadProgress } from '../data/read/open.js';
import type { ImportMapping } from '../data/import/mapping.js';
import type { ByteSource } from '../data/io/source.js';
import { assertRecord } from '../data/validate.js';
import { deleteStaged, getDataset, newId, recount } from './datasets.js';
import { holdStagingLock } from './staging-lock.js';
import { DatasetNotFoundError, ImportRejectedError, isQuotaError, StorageFullError } from './errors.js';
import { addToCounts, emptyCounts, type DatasetRow, type DatasetSource, type PrefDb } from './schema.js';

type SourceInfo = Omit<DatasetSource, 'rowsRejected' | 'importedAt'>;

export interface StagedImportOptions {
  /** Name of the new dataset (ignored when appending). */
  name: string;
  description?: string;
  /** Append to this dataset instead of creating one. */
  appendTo?: string;
  /** Where the records come from (a function is read when the import completes). */
  source?: SourceInfo | (() => SourceInfo);
  /** 'skip' (default): keep the valid rows, report the rest. 'abort': any bad row, or a file that
   *  breaks off, stores nothing. */
  onErrors?: 'skip' | 'abort';
  signal?: AbortSignal;
  onProgress?: (p: { written: number; rejected: number }) => void;
  /** How many row errors the result lists (all are counted). */
  maxErrors?: number;
  /** With 'skip': asked, once the whole file is staged and before anything becomes visible, when
   *  some rows were bad or the file broke off. true keeps the valid rows; false stores nothing
   *  (ImportRejectedError). The person chooses with the bad rows in front of them. */
  confirmPartial?: (summary: { written: number; rejected: number; errors: RowError[]; fatal?: string }) => Promise<boolean>;
}

export interface StagedImportResult {
  dataset: DatasetRow;
  written: number;
  rejected: number;
  errors: RowError[];
  /** The file broke off (truncated JSON, gzip): the rows before the break were kept. */
  fatal?: string;
}

export async function importDataset(db: PrefDb, batches: AsyncIterable<ImportBatch>, options: StagedImportOptions): Promise<StagedImportResult> {
  const { signal, onErrors = 'skip', maxErrors = 1000 } = options;
  throwIfAborted(signal);
  if (options.appendTo && !(await getDataset(db, options.appendTo))) throw new DatasetNotFoundError(options.appendTo);
  const now = Date.now();
  const stagingId = newId();
  const counts = emptyCounts();
  const errors: RowError[] = [];
  let rejected = 0;
  let fatal: string | undefined;
  const lock = await holdStagingLock(stagingId);
  try {
    return await stageAndCommit();
  } finally {
    lock.release();
  }

  async function stageAndCommit(): Promise<StagedImportResult> {
    await guarded(() =>
      db.datasets.add({
        id: stagingId,
        name: options.name,
        createdAt: now,
        updatedAt: now,
        status: 'staging',
        counts: emptyCounts(),
        ...(options.description ? { description: options.description } : {}),
      }),
    );
    try {
      try {
        for await (const batch of batches) {
          throwIfAborted(signal);
          rejected += countBadRows(batch.errors);
          for (const e of batch.errors) if (errors.length < maxErrors) errors.push(e);
          if (onErrors === 'abort' && batch.errors.length > 0) {
            throw new ImportRejectedError(`row errors (first: ${describeRowError(batch.errors[0]!)}): nothing was imported`);
          }
          if (batch.records.length > 0) {
            // The db boundary validates again: batches may come from anywhere, not just the pipeline.
            const rows = batch.records.map((r) => ({ ...assertRecord(r), datasetId: stagingId }));
            await guarded(() => db.records.bulkAdd(rows));
            for (const r of rows) addToCounts(counts, r);
          }
          options.onProgress?.({ written: counts.total, rejected });
        }
      } catch (e) {
        if (!(e instanceof DataFormatError)) throw e;
        if (onErrors === 'abort') throw new ImportRejectedError(`${e.message}: nothing was imported`);
        fatal = e.message;
      }
      throwIfAborted(signal);
      if (options.confirmPartial && (rejected > 0 || fatal)) {
        const keep = await options.confirmPartial({ written: counts.total, rejected, errors, ...(fatal ? { fatal } : {}) });
        throwIfAborted(signal);
        if (!keep) throw new ImportRejectedError(`nothing was imported: ${rejected} bad row(s)${fatal ? ` and ${fatal}` : ''}`);
      }
      const info = typeof options.source === 'function' ? options.source() : options.source;
      const source: DatasetSource | undefined = info && { ...info, rowsRejected: rejected, importedAt: now };
      const dataset = await guarded(() =>
        db.transaction('rw', db.datasets, db.records, async () => {
          if (options.appendTo) {
            const target = await getDataset(db, options.appendTo);
            if (!target) throw new DatasetNotFoundError(options.appendTo);
            await db.records.where('datasetId').equals(stagingId).modify({ datasetId: options.appendTo });
            await db.datasets.delete(stagingId);
            await recount(db, options.appendTo);
            return (await db.datasets.get(options.appendTo))!;
          }
          const ready: Partial<DatasetRow> = { status: 'ready', counts, updatedAt: Date.now(), ...(source ? { source } : {}) };
          await db.datasets.update(stagingId, ready);
          return (await db.datasets.get(stagingId))!;
        }),
      );
      return { dataset, written: counts.total, rejected, errors, ...(fatal ? { fatal } : {}) };
    } catch (e) {
      await deleteStaged(db, stagingId);
      if (e instanceof StorageFullError) {
        throw new StorageFullError(
          `storage is full after ${counts.total} imported records: the import was rolled back and nothing already stored changed. ` +
            'Free space (delete datasets) or allow persistent storage, then import again.',
          [],
          e.cause,
        );
      }
      if (e instanceof ImportAbortedError) throw e;
      throw e;
    }
  }
}

export interface ImportProgress {
  /** Bytes of the file read (compressed bytes for gzip). */
  bytesRead: number;
  totalBytes?: number;
  rowsRead: number;
  written: number;
  rejected: number;
}

export interface ImportFileOptions extends Omit<StagedImportOptions, 'onProgress'>, Omit<ImportOptions, 'signal' | 'onProgress'> {
  onProgress?: (p: ImportProgress) => void;
}

/** Reads, converts and stores a file in one go (the UI's import button, after the mapping). */
export async function importFile(db: PrefDb, source: ByteSource, mapping: ImportMapping, options: ImportFileOptions): Promise<StagedImportResult> {
  let read: ReadProgress = { bytesRead: 0, totalBytes: source.size, rows: 0 };
  let opened = { container: '', compressed: false };
  const batches = importRecords(source, mapping, {
    onOpen: (o) => (opened = { container: o.container, compressed: o.compressed !== null }),
    signal: options.signal,
    defaults: options.defaults,
    container: options.container,
    delimiter: options.delimiter,
    onProgress: (p) => (read = p),
  });
  return importDataset(db, batches, {
    ...options,
    onProgress: (p) => options.onProgress?.({ bytesRead: read.bytesRead, totalBytes: read.totalBytes, rowsRead: read.rows, ...p }),
    source:
      options.source ??
      (() => ({ file: source.name, format: mapping.format, ...opened, ...(source.size !== undefined ? { bytes: source.size } : {}) })),
  });
}

async function guarded<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (isQuotaError(e)) throw new StorageFullError('storage is full', [], e);
    throw e;
  }
}
