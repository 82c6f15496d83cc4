// Models, seen from the page: the stored library (OPFS, through model-store.ts), the engine
// Worker's model slot and sampling (through comlink), and turning what the user gives (dropped
// files and folders, a picked directory, an <input> FileList, a URL) into a model source.
// Every Worker call that can fail for the user's reason answers a WorkerResult; calls here never
// reject for those, so a store can show the message and carry on.
import * as Comlink from 'comlink';
import type {
  ActiveModel,
  GenerateRequest,
  GenerationEvent,
  GenerationSummary,
  LoadProgress,
  ModelFileEntry,
  ModelImportSource,
  ModelManifest,
  WorkerFailure,
  WorkerResult,
} from '../worker/protocol.js';
import { onnxVariants, type OnnxVariant } from '../engine/model/layout.js';
import { chooseVariant, variantGpuBytes, type VariantChoice } from '../engine/model/variant-choice.js';
import { memoryBudget } from '../engine/gpu/budget.js';
import type { AdapterReport } from '../engine/gpu/device.js';
export type { OnnxVariant };
import { engineWorker } from './gpu.js';
import { modelStore, type LibraryState } from './model-store.js';
import { samplingAdapterId } from './train.js';

export type { LibraryState };

/** The demo model ships in public/models/demo-fortunes and loads like any model from a URL. */
export const DEMO_MODEL = { path: 'models/demo-fortunes/', name: 'demo-fortunes' } as const;

/** The demo's absolute URL under the app's base (the Worker resolves URLs against its own script). */
export function demoModelUrl(base: string = import.meta.env.BASE_URL, page: string = globalThis.location.href): string {
  return new URL(`${base.endsWith('/') ? base : `${base}/`}${DEMO_MODEL.path}`, page).href;
}

export interface RunningTask<T> {
  taskId: string;
  result: Promise<WorkerResult<T>>;
  cancel(): void;
}

let taskCount = 0;
function newTaskId(kind: string): string {
  taskCount += 1;
  return `${kind}-${taskCount}-${Date.now().toString(36)}`;
}

/** A Worker that died or failed to load rejects instead of answering: report it the same way. */
function failure(error: unknown): WorkerFailure {
  const e = error instanceof Error ? error : new Error(String(error));
  return { name: e.name || 'Error', code: e.name === 'GpuUnavailableError' ? 'gpu-unavailable' : 'worker', message: e.message };
}

function run<T>(kind: string, call: (taskId: string) => Promise<WorkerResult<T>>): RunningTask<T> {
  const taskId = newTaskId(kind);
  const result = call(taskId).catch((e: unknown): WorkerResult<T> => ({ ok: false, error: failure(e) }));
  return {
    taskId,
    result,
    cancel: () => cancelTask(taskId),
  };
}

/** Loads a model from files or a URL, stores it, and makes it the Worker's active model. */
export function importModel(source: ModelImportSource, onProgress?: (p: LoadProgress) => void): RunningTask<ModelManifest> {
  return run('import', (id) => engineWorker().importModel(id, source, onProgress && Comlink.proxy(onProgress)));
}

/** The .onnx variants at a model URL or Hub id, with their sizes (only HEAD requests). */
export function urlVariants(url: string): RunningTask<OnnxVariant[]> {
  return run('variants', (id) => engineWorker().modelVariants(id, url));
}

/** Loads a stored model (from OPFS, nothing fetched) and makes it active. */
export function activateModel(modelId: string, onProgress?: (p: LoadProgress) => void): RunningTask<ModelManifest> {
  return run('activate', (id) => engineWorker().activateModel(id, modelId, onProgress && Comlink.proxy(onProgress)));
}

export function generate(request: GenerateRequest, onEvent?: (e: GenerationEvent) => void): RunningTask<GenerationSummary> {
  // The adapter chosen on the Train page ("sample with this adapter"), unless the caller names one.
  const adapterId = request.adapterId ?? samplingAdapterId() ?? undefined;
  return run('generate', (id) => engineWorker().generate(id, { ...request, adapterId }, onEvent && Comlink.proxy(onEvent)));
}

/** Cancels a running Worker task by id (a load or a generation). */
export function cancelTask(taskId: string): void {
  void engineWorker().cancel(taskId).catch(() => {});
}

export function activeModel(): Promise<ActiveModel | null> {
  return engineWorker().activeModel();
}

export function listModels(): Promise<ModelManifest[]> {
  return modelStore.list();
}

/** Frees the model's GPU memory if it is loaded, then deletes its files. */
export async function deleteModel(id: string): Promise<void> {
  await engineWorker().unloadModel(id);
  await modelStore.remove(id);
}

export function readLibrary(): Promise<LibraryState> {
  return modelStore.readLibrary();
}

export function updateLibrary(patch: Partial<LibraryState>): Promise<LibraryState> {
  return modelStore.updateLibrary(patch);
}

// ---- what the user gives ----

/** Files from an <input type=file> (with or without webkitdirectory): paths as the browser gives them. */
export function filesFromFileList(list: Iterable<File>): ModelFileEntry[] {
  return [...list].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}

/**
 * The .onnx variants among chosen files (model.onnx, onnx/model_fp16.onnx, onnx/model_q4.onnx,
 * ...), preferred first, with their dtype and size; paths inside the folder, as the import reads them.
 */
export function fileVariants(entries: readonly ModelFileEntry[]): OnnxVariant[] {
  const top = commonFolder(entries);
  const strip = top ? top.length + 1 : 0;
  const sizes = new Map(entries.map((e) => [e.path.slice(strip), e.file.size]));
  return onnxVariants([...sizes.keys()], sizes);
}

/** A variant as the Models page offers it: its estimated GPU memory and whether that fits the budget. */
export interface OfferedVariant extends OnnxVariant {
  gpuBytes?: number;
  overBudget: boolean;
}

/**
 * The variants with their GPU memory against this adapter's budget, and the one to preselect (the
 * Worker's import picks the same when none is named: variant-choice.ts). Without an adapter report
 * the preferred variant is preselected.
 */
export function offerVariants(variants: readonly OnnxVariant[], report: AdapterReport | null): { variants: OfferedVariant[]; choice: VariantChoice; budgetBytes: number | null } {
  const budgetBytes = report ? memoryBudget(report).bytes : null;
  const offered = variants.map((v) => {
    const gpuBytes = variantGpuBytes(v);
    return { ...v, ...(gpuBytes !== undefined ? { gpuBytes } : {}), overBudget: budgetBytes !== null && gpuBytes !== undefined && gpuBytes > budgetBytes };
  });
  const choice = budgetBytes !== null ? chooseVariant(variants, budgetBytes) : { file: variants[0]!.file, reason: 'the preferred variant', fits: true };
  return { variants: offered, choice, budgetBytes };
}

/** The top folder shared by every path ("my-model"), for naming; undefined for loose files. */
export function commonFolder(entries: readonly ModelFileEntry[]): string | undefined {
  const tops = new Set(entries.map((e) => (e.path.includes('/') ? e.path.slice(0, e.path.indexOf('/')) : '')));
  const [top] = tops;
  return tops.size === 1 && top ? top : undefined;
}

/** The subset of the FileSystem Entry API a drop gives (webkitGetAsEntry). */
interface EntryLike {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  file?(ok: (f: File) => void, fail: (e: unknown) => void): void;
  createReader?(): { readEntries(ok: (entries: EntryLike[]) => void, fail: (e: unknown) => void): void };
}

/**
 * The entries of a drop. Must be called during the drop event: the DataTransfer is emptied when
 * the handler returns. Items without entry support fall back to their File.
 */
export function dropEntries(data: DataTransfer): (EntryLike | File)[] {
  const out: (EntryLike | File)[] = [];
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind !== 'file') continue;
    const entry = (item as DataTransferItem & { webkitGetAsEntry?: () => EntryLike | null }).webkitGetAsEntry?.();
    const file = entry ? null : item.getAsFile();
    if (entry) out.push(entry);
    else if (file) out.push(file);
  }
  if (out.length === 0) out.push(...Array.from(data.files ?? []));
  return out;
}

/** Every file under the dropped entries, folders walked (readEntries answers in batches). */
export async function filesFromEntries(entries: readonly (EntryLike | File)[]): Promise<ModelFileEntry[]> {
  const out: ModelFileEntry[] = [];
  const walk = async (entry: EntryLike, prefix: string): Promise<void> => {
    if (entry.isFile && entry.file) {
      const file = await new Promise<File>((ok, fail) => entry.file!(ok, fail));
      out.push({ path: prefix + entry.name, file });
    } else if (entry.isDirectory && entry.createReader) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise<EntryLike[]>((ok, fail) => reader.readEntries(ok, fail));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) {
    if (entry instanceof File) out.push({ path: entry.name, file: entry });
    else await walk(entry, '');
  }
  return out;
}

/** window.showDirectoryPicker and the handle iteration it gives (not in TypeScript's DOM lib). */
type DirectoryHandle = FileSystemDirectoryHandle & { values(): AsyncIterable<FileSystemHandle> };
type DirectoryPicker = (options?: { id?: string; mode?: 'read' }) => Promise<DirectoryHandle>;

export function canPickDirectory(): boolean {
  return typeof (globalThis as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';
}

/** Every file under a directory handle, paths prefixed with the folder's name. */
export async function filesFromDirectoryHandle(handle: DirectoryHandle): Promise<ModelFileEntry[]> {
  const out: ModelFileEntry[] = [];
  const walk = async (dir: DirectoryHandle, prefix: string): Promise<void> => {
    for await (const entry of dir.values()) {
      if (entry.kind === 'directory') await walk(entry as DirectoryHandle, `${prefix}${entry.name}/`);
      else out.push({ path: prefix + entry.name, file: await (entry as FileSystemFileHandle).getFile() });
    }
  };
  await walk(handle, `${handle.name}/`);
  return out;
}

/** Asks for a folder with the directory picker; null when the user closes it. */
export async function pickDirectory(): Promise<ModelFileEntry[] | null> {
  const picker = (globalThis as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  if (!picker) throw new Error('this browser has no directory picker: drop the folder or use "Choose files"');
  try {
    return await filesFromDirectoryHandle(await picker({ id: 'prefstudio-model', mode: 'read' }));
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') return null;
    throw e;
  }
}
