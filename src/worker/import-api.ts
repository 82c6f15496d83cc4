// What the import Worker does, as plain async functions over a workspace: detect a file's format,
// import it (progress, cancel, and the person's choice when rows are bad), export a dataset to a
// Blob, back up and restore the workspace. import.worker.ts exposes it through comlink; tests call
// it directly. Files arrive as Blobs (a File crosses to a Worker by structured clone).
import { ImportAbortedError, type RowError } from '../data/errors.js';
import { TrlExporter, type ExportOptions } from '../data/export/trl.js';
import { encodeChunks, jsonlChunks, parquetBytes } from '../data/export/write.js';
import { detectFormat, type Detection } from '../data/import/detect.js';
import type { ImportMapping } from '../data/import/mapping.js';
import { blobSource } from '../data/io/source.js';
import type { Container } from '../data/read/rows.js';
import type { RecordDefaults } from '../data/records.js';
import { backupWorkspace, getDataset, importFile, iterateRecords, restoreWorkspace, type ImportProgress, type PrefDb, type RestoreResult } from '../db/index.js';

export const EXPORT_TARGETS = {
  trl: { label: 'TRL JSONL (standard)', options: { shape: 'trl', style: 'standard' }, ext: 'jsonl' },
  'trl-conversational': { label: 'TRL JSONL (conversational)', options: { shape: 'trl', style: 'conversational' }, ext: 'jsonl' },
  kto: { label: 'TRL unpaired (KTO) JSONL', options: { shape: 'unpaired' }, ext: 'jsonl' },
  parquet: { label: 'Parquet (TRL columns)', options: { shape: 'trl' }, ext: 'parquet' },
  records: { label: 'PrefStudio records (lossless JSONL)', options: { shape: 'records' }, ext: 'jsonl' },
} as const satisfies Record<string, { label: string; options: ExportOptions; ext: string }>;
export type ExportTarget = keyof typeof EXPORT_TARGETS;

export interface ImportRequest {
  name: string;
  appendTo?: string;
  defaults?: RecordDefaults;
  container?: Container;
  delimiter?: string;
}

export interface PartialSummary {
  written: number;
  rejected: number;
  errors: RowError[];
  fatal?: string;
}

export interface ImportSummary {
  datasetId: string;
  datasetName: string;
  written: number;
  rejected: number;
  errors: RowError[];
  fatal?: string;
}

export interface ExportResult {
  blob: Blob;
  fileName: string;
  rows: number;
  records: number;
  skippedCount: number;
  /** The first skipped records' reasons, grouped. */
  skipped: { reason: string; count: number }[];
}

export interface DataApi {
  detect(file: Blob, name: string, options?: { container?: Container; delimiter?: string }): Promise<Detection>;
  importFile(
    jobId: string,
    file: Blob,
    fileName: string,
    mapping: ImportMapping,
    request: ImportRequest,
    onProgress: (p: ImportProgress) => void,
    confirmPartial: (summary: PartialSummary) => Promise<boolean>,
  ): Promise<ImportSummary>;
  /** Stops a running job (import, export, backup, restore); it rejects with an AbortError. */
  cancel(jobId: string): void;
  exportDataset(jobId: string, datasetId: string, target: ExportTarget): Promise<ExportResult>;
  backup(jobId: string): Promise<Blob>;
  restore(jobId: string, file: Blob, fileName: string, mode: 'merge' | 'replace'): Promise<RestoreResult>;
}

export function createDataApi(workspace: () => Promise<PrefDb>): DataApi {
  const jobs = new Map<string, AbortController>();
  async function job<T>(jobId: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    jobs.set(jobId, controller);
    try {
      return await run(controller.signal);
    } finally {
      jobs.delete(jobId);
    }
  }

  return {
    async detect(file, name, options = {}) {
      return detectFormat(blobSource(file, name), options);
    },

    async importFile(jobId, file, fileName, mapping, request, onProgress, confirmPartial) {
      const db = await workspace();
      return job(jobId, async (signal) => {
        let last = 0;
        const result = await importFile(db, blobSource(file, fileName), mapping, {
          ...request,
          signal,
          // A few progress messages a second are plenty across the Worker boundary.
          onProgress: (p) => {
            const now = Date.now();
            if (now - last < 100) return;
            last = now;
            onProgress(p);
          },
          confirmPartial,
        });
        return {
          datasetId: result.dataset.id,
          datasetName: result.dataset.name,
          written: result.written,
          rejected: result.rejected,
          errors: result.errors,
          ...(result.fatal ? { fatal: result.fatal } : {}),
        };
      });
    },

    cancel(jobId) {
      jobs.get(jobId)?.abort();
    },

    async exportDataset(jobId, datasetId, target) {
      const db = await workspace();
      const spec = EXPORT_TARGETS[target];
      const dataset = await getDataset(db, datasetId);
      if (!dataset) throw new Error(`no dataset with id ${datasetId}`);
      return job(jobId, async (signal) => {
        const exporter = new TrlExporter(spec.options);
        const pages = checked(iterateRecords(db, datasetId), signal);
        let blob: Blob;
        if (spec.ext === 'parquet') {
          blob = new Blob([(await parquetBytes(pages, exporter)) as Uint8Array<ArrayBuffer>], { type: 'application/vnd.apache.parquet' });
        } else {
          const parts: Uint8Array<ArrayBuffer>[] = [];
          for await (const c of encodeChunks(jsonlChunks(pages, exporter))) parts.push(c as Uint8Array<ArrayBuffer>);
          blob = new Blob(parts, { type: 'application/x-ndjson' });
        }
        const reasons = new Map<string, number>();
        for (const s of exporter.skipped) reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
        return {
          blob,
          fileName: `${safeFileName(dataset.name)}.${target}.${spec.ext}`,
          rows: exporter.rows,
          records: exporter.records,
          skippedCount: exporter.skippedCount,
          skipped: [...reasons].map(([reason, count]) => ({ reason, count })),
        };
      });
    },

    async backup(jobId) {
      const db = await workspace();
      return job(jobId, async (signal) => {
        const parts: Uint8Array<ArrayBuffer>[] = [];
        for await (const c of backupWorkspace(db, { signal })) parts.push(c as Uint8Array<ArrayBuffer>);
        return new Blob(parts, { type: 'application/gzip' });
      });
    },

    async restore(jobId, file, fileName, mode) {
      const db = await workspace();
      return job(jobId, (signal) => restoreWorkspace(db, blobSource(file, fileName), { mode, signal }));
    },
  };
}

async function* checked<T>(pages: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  for await (const p of pages) {
    if (signal.aborted) throw new ImportAbortedError('export cancelled');
    yield p;
  }
}

/** A dataset name as a file name: letters, digits, dot, dash, underscore. */
export function safeFileName(name: string): string {
  return name.replace(/[^\p{L}\p{N}._-]+/gu, '_').replace(/^_+|_+$/g, '').slice(0, 80) || 'dataset';
}
