// loadModel: a folder of files → a recognised model, in an order that fails early and cheaply:
//   layout → configs → .onnx parse → operator check (quantized / unknown) → external data sizes →
//   graph tracing and recognition → memory check against the adapter (optional) → tokenizer and
//   its vocabulary check → weight bytes.
// Every failure is a ModelLoadError naming what and where; nothing is kept from a failed load.

import type { TransformerConfig, TransformerWeights, WeightTensor } from '../transformer/config.js';
import { isLinearWeight } from '../transformer/config.js';
import { ModelLoadError, type ModelWarning } from './errors.js';
import { GraphIndex, checkOps } from './graph.js';
import { detectLayout, type ModelLayout, type OnnxDtype } from './layout.js';
import { assertFits, estimateMemory, type AdapterLimits, type FitReport, type GpuWeightDType, type MemoryEstimate } from './memory.js';
import { parseOnnx, type OnnxGraph } from './onnx.js';
import { recognize, type CanonicalWeight, type ConfigField, type Family, type GraphSummary, type Provenance } from './recognize.js';
import { readJson, type ModelSource } from './source.js';
import { TensorStore } from './tensor-store.js';
import { ModelTokenizer } from './tokenizer.js';
import { buildTransformerWeights, toWeightTensor, type WeightDTypeRequest } from './weights.js';
import type { FloatWeightTensor } from '../transformer/config.js';

export interface LoadOptions {
  /** Load this .onnx file (a path in the folder) instead of the one the layout prefers. */
  onnx?: string;
  /** Which variant of the folder to load by precision (layout.ts: model_fp16.onnx → fp16, ...); default: fp16 where present. */
  dtype?: OnnxDtype;
  /** Without `onnx` or `dtype`: choose among several variants under this GPU memory budget for the weights (layout.ts detectLayout, variant-choice.ts), as the Worker's import does; default: the preferred. */
  budgetBytes?: number;
  /** Read the weight bytes (default true). Without, recognition reads only the few it needs. */
  readWeights?: boolean;
  /** Load the tokenizer when the folder has one (default true). */
  tokenizer?: boolean;
  /** Warning codes the caller accepts, e.g. 'tokenizer-vocab-mismatch'. */
  acknowledge?: string[];
  /** Give the engine the f32 / bf16 linear weights and embeddings in f16 (the load-time conversion: half their GPU memory); quantized ones stay packed. */
  f16Weights?: boolean;
  /** Refuse, before reading weights, a model that does not fit this adapter and budget. */
  fit?: { limits: AdapterLimits; budgetBytes: number; dtype?: GpuWeightDType; extraBytes?: number };
}

/** Warnings that stop loading unless acknowledged, with the error code they raise. */
const NEEDS_ACK = new Set(['tokenizer-vocab-mismatch']);

/** Small external tensors (eps, scales, rope frequencies) are read before tracing. */
const SMALL_TENSOR = 4096;

export class LoadedModel {
  constructor(
    readonly source: ModelSource,
    readonly layout: ModelLayout,
    readonly arch: 'llama' | 'gpt2',
    readonly family: Family,
    readonly config: TransformerConfig,
    /** Hugging Face name → stored tensor (see recognize.ts for the naming). */
    readonly weights: Map<string, CanonicalWeight>,
    readonly provenance: Partial<Record<ConfigField, Provenance>>,
    readonly warnings: ModelWarning[],
    readonly graph: GraphSummary,
    readonly tokenizer: ModelTokenizer | null,
    readonly memory: MemoryEstimate,
    readonly fit: FitReport | null,
    /** The parsed .onnx (its modelBytes are the file). */
    readonly onnx: OnnxGraph,
    readonly store: TensorStore,
    readonly configFiles: { config?: Record<string, unknown>; genai?: Record<string, unknown>; generation?: Record<string, unknown> },
    /** The weights the engine gets by default: as stored, or 'f16' (LoadOptions.f16Weights). */
    readonly gpuWeights: 'stored' | 'f16' = 'stored',
  ) {}

  get parameterCount(): number {
    return this.memory.parameters;
  }

  /** Whether weight bytes are at hand (loadModel with readWeights, or after readWeights()). */
  get weightsLoaded(): boolean {
    return [...this.weights.values()].every((w) => this.store.has(w.tensor));
  }

  /** Reads the weight bytes if loadModel was told not to. */
  async readWeights(): Promise<void> {
    await this.store.load();
  }

  /** The stored bytes behind a canonical weight (the whole stored tensor, before any split). */
  storedBytes(name: string): Uint8Array {
    return this.store.bytesSync(this.get(name).tensor);
  }

  private get(name: string): CanonicalWeight {
    const w = this.weights.get(name);
    if (!w) throw new Error(`no weight named ${name} in this ${this.arch} model`);
    return w;
  }

  /** One weight in HF layout, as floats (a block-quantized one dequantized: f32 for 'stored'). */
  weight(name: string, dtype: WeightDTypeRequest = 'stored'): FloatWeightTensor {
    const w = this.get(name);
    return toWeightTensor(w, this.store.bytesSync(w.tensor), dtype, (t) => this.store.bytesSync(t));
  }

  /** Whether any weight is block-quantized (a QLoRA base: MatMulNBits / GatherBlockQuantized). */
  get quantized(): boolean {
    return [...this.weights.values()].some((w) => w.quant !== undefined);
  }

  /**
   * All weights for the transformer; `linear` picks f16/f32 for linear weights and embeddings.
   * Block-quantized weights stay packed (the engine reads them so) for 'stored' and 'f16' ('f16'
   * converts the float ones: the load-time conversion); 'f32' dequantizes them.
   */
  transformerWeights(linear: WeightDTypeRequest = this.gpuWeights): TransformerWeights {
    return buildTransformerWeights(this.weights, (w) => this.store.bytesSync(w.tensor), isLinearWeight, linear, (t) => this.store.bytesSync(t));
  }

  /** The external data files as onnxruntime's `externalData` session option wants them. */
  externalData(): { path: string; data: Uint8Array }[] {
    const dir = this.onnx.file.includes('/') ? this.onnx.file.slice(0, this.onnx.file.lastIndexOf('/') + 1) : '';
    return [...this.store.loadedFiles()].map(([file, data]) => ({ path: file.startsWith(dir) ? file.slice(dir.length) : file, data }));
  }
}

export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  const layout = await detectLayout(source, { onnx: options.onnx, dtype: options.dtype, budgetBytes: options.budgetBytes });
  const config = layout.config ? await readJson(source, layout.config) : undefined;
  const genai = layout.genaiConfig ? await readJson(source, layout.genaiConfig) : undefined;
  const generation = layout.generationConfig ? await readJson(source, layout.generationConfig) : undefined;

  const bytes = await source.read(layout.onnx);
  if (!bytes) throw new ModelLoadError('file-missing', `${layout.onnx} disappeared from ${source.label} while loading`, { file: layout.onnx });
  const graph = parseOnnx(bytes, layout.onnx);
  checkOps(graph);
  const store = new TensorStore(source, graph);
  await store.check();
  const small = new Map<string, Uint8Array>();
  for (const t of store.externalTensors()) if (t.external!.length <= SMALL_TENSOR) small.set(t.name, await store.bytes(t));
  const ix = new GraphIndex(graph, (t) => (t.external ? small.get(t.name) : t.bytes));
  const rec = await recognize(ix, { config, genai, generation }, (t) => store.bytes(t));
  const warnings = rec.warnings.slice();

  const memory = estimateMemory(rec.weights.values());
  const fit = options.fit ? assertFits(memory, options.fit.limits, options.fit.budgetBytes, { dtype: options.fit.dtype, extraBytes: options.fit.extraBytes }) : null;

  let tokenizer: ModelTokenizer | null = null;
  if (options.tokenizer !== false && layout.tokenizer) {
    const tokenizerJson = await readJson(source, layout.tokenizer, 'tokenizer-invalid');
    const chatBytes = layout.chatTemplate ? await source.read(layout.chatTemplate) : undefined;
    tokenizer = new ModelTokenizer({
      tokenizerJson: tokenizerJson!,
      tokenizerConfig: layout.tokenizerConfig ? await readJson(source, layout.tokenizerConfig, 'tokenizer-invalid') : undefined,
      specialTokensMap: layout.specialTokensMap ? await readJson(source, layout.specialTokensMap, 'tokenizer-invalid') : undefined,
      generationConfig: generation,
      chatTemplateFile: chatBytes ? new TextDecoder().decode(chatBytes) : undefined,
    });
    warnings.push(...tokenizerWarnings(tokenizer, rec.config));
  } else if (options.tokenizer !== false) {
    warnings.push({ code: 'no-tokenizer', message: `no tokenizer.json in ${source.label}: ids only` });
  }
  for (const w of warnings) {
    if (NEEDS_ACK.has(w.code) && !options.acknowledge?.includes(w.code)) {
      throw new ModelLoadError(w.code as 'tokenizer-vocab-mismatch', `${w.message}. Load with acknowledge: ['${w.code}'] to use it anyway`, {
        vocabSize: rec.config.vocabSize, tokenizerMaxId: tokenizer?.maxId,
      });
    }
  }

  if (options.readWeights !== false) await store.load();
  return new LoadedModel(source, layout, rec.arch, rec.family, rec.config, rec.weights, rec.provenance, warnings, rec.graph, tokenizer, memory, fit, graph, store, { config, genai, generation }, options.f16Weights ? 'f16' : 'stored');
}

function tokenizerWarnings(tok: ModelTokenizer, c: TransformerConfig): ModelWarning[] {
  const out: ModelWarning[] = [];
  if (tok.maxId >= c.vocabSize) {
    out.push({
      code: 'tokenizer-vocab-mismatch',
      message: `the tokenizer produces ids up to ${tok.maxId} (${tok.size} tokens), but the model's vocabulary has ${c.vocabSize} rows (ids 0..${c.vocabSize - 1}): ` +
        'text tokenized with it will contain ids the model cannot embed',
    });
  }
  const pairs: [string, number | null | undefined, number | null][] = [
    ['bos', tok.bos?.id, c.bosId],
    ['eos', tok.eos?.id, c.eosIds[0] ?? null],
  ];
  for (const [what, tid, cid] of pairs) {
    if (tid !== null && tid !== undefined && cid !== null && tid !== cid && !(what === 'eos' && c.eosIds.includes(tid))) {
      out.push({ code: 'special-token-disagreement', message: `the tokenizer's ${what} token "${what === 'bos' ? tok.bos!.token : tok.eos!.token}" is id ${tid}, the model config says ${what}_token_id ${cid}` });
    }
  }
  return out;
}
