// The Worker's model slot: import a model from a source (files, URL), keep its files in OPFS,
// upload it and hold it as the active model; or load a stored one back. One import at a time.
// Order of an import, cheapest failure first: layout → recognition and the fit check (before any
// weight is read) → weights → storage (manifest last) → GPU upload. A failure at any step leaves
// no stored files and the previous active model in place.
import type { Engine } from '../engine/gpu/engine.js';
import { ModelLoadError } from '../engine/model/errors.js';
import { detectLayout, findVariants, type ModelLayout, type OnnxVariant } from '../engine/model/layout.js';
import { loadModel, type LoadedModel } from '../engine/model/load.js';
import { assertFits, weightDTypes, type GpuWeightDType } from '../engine/model/memory.js';
import { fileListSource, normalizePath, urlSource, type FileLike, type ModelSource } from '../engine/model/source.js';
import type { ModelTokenizer } from '../engine/model/tokenizer.js';
import type { TransformerConfig } from '../engine/transformer/config.js';
import { TransformerModel } from '../engine/transformer/model.js';
import { modelStore, type ModelStore } from '../services/model-store.js';
import { memoryBudget } from '../engine/gpu/budget.js';
import { WorkerTaskError } from './errors.js';
import { getEngine, withGpu } from './engine.js';
import { meteredFetch, resolveModelUrl } from './model-url.js';
import type { ActiveModel, GenerationSettings, LoadProgress, LoadStage, ModelFileEntry, ModelImportSource, ModelManifest } from './protocol.js';
import { throwIfAborted } from './tasks.js';

/** Files too large to hold whole are copied into storage in pieces of this size. */
const COPY_CHUNK = 16 * 2 ** 20;

/** The model on the GPU, for generation and (later) training. */
export interface ActiveModelSlot {
  id: string;
  manifest: ModelManifest;
  model: TransformerModel;
  config: TransformerConfig;
  tokenizer: ModelTokenizer | null;
  /** Generation stops at any of these (tokenizer and config agree or add up). */
  eosIds: number[];
}

let active: ActiveModelSlot | null = null;
let busy = false;
let store: ModelStore = modelStore;

export function getActiveModel(): ActiveModelSlot | null {
  return active;
}

export function describeActive(): ActiveModel | null {
  return active ? { id: active.id, manifest: active.manifest } : null;
}

/** Tests point the Worker at another store. */
export function useModelStore(s: ModelStore): void {
  store = s;
}

/** Reports progress at most every 100 ms per stage (and always at a stage's start and end). */
class ProgressMeter {
  private stage: LoadStage = 'reading';
  private loaded = 0;
  private total = 0;
  private last = 0;
  file: string | undefined;
  constructor(private readonly onProgress?: (p: LoadProgress) => void) {}

  start(stage: LoadStage, total = 0): void {
    this.stage = stage;
    this.loaded = 0;
    this.total = total;
    this.emit(true);
  }
  expect(bytes: number): void {
    this.total += bytes;
  }
  add(bytes: number): void {
    this.loaded += bytes;
    this.emit(false);
  }
  emit(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const p: LoadProgress = { stage: this.stage, loaded: this.loaded, ...(this.total > 0 ? { total: Math.max(this.total, this.loaded) } : {}), ...(this.file ? { file: this.file } : {}) };
    // A comlink proxy answers with a promise; progress is fire-and-forget.
    void Promise.resolve(this.onProgress?.(p)).catch(() => {});
  }
}

/**
 * Reads through another source once: whole files are kept (loadModel holds them anyway, and the
 * import stores them without reading again), bytes are counted, cancellation is checked.
 */
class ReadingSource implements ModelSource {
  readonly cache = new Map<string, Uint8Array>();
  private readonly sizes = new Map<string, number | undefined>();
  /** After the layout pre-pass, newly sized files (external data) add to the expected total. */
  countNewSizes = false;
  constructor(
    private readonly inner: ModelSource,
    private readonly meter: ProgressMeter,
    private readonly signal: AbortSignal,
    /** False where the fetch already counts bytes as they arrive. */
    private readonly countReads: boolean,
  ) {}
  get label() {
    return this.inner.label;
  }
  list() {
    return this.inner.list();
  }
  async size(path: string) {
    const key = normalizePath(path) ?? path;
    if (this.sizes.has(key)) return this.sizes.get(key);
    throwIfAborted(this.signal);
    const n = await this.inner.size(path);
    this.sizes.set(key, n);
    if (this.countNewSizes && n !== undefined) this.meter.expect(n);
    return n;
  }
  async read(path: string) {
    const key = normalizePath(path) ?? path;
    const hit = this.cache.get(key);
    if (hit) return hit;
    throwIfAborted(this.signal);
    this.meter.file = key;
    const bytes = await this.inner.read(path);
    throwIfAborted(this.signal);
    if (bytes) {
      this.cache.set(key, bytes);
      if (this.countReads) this.meter.add(bytes.byteLength);
    }
    return bytes;
  }
  async readRange(path: string, offset: number, length: number) {
    const hit = this.cache.get(normalizePath(path) ?? path);
    if (hit) return hit.subarray(offset, offset + length);
    throwIfAborted(this.signal);
    const bytes = await this.inner.readRange(path, offset, length);
    if (bytes && this.countReads) this.meter.add(bytes.byteLength);
    return bytes;
  }
}

/** `prefix/path` keeps fileListSource from stripping a top folder the model itself has. */
function fileLike(entry: ModelFileEntry, prefix?: string): FileLike {
  const f = entry.file;
  return {
    name: f.name,
    size: f.size,
    webkitRelativePath: prefix ? `${prefix}/${entry.path}` : entry.path,
    arrayBuffer: () => f.arrayBuffer(),
    slice: (start, end) => f.slice(start, end),
  };
}

function layoutFiles(layout: ModelLayout): string[] {
  return [layout.config, layout.genaiConfig, layout.generationConfig, layout.tokenizer, layout.tokenizerConfig, layout.specialTokensMap, layout.chatTemplate, layout.onnx].filter(
    (f): f is string => f !== undefined,
  );
}

/** The dtype the engine keeps the float linear weights in: f16 when converted on load or stored so. */
function gpuDType(loaded: LoadedModel): GpuWeightDType {
  return loaded.gpuWeights === 'f16' ? 'f16' : weightDTypes(loaded.weights.values()).gpu;
}

function checkFits(engine: Engine, loaded: LoadedModel): void {
  // WebGPU does not say how much memory the GPU has: weights past what the adapter allows
  // (gpu/budget.ts) are refused; per-buffer limits are the adapter's own.
  assertFits(loaded.memory, engine.report.limits, memoryBudget(engine.report).bytes, { dtype: gpuDType(loaded) });
}

function generationDefaults(generation: Record<string, unknown> | undefined): Partial<GenerationSettings> {
  if (!generation) return {};
  const out: Partial<GenerationSettings> = {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  if (generation.do_sample === false) out.temperature = 0;
  else if (num(generation.temperature) !== undefined) out.temperature = num(generation.temperature);
  if (num(generation.top_k) !== undefined) out.topK = num(generation.top_k);
  if (num(generation.top_p) !== undefined) out.topP = num(generation.top_p);
  if (num(generation.max_new_tokens) !== undefined) out.maxNewTokens = num(generation.max_new_tokens);
  return out;
}

function manifestFor(
  id: string,
  name: string,
  source: ModelManifest['source'],
  loaded: LoadedModel,
  files: { path: string; size: number }[],
): ModelManifest {
  const c = loaded.config;
  return {
    version: 1,
    id,
    name,
    source,
    architecture: loaded.family,
    parameters: loaded.parameterCount,
    dtype: weightDTypes(loaded.weights.values()).stored,
    ...(loaded.gpuWeights === 'f16' ? { f16Weights: true } : {}),
    sizeOnDisk: files.reduce((a, f) => a + f.size, 0),
    gpuMemoryBytes: loaded.memory.bytes[gpuDType(loaded)],
    addedAt: new Date().toISOString(),
    files,
    dims: { layers: c.layers, hidden: c.hidden, heads: c.heads, kvHeads: c.kvHeads, vocabSize: c.vocabSize, contextLength: c.maxPositions },
    onnxFile: loaded.layout.onnx,
    hasTokenizer: loaded.tokenizer !== null,
    hasChatTemplate: loaded.tokenizer?.chatTemplate != null,
    warnings: loaded.warnings.map((w) => ({ code: w.code, message: w.message })),
    generationDefaults: generationDefaults(loaded.configFiles.generation),
  };
}

/** A whole file as pieces, read by byte range (files too large to have been held whole). */
async function* pieces(source: ModelSource, path: string, size: number, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < size; at += COPY_CHUNK) {
    throwIfAborted(signal);
    const bytes = await source.readRange(path, at, Math.min(COPY_CHUNK, size - at));
    if (!bytes || bytes.byteLength === 0) throw new ModelLoadError('file-missing', `${path} in ${source.label} ended at byte ${at} of ${size} while it was being stored`, { file: path });
    yield bytes;
  }
}

/** Why the active model may not be replaced or freed now (a training run steps on it), or null. */
let inUse: () => string | null = () => null;

/** The training module says when a run holds the active model (engine.worker.ts wires it). */
export function setModelInUseCheck(check: () => string | null): void {
  inUse = check;
}

function assertReplaceable(): void {
  const why = inUse();
  if (why) throw new WorkerTaskError('busy', why);
}

async function exclusive<T>(job: () => Promise<T>): Promise<T> {
  if (busy) throw new WorkerTaskError('busy', 'another model is being loaded: wait for it or cancel it first');
  assertReplaceable();
  busy = true;
  try {
    return await job();
  } finally {
    busy = false;
  }
}

/** Uploads the weights and makes the model active, freeing the previous one. */
async function install(manifest: ModelManifest, loaded: LoadedModel, meter: ProgressMeter, signal: AbortSignal): Promise<void> {
  await withGpu(async (engine) => {
    throwIfAborted(signal);
    meter.start('uploading', manifest.gpuMemoryBytes);
    const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
    try {
      await engine.sync();
      throwIfAborted(signal);
    } catch (e) {
      model.destroy();
      throw e;
    }
    meter.add(manifest.gpuMemoryBytes);
    try {
      assertReplaceable(); // a run may have started while the weights were read
    } catch (e) {
      model.destroy();
      throw e;
    }
    active?.model.destroy();
    const eos = new Set([...loaded.config.eosIds, ...(loaded.tokenizer?.eosIds ?? [])]);
    active = { id: manifest.id, manifest, model, config: loaded.config, tokenizer: loaded.tokenizer, eosIds: [...eos] };
  });
}

/** Recognises, checks the fit, then reads the weights: a model that cannot run is refused early. */
async function recognise(source: ReadingSource, onnx: string | undefined, f16Weights: boolean | undefined): Promise<LoadedModel> {
  const engine = await getEngine(); // no WebGPU: say so before anything is downloaded
  const loaded = await loadModel(source, { onnx, readWeights: false, f16Weights });
  checkFits(engine, loaded);
  await loaded.readWeights();
  return loaded;
}

function nameFor(label: string, loaded: LoadedModel, givenName: string | undefined): string {
  if (givenName) return givenName;
  // "3 files" says nothing: name a loose set of files by what it is.
  if (/^\d+ files$/.test(label)) return `${loaded.family}-${(loaded.parameterCount / 1e6).toFixed(1)}M`;
  return label;
}

/** The .onnx variants at a model URL with their sizes, preferred first: the files are only asked for their size. */
export async function urlVariants(url: string, signal: AbortSignal): Promise<OnnxVariant[]> {
  const doFetch = meteredFetch({ signal });
  const { base } = await resolveModelUrl(url, doFetch);
  return findVariants(urlSource(base, { fetch: doFetch }));
}

export function importModel(source: ModelImportSource, signal: AbortSignal, onProgress?: (p: LoadProgress) => void): Promise<ModelManifest> {
  return exclusive(async () => {
    const meter = new ProgressMeter(onProgress);
    meter.start('reading');
    let inner: ModelSource;
    let givenName: string | undefined;
    let origin: ModelManifest['source'];
    if (source.kind === 'files') {
      if (source.files.length === 0) throw new ModelLoadError('no-model-file', 'no files were given: choose a model folder or its files');
      inner = fileListSource(source.files.map((e) => fileLike(e)), source.label);
      origin = { kind: 'files', label: inner.label };
    } else {
      const doFetch = meteredFetch({ signal, onBytes: (n) => meter.add(n) });
      const { base, name } = await resolveModelUrl(source.url, doFetch);
      inner = urlSource(base, { fetch: doFetch });
      givenName = source.name ?? name;
      origin = { kind: 'url', label: base, url: base };
    }
    const reading = new ReadingSource(inner, meter, signal, source.kind !== 'url');
    // Among several variants, the preferred one whose weights fit this GPU's budget.
    const layout = await detectLayout(reading, { onnx: source.onnx, budgetBytes: memoryBudget((await getEngine()).report).bytes });
    for (const f of layoutFiles(layout)) meter.expect((await reading.size(f)) ?? 0);
    reading.countNewSizes = true;
    const loaded = await recognise(reading, layout.onnx, source.f16Weights);
    throwIfAborted(signal);

    const infos = await loaded.store.check();
    const paths = [...new Set([...layoutFiles(layout), ...infos.map((i) => i.file)])];
    const files = [];
    for (const path of paths) files.push({ path, size: (await reading.size(path)) ?? 0 });
    await store.removeIncomplete();
    const name = nameFor(reading.label, loaded, givenName);
    const id = await store.newId(name);
    const manifest = manifestFor(id, name, origin, loaded, files);
    const writer = await store.writer(id);
    try {
      meter.start('storing', manifest.sizeOnDisk);
      for (const { path, size } of files) {
        throwIfAborted(signal);
        meter.file = path;
        const whole = reading.cache.get(path);
        const written = await writer.writeFile(path, whole ?? pieces(reading, path, size, signal));
        meter.add(written);
      }
      throwIfAborted(signal);
      await writer.commit(manifest);
      await install(manifest, loaded, meter, signal);
    } catch (e) {
      await writer.discard();
      throw e;
    }
    return manifest;
  });
}

/**
 * The activation in flight: a second request for the same model (the page's automatic load at
 * start and a resumed loop or run after a reload) waits for it instead of being refused as busy.
 */
let activating: { id: string; done: Promise<ModelManifest> } | null = null;

export function activateModel(id: string, signal: AbortSignal, onProgress?: (p: LoadProgress) => void): Promise<ModelManifest> {
  if (activating?.id === id) return activating.done;
  const done = loadStored(id, signal, onProgress);
  activating = { id, done };
  const clear = () => {
    if (activating?.done === done) activating = null;
  };
  done.then(clear, clear);
  return done;
}

function loadStored(id: string, signal: AbortSignal, onProgress?: (p: LoadProgress) => void): Promise<ModelManifest> {
  return exclusive(async () => {
    if (active?.id === id) return active.manifest;
    const manifest = await store.get(id);
    if (!manifest) throw new WorkerTaskError('not-found', `no stored model "${id}": it may have been deleted in another tab`);
    const meter = new ProgressMeter(onProgress);
    meter.start('reading', manifest.sizeOnDisk);
    const entries = await store.files(id);
    const reading = new ReadingSource(fileListSource(entries.map((e) => fileLike(e, id)), manifest.name), meter, signal, true);
    const loaded = await recognise(reading, manifest.onnxFile, manifest.f16Weights);
    await install(manifest, loaded, meter, signal);
    return manifest;
  });
}

/** Frees the GPU memory of model `id` if it is the active one. */
export async function unloadModel(id: string): Promise<void> {
  if (active?.id !== id) return;
  assertReplaceable();
  await withGpu(async () => {
    if (active?.id !== id) return;
    assertReplaceable();
    active.model.destroy();
    active = null;
  });
}

