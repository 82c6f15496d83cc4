// The engine Worker's API as the main thread sees it through comlink. Values cross by structured
// clone; errors arrive as Error objects that keep their `name` (comlink copies name and message).
// Calls that can fail for a reason the user must read (a bad model folder, an unreachable URL)
// answer with a WorkerResult instead, so the error's code and details survive the crossing.
// Callbacks (progress, streamed tokens) are comlink proxies: Comlink.proxy(fn) on the caller's side.
import type { KernelTuningReport } from './tuning.js';
import type { Turns } from '../data/records.js';
import type { AdapterReport } from '../engine/gpu/device.js';
import type { FinishReason } from '../engine/transformer/generate.js';
import type { OnnxVariant } from '../engine/model/layout.js';
import type { EvaluateWorkerApi } from './evaluate-protocol.js';
import type { LoopWorkerApi } from './loop-protocol.js';
import type { TrainWorkerApi } from './train-protocol.js';

/** Why a Worker call failed, as plain data (structured-clone safe). */
export interface WorkerFailure {
  /** The error's class: ModelLoadError, GpuUnavailableError, AbortError, NetworkError, Error. */
  name: string;
  /** ModelLoadError codes ('external-data-missing', ...), 'aborted', 'network', 'busy', 'no-model', ... */
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export type WorkerResult<T> = { ok: true; value: T } | { ok: false; error: WorkerFailure };

/** A file handed to the Worker: its path inside the model folder ('onnx/model.onnx') and the File. */
export interface ModelFileEntry {
  path: string;
  file: File;
}

/** Where a model comes from. Every kind is loaded the same way; only how bytes are read differs. */
export type ModelImportSource =
  /** Dropped or picked files / folder. */
  | { kind: 'files'; files: ModelFileEntry[]; label?: string; onnx?: string; f16Weights?: boolean }
  /** A folder on a web server, plain (`<base>/<file>`) or Hub-style (`<base>/resolve/main/<file>`). */
  | { kind: 'url'; url: string; name?: string; onnx?: string; f16Weights?: boolean };
// onnx: the variant to load (a path in the folder, e.g. onnx/model_q4.onnx); default: the preferred
// one that fits the GPU memory budget (engine/model/variant-choice.ts).
// f16Weights: convert f32 / bf16 linear weights and embeddings to f16 as they are uploaded (half
// their GPU memory); the stored files stay as they are, block-quantized weights stay packed.

/** What a stored model is: written beside its files in OPFS (models/<id>/manifest.json). */
export interface ModelManifest {
  version: 1;
  id: string;
  name: string;
  source: { kind: ModelImportSource['kind']; label: string; url?: string };
  /** The family recognised ('llama', 'qwen2', 'mistral', 'gpt2'). */
  architecture: string;
  parameters: number;
  /** Dtype of the stored linear weights: 'f32', 'f16', 'bf16', or their parts ('q4+f16', 'f16+f32'). */
  dtype: string;
  /** The linear weights were converted to f16 on load (ModelImportSource's f16Weights); kept for every later activation. */
  f16Weights?: boolean;
  /** Bytes of every stored file. */
  sizeOnDisk: number;
  /** Bytes of weights on the GPU as the engine uploads them (estimateMemory). */
  gpuMemoryBytes: number;
  /** ISO date. */
  addedAt: string;
  files: { path: string; size: number }[];
  dims: { layers: number; hidden: number; heads: number; kvHeads: number; vocabSize: number; contextLength: number };
  onnxFile: string;
  hasTokenizer: boolean;
  hasChatTemplate: boolean;
  /** Warnings raised while loading (they did not stop it). */
  warnings: { code: string; message: string }[];
  /** Sampling defaults from generation_config.json, when it has them. */
  generationDefaults: Partial<GenerationSettings>;
}

export type LoadStage = 'reading' | 'storing' | 'uploading';

export interface LoadProgress {
  stage: LoadStage;
  /** Bytes done in this stage. */
  loaded: number;
  /** Bytes this stage will take, when known. */
  total?: number;
  /** The file being read or written. */
  file?: string;
}

export interface GenerationSettings {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  maxNewTokens: number;
  stopStrings: string[];
  seed: number;
}

/**
 * What to sample from. The prompt becomes tokens through engine/model/prompt.ts promptTokenIds,
 * as training's prompts do: with the chat template, the system prompt and every turn rendered with
 * the generation prompt; without it, the tokenizer's encoding of the text.
 */
export interface GenerateRequest extends GenerationSettings {
  /** Plain text, or the conversation so far (messages oldest first; the model writes the next assistant turn). */
  prompt: Turns;
  /** The system prompt, rendered first by the chat template (refused without the template). */
  system?: string;
  /**
   * true: through the tokenizer's chat template (refused when it has none); false: the text as the
   * tokenizer encodes it (a conversation or a system prompt is refused); 'auto': the template when
   * the tokenizer has one.
   */
  useChatTemplate: boolean | 'auto';
  /**
   * A LoRA adapter to sample with (filled by the training module: worker/generate.ts
   * `setAdapterResolver`). Undefined = the base model.
   */
  adapterId?: string;
}

export interface GenerationEvent {
  /** Text to append to what was shown so far (held back while it may start a stop string). */
  delta: string;
  /** Tokens generated so far. */
  tokens: number;
}

export interface GenerationSummary {
  /** The whole completion, cut before a stop string. */
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  tokens: number;
  /** Wall time of the whole request in the Worker. */
  ms: number;
}

/** The model the Worker holds on the GPU. */
export interface ActiveModel {
  id: string;
  manifest: ModelManifest;
}

/** Training (train-protocol.ts), evaluation (evaluate-protocol.ts) and the loop's (loop-protocol.ts) calls are part of the same Worker. */
export interface EngineWorkerApi extends TrainWorkerApi, EvaluateWorkerApi, LoopWorkerApi {
  /**
   * Creates the engine (once) and reports its GPU adapter. Rejects with a GpuUnavailableError
   * (by name) when there is no WebGPU, no adapter, or the adapter is too small.
   */
  init(): Promise<AdapterReport>;

  /**
   * Loads a model from a source, checks it fits the adapter, stores its files in OPFS
   * (models/<id>/), uploads it and makes it the active model. `taskId` names the task for cancel().
   */
  importModel(taskId: string, source: ModelImportSource, onProgress?: (p: LoadProgress) => void): Promise<WorkerResult<ModelManifest>>;
  /** The .onnx variants at a model URL (a Hub repo) with their sizes, preferred first; nothing is downloaded. */
  modelVariants(taskId: string, url: string): Promise<WorkerResult<OnnxVariant[]>>;
  /** Loads a stored model (no fetching) and makes it active. */
  activateModel(taskId: string, id: string, onProgress?: (p: LoadProgress) => void): Promise<WorkerResult<ModelManifest>>;
  /** The active model, or null. */
  activeModel(): Promise<ActiveModel | null>;
  /** Frees the active model's GPU memory if it is `id` (before deleting it). */
  unloadModel(id: string): Promise<void>;

  /** Samples from the active model, streaming text through `onEvent`. */
  generate(taskId: string, request: GenerateRequest, onEvent?: (e: GenerationEvent) => void): Promise<WorkerResult<GenerationSummary>>;

  /** The kernel variants chosen on this adapter for the active model, and why (the GPU panel). */
  kernelTuning(): Promise<KernelTuningReport>;
  /** Measures the variants for the active model again (also on a software adapter). */
  tuneKernels(): Promise<KernelTuningReport>;
  /** Forces variants, "matmul_forward=tiled8,..." ("" = automatic): debugging and benchmarks. */
  forceKernelVariants(text: string): Promise<WorkerResult<KernelTuningReport>>;

  /** Aborts a running task (import, activation, generation); unknown ids are ignored. */
  cancel(taskId: string): Promise<void>;
}
