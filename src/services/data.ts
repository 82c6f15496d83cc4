// Datasets seen from the page: the workspace database (read and small writes on the main thread)
// and the import Worker (detection, imports, exports, backup and restore). Both are created once,
// behind module-level promises; tests put in a fake-indexeddb workspace and an in-process backend.
import * as Comlink from 'comlink';
import type { Detection } from '../data/import/detect.js';
import { proposeMapping } from '../data/import/detect.js';
import { FORMATS, formatSpec } from '../data/import/formats/index.js';
import { COMMON_FIELDS, type FieldSpec, type FormatId, type ImportMapping } from '../data/import/mapping.js';
import { previewMapping, type Converted } from '../data/import/pipeline.js';
import { isPlainObject } from '../data/read/rows.js';
import {
  deleteDataset as dbDeleteDataset,
  describeEstimate,
  listDatasets as dbListDatasets,
  openWorkspace,
  renameDataset as dbRenameDataset,
  requestPersistence,
  storageEstimate,
  type DatasetRow,
  type PersistResult,
  type PrefDb,
  type StorageEstimate,
} from '../db/index.js';
import type { DataApi, ImportSummary } from '../worker/import-api.js';

export type { DataApi, ExportTarget, ImportSummary, PartialSummary, ExportResult } from '../worker/import-api.js';
export { EXPORT_TARGETS } from '../worker/import-api.js';

let db: Promise<PrefDb> | null = null;
let backend: DataApi | null = null;

/** The page's connection to the workspace (opened once). */
export function workspace(): Promise<PrefDb> {
  db ??= openWorkspace();
  return db;
}

/** Tests: use this database and this backend instead of IndexedDB's default and the Worker. */
export function useDataServices(options: { db?: PrefDb; backend?: DataApi }): void {
  if (options.db) db = Promise.resolve(options.db);
  if (options.backend) backend = options.backend;
}

/** How long a cancelled job may take to stop before its Worker is terminated. */
export const CANCEL_GRACE_MS = 3000;

/** The import Worker (created on first use). */
export function dataBackend(): DataApi {
  if (backend) return backend;
  const worker = new Worker(new URL('../worker/import.worker.ts', import.meta.url), { type: 'module', name: 'prefstudio-import' });
  const remote = Comlink.wrap<DataApi>(worker);
  backend = withWatchdog(remote, () => {
    worker.terminate();
    backend = null; // the next job starts a fresh Worker
  });
  return backend;
}

/**
 * The Worker's API with callbacks passed as proxies, and a watchdog: a job that does not stop
 * within CANCEL_GRACE_MS of its cancel (a parser stuck in a synchronous loop on a corrupted
 * file never reads the cancel message) gets its Worker terminated and every call in flight
 * rejected with an AbortError. Nothing half-written stays: an interrupted staged import is
 * cleaned up when the workspace is next opened (its staging lock dies with the Worker).
 */
export function withWatchdog(remote: Comlink.Remote<DataApi> | DataApi, terminate: () => void, graceMs = CANCEL_GRACE_MS): DataApi {
  const inFlight = new Set<string>();
  let kill!: (e: Error) => void;
  const killed = new Promise<never>((_, reject) => (kill = reject));
  killed.catch(() => {});
  const job = async <T>(jobId: string, call: () => Promise<T>): Promise<T> => {
    inFlight.add(jobId);
    try {
      return await Promise.race([call(), killed]);
    } finally {
      inFlight.delete(jobId);
    }
  };
  // Callbacks cross the boundary as proxies; everything else is structured-cloned.
  return {
    detect: (file, name, options) => Promise.race([remote.detect(file, name, options), killed]),
    importFile: (jobId, file, name, mapping, request, onProgress, confirm) =>
      job(jobId, () => remote.importFile(jobId, file, name, mapping, request, Comlink.proxy(onProgress), Comlink.proxy(confirm))),
    cancel: (jobId) => {
      void remote.cancel(jobId);
      setTimeout(() => {
        if (!inFlight.has(jobId)) return;
        terminate();
        kill(new DOMException(`the import Worker did not stop within ${graceMs} ms of cancel and was terminated`, 'AbortError'));
      }, graceMs);
    },
    exportDataset: (jobId, id, target) => job(jobId, () => remote.exportDataset(jobId, id, target)),
    backup: (jobId) => job(jobId, () => remote.backup(jobId)),
    restore: (jobId, file, name, mode) => job(jobId, () => remote.restore(jobId, file, name, mode)),
  };
}

type DatasetsListener = () => void;
const datasetsListeners = new Set<DatasetsListener>();

/** Called after datasets are added, removed or restored, so every page's list can follow. */
export function onDatasetsChanged(listener: DatasetsListener): () => void {
  datasetsListeners.add(listener);
  return () => datasetsListeners.delete(listener);
}

export function notifyDatasetsChanged(): void {
  for (const listener of datasetsListeners) listener();
}

/** The bundled demo dataset (public/datasets), imported on the very first run like any file. */
export const DEMO_DATASET = { path: 'datasets/demo-fortunes-positive.jsonl', name: 'demo-fortunes-positive' } as const;
const DEMO_OFFERED = 'prefstudio.demoDatasetOffered';

export interface DemoSeedEnv {
  fetch: typeof fetch;
  storage: Pick<Storage, 'getItem' | 'setItem'>;
  url: string;
}

function browserSeedEnv(): DemoSeedEnv {
  return {
    fetch: (...args) => fetch(...args),
    storage: localStorage,
    url: new URL(`${import.meta.env.BASE_URL}${DEMO_DATASET.path}`, globalThis.location.href).href,
  };
}

/**
 * On the very first run (nothing stored and the demo never offered), imports the demo dataset
 * through the same Worker path as a user's file, so the studio opens with data to label and
 * train on. Offered once: a user who deletes it does not get it back uninvited.
 */
export async function seedDemoDataset(env: DemoSeedEnv = browserSeedEnv()): Promise<ImportSummary | null> {
  if (env.storage.getItem(DEMO_OFFERED)) return null;
  if ((await listDatasets()).length > 0) {
    env.storage.setItem(DEMO_OFFERED, '1');
    return null;
  }
  const response = await env.fetch(env.url);
  if (!response.ok) throw new Error(`demo dataset: HTTP ${response.status} for ${env.url}`);
  const file = await response.blob();
  const fileName = DEMO_DATASET.path.split('/').pop()!;
  const data = dataBackend();
  const detection = await data.detect(file, fileName);
  if (!detection.mapping) throw new Error(`demo dataset: ${fileName} was not recognised as a preference dataset`);
  const summary = await data.importFile(
    newJobId(),
    file,
    fileName,
    detection.mapping,
    { name: DEMO_DATASET.name, container: detection.container },
    () => {},
    async () => false, // the bundled file has no bad rows; if it had, store nothing
  );
  env.storage.setItem(DEMO_OFFERED, '1');
  notifyDatasetsChanged();
  return summary;
}

let jobCounter = 0;
export function newJobId(): string {
  return `job-${Date.now()}-${jobCounter++}`;
}

export async function listDatasets(): Promise<DatasetRow[]> {
  return dbListDatasets(await workspace());
}

export async function deleteDataset(id: string): Promise<void> {
  await dbDeleteDataset(await workspace(), id);
}

export async function renameDataset(id: string, name: string): Promise<void> {
  await dbRenameDataset(await workspace(), id, name);
}

export interface StorageInfo {
  estimate: StorageEstimate | null;
  text: string;
  persist: PersistResult;
}

/** Asks the browser to keep the workspace (no eviction under pressure) and measures it. */
export async function storageInfo(ask: boolean): Promise<StorageInfo> {
  const persist = ask ? await requestPersistence().catch((): PersistResult => 'denied') : 'unsupported';
  const estimate = await storageEstimate().catch(() => null);
  const persisted = estimate?.persisted ? 'granted' : persist;
  return { estimate, text: estimate ? describeEstimate(estimate) : 'not reported by this browser', persist: persisted };
}

/** The mapping a format would make of the detected sample (the user picked another format). */
export function mappingFor(format: FormatId, detection: Detection): ImportMapping {
  return proposeMapping(format, detection.sample.filter(isPlainObject));
}

/** The record fields a mapping's format reads, then the provenance fields every format may map. */
export function mappingFields(format: FormatId): FieldSpec[] {
  const own = formatSpec(format).fields;
  return [...own, ...COMMON_FIELDS.filter((c) => !own.some((f) => f.name === c.name))];
}

export function formatChoices(): { id: FormatId; label: string }[] {
  return FORMATS.map((f) => ({ id: f.id, label: f.label }));
}

export function previewRows(detection: Detection, mapping: ImportMapping): Converted[] {
  return previewMapping(detection.sample, mapping, detection.container);
}

/**
 * A download's file name by the CLI's output rules (src/cli/output.ts) where they apply in a
 * browser: one plain name, never a path (separators, control and reserved characters become
 * '_'), never hidden or '.'/'..' (leading dots dropped), at most 180 characters with the
 * extensions kept. The browser does the rest: it writes under a temporary name and renames at
 * the end, and never overwrites (it numbers a second file of the same name).
 */
export function downloadName(fileName: string): string {
  let name = fileName
    .replace(/[\x00-\x1f\x7f]/g, '')
    .replace(/[\\/<>:"|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  const MAX = 180;
  if (name.length > MAX) {
    const ext = /(\.[A-Za-z0-9]{1,10}){1,3}$/.exec(name)?.[0] ?? '';
    name = name.slice(0, MAX - ext.length) + ext;
  }
  return name || 'download';
}

/** Offers a Blob as a download (the browser's save dialog or downloads folder), named by downloadName. */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = downloadName(fileName);
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
