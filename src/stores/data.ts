// The Data page: the dataset list, storage usage, and the import flow as one state machine:
// idle -> detecting -> preview (mapping adjustable column by column) -> importing (progress,
// cancel) -> [partial: the person chooses valid rows or nothing] -> done | error.
// Exports, backup and restore run in the import Worker too.
import { create } from 'zustand';
import type { RowError } from '../data/errors.js';
import type { Detection } from '../data/import/detect.js';
import type { FormatId, ImportMapping, OptionValue } from '../data/import/mapping.js';
import type { Converted } from '../data/import/pipeline.js';
import type { RecordKind, Split } from '../data/records.js';
import type { DatasetRow, ImportProgress } from '../db/index.js';
import {
  dataBackend,
  deleteDataset,
  listDatasets,
  mappingFor,
  newJobId,
  previewRows,
  renameDataset,
  saveBlob,
  seedDemoDataset,
  notifyDatasetsChanged,
  storageInfo,
  type ExportTarget,
  type ImportSummary,
  type PartialSummary,
  type StorageInfo,
} from '../services/data.js';

export type ImportFlow =
  | { phase: 'idle' }
  | { phase: 'detecting'; fileName: string }
  | { phase: 'preview'; file: Blob; fileName: string; detection: Detection; mapping: ImportMapping | null; preview: Converted[]; name: string; split: Split }
  | { phase: 'importing'; fileName: string; jobId: string; progress: ImportProgress | null; totalBytes?: number }
  | { phase: 'partial'; fileName: string; jobId: string; summary: PartialSummary }
  | { phase: 'done'; summary: ImportSummary }
  | { phase: 'error'; fileName: string; message: string };

interface DataState {
  datasets: DatasetRow[];
  loaded: boolean;
  storage: StorageInfo | null;
  flow: ImportFlow;
  /** A message about the last export, backup or restore (or its error). */
  notice: { kind: 'ok' | 'error'; text: string } | null;
  busy: string | null;

  refresh(): Promise<void>;
  /** First run: imports the bundled demo dataset (once), then lists the datasets. */
  seedDemo(): Promise<void>;
  refreshStorage(askPersistence?: boolean): Promise<void>;
  pickFile(file: Blob, fileName: string): Promise<void>;
  setFormat(format: FormatId): void;
  setKind(kind: RecordKind): void;
  setColumn(field: string, column: string | null): void;
  setOption(name: string, value: OptionValue): void;
  setImportName(name: string): void;
  setImportSplit(split: Split): void;
  startImport(): Promise<void>;
  cancelImport(): void;
  /** The answer to "some rows are bad": true imports the valid rows, false imports nothing. */
  resolvePartial(keep: boolean): void;
  dismissImport(): void;
  remove(id: string): Promise<void>;
  rename(id: string, name: string): Promise<void>;
  exportDataset(id: string, target: ExportTarget): Promise<void>;
  backup(): Promise<void>;
  restore(file: Blob, fileName: string, mode: 'merge' | 'replace'): Promise<void>;
}

/** Waiting for the person's answer to a partial import (resolved by resolvePartial). */
let partialAnswer: ((keep: boolean) => void) | null = null;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/** "dpo_en_demo.json.gz" -> "dpo_en_demo". */
export function datasetNameFor(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  return base.replace(/(\.(gz|jsonl|ndjson|json|csv|tsv|parquet))+$/i, '') || 'dataset';
}

export const useDataStore = create<DataState>()((set, get) => {
  /** Re-runs the preview after a mapping change. */
  const remap = (change: (m: ImportMapping) => ImportMapping) => {
    const flow = get().flow;
    if (flow.phase !== 'preview' || !flow.mapping) return;
    const mapping = change(flow.mapping);
    set({ flow: { ...flow, mapping, preview: previewRows(flow.detection, mapping) } });
  };

  return {
    datasets: [],
    loaded: false,
    storage: null,
    flow: { phase: 'idle' },
    notice: null,
    busy: null,

    async refresh() {
      const { datasets: before, loaded: wasLoaded } = get();
      const datasets = await listDatasets();
      set({ datasets, loaded: true });
      // Other pages list datasets too: tell them when this page's imports, deletes or restores change them.
      if (wasLoaded && (before.length !== datasets.length || before.some((d, i) => d.id !== datasets[i]?.id || d.updatedAt !== datasets[i]?.updatedAt))) {
        notifyDatasetsChanged();
      }
    },

    async seedDemo() {
      try {
        const summary = await seedDemoDataset();
        if (summary && get().loaded) await get().refresh();
      } catch (e) {
        set({ notice: { kind: 'error', text: `The demo dataset could not be added: ${message(e)}` } });
      }
    },

    async refreshStorage(askPersistence = false) {
      set({ storage: await storageInfo(askPersistence) });
    },

    async pickFile(file, fileName) {
      set({ flow: { phase: 'detecting', fileName }, notice: null });
      try {
        const detection = await dataBackend().detect(file, fileName);
        const mapping = detection.mapping;
        set({
          flow: {
            phase: 'preview',
            file,
            fileName,
            detection,
            mapping,
            preview: mapping ? previewRows(detection, mapping) : [],
            name: datasetNameFor(fileName),
            split: 'train',
          },
        });
      } catch (e) {
        set({ flow: { phase: 'error', fileName, message: message(e) } });
      }
    },

    setFormat(format) {
      const flow = get().flow;
      if (flow.phase !== 'preview') return;
      const mapping = mappingFor(format, flow.detection);
      set({ flow: { ...flow, mapping, preview: previewRows(flow.detection, mapping) } });
    },

    setKind(kind) {
      remap((m) => ({ ...m, kind }));
    },

    setColumn(field, column) {
      remap((m) => ({ ...m, columns: { ...m.columns, [field]: column } }));
    },

    setOption(name, value) {
      remap((m) => ({ ...m, options: { ...m.options, [name]: value } }));
    },

    setImportName(name) {
      const flow = get().flow;
      if (flow.phase === 'preview') set({ flow: { ...flow, name } });
    },

    setImportSplit(split) {
      const flow = get().flow;
      if (flow.phase === 'preview') set({ flow: { ...flow, split } });
    },

    async startImport() {
      const flow = get().flow;
      if (flow.phase !== 'preview' || !flow.mapping) return;
      const jobId = newJobId();
      const { fileName } = flow;
      set({ flow: { phase: 'importing', fileName, jobId, progress: null, totalBytes: flow.file.size } });
      try {
        const summary = await dataBackend().importFile(
          jobId,
          flow.file,
          fileName,
          flow.mapping,
          { name: flow.name.trim() || datasetNameFor(fileName), defaults: { split: flow.split }, container: flow.detection.container },
          (progress) => {
            const now = get().flow;
            if (now.phase === 'importing' && now.jobId === jobId) set({ flow: { ...now, progress } });
          },
          (partial) =>
            new Promise<boolean>((resolve) => {
              partialAnswer = resolve;
              set({ flow: { phase: 'partial', fileName, jobId, summary: partial } });
            }),
        );
        set({ flow: { phase: 'done', summary } });
        await get().refresh();
        void get().refreshStorage();
      } catch (e) {
        partialAnswer = null;
        const text = isAbort(e) ? 'Import cancelled: nothing was stored.' : message(e);
        set({ flow: { phase: 'error', fileName, message: text } });
      }
    },

    cancelImport() {
      const flow = get().flow;
      if (flow.phase === 'importing' || flow.phase === 'partial') dataBackend().cancel(flow.jobId);
      if (flow.phase === 'partial') get().resolvePartial(false);
      if (flow.phase === 'preview' || flow.phase === 'error' || flow.phase === 'done') set({ flow: { phase: 'idle' } });
    },

    resolvePartial(keep) {
      const answer = partialAnswer;
      partialAnswer = null;
      const flow = get().flow;
      if (flow.phase === 'partial') set({ flow: { phase: 'importing', fileName: flow.fileName, jobId: flow.jobId, progress: null } });
      answer?.(keep);
    },

    dismissImport() {
      set({ flow: { phase: 'idle' } });
    },

    async remove(id) {
      await deleteDataset(id);
      await get().refresh();
      void get().refreshStorage();
    },

    async rename(id, name) {
      if (!name.trim()) return;
      await renameDataset(id, name.trim());
      await get().refresh();
    },

    async exportDataset(id, target) {
      set({ busy: 'export', notice: null });
      try {
        const r = await dataBackend().exportDataset(newJobId(), id, target);
        const skipped = r.skippedCount ? `; ${r.skippedCount} record(s) skipped (${r.skipped.map((s) => `${s.count}× ${s.reason}`).join('; ')})` : '';
        if (r.rows > 0) saveBlob(r.blob, r.fileName);
        set({ notice: { kind: r.rows > 0 ? 'ok' : 'error', text: r.rows > 0 ? `Exported ${r.rows} rows from ${r.records} records to ${r.fileName}${skipped}.` : `Nothing to export in this format${skipped}.` } });
      } catch (e) {
        set({ notice: { kind: 'error', text: `Export failed: ${message(e)}` } });
      } finally {
        set({ busy: null });
      }
    },

    async backup() {
      set({ busy: 'backup', notice: null });
      try {
        const blob = await dataBackend().backup(newJobId());
        const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
        saveBlob(blob, `prefstudio-backup-${stamp}.jsonl.gz`);
        set({ notice: { kind: 'ok', text: `Backup saved (${Math.ceil(blob.size / 1024)} KiB).` } });
      } catch (e) {
        set({ notice: { kind: 'error', text: `Backup failed: ${message(e)}` } });
      } finally {
        set({ busy: null });
      }
    },

    async restore(file, fileName, mode) {
      set({ busy: 'restore', notice: null });
      try {
        const r = await dataBackend().restore(newJobId(), file, fileName, mode);
        set({ notice: { kind: 'ok', text: `Restored ${r.datasets} dataset(s), ${r.records} records and ${r.labels} labels${mode === 'replace' ? ' (the workspace was replaced)' : ''}.` } });
        await get().refresh();
        void get().refreshStorage();
      } catch (e) {
        set({ notice: { kind: 'error', text: `Restore failed, nothing changed: ${message(e)}` } });
      } finally {
        set({ busy: null });
      }
    },
  };
});

/** "line 12, field chosen: is empty" for the bad-rows table. */
export function rowErrorParts(e: RowError): { where: string; field: string; reason: string } {
  return { where: e.line !== undefined ? `line ${e.line}` : `row ${e.index + 1}`, field: e.field ?? '', reason: e.reason };
}
