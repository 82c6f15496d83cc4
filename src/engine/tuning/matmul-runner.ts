// The tuner on a real Engine: the matmul products of a model (forward, dinp, dweight at its
// layer shapes and row count; the block-quantized forward where the model's base is 4- or 8-bit),
// each variant compiled inside error scopes, run once and compared
// with the safe kernel's result, then timed (variant-runner.ts; src/engine/tuning/tuner.ts does the
// timing). Its attention calls go through attention-runner.ts in the same measurement
// (tuneModelKernels).

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import type { TransformerConfig } from '../transformer/config.js';
import type { ModelWeights } from '../transformer/model.js';
import { quantizeBlockwise, type QuantBits } from '../blockq.js';
import { matmulBackward, matmulForward } from '../kernels/matmul.js';
import { isQuantTensor, matmulNBitsBackward, matmulNBitsForward, uploadBlockQuantized, type QuantTensor } from '../kernels/matmul-nbits.js';
import { attentionTuneTasks, AttentionTuneRunner, isAttentionKernel, modelAttentionShapes, type AttentionShape } from './attention-runner.js';
import { isLoraOrHeadKernel, loraTuneTasks, LoraTuneRunner, modelLoraShapes, modelLogprobsShapes, type LogprobsShape, type LoraShape } from './lora-runner.js';
import { tuneWithCache, type AdapterIdentity, type TuneCache, type TuneOptions, type TuneOutcome, type TuneRunner, type TuneTask } from './tuner.js';
import { applicableVariants, shapeClass, type TunedKernel } from './variants.js';
import { filled, VariantTuneRunner, type Operands } from './variant-runner.js';

/** One linear layer's product: out (M, OC) = inp (M, C) · weight (OC, C)ᵀ. */
export interface MatmulShape {
  M: number;
  C: number;
  OC: number;
  /** The block-quantized weight's layout for matmul_nbits_forward (default QUANT_DEFAULT). */
  quant?: QuantLayout;
  /** Tune only these kernels at this shape (default: every kernel asked for). */
  kernels?: readonly TunedKernel[];
}

/** A block-quantized weight's layout (src/engine/blockq.ts). */
export interface QuantLayout {
  bits: QuantBits;
  blockSize: number;
}

/** What matmul_nbits_forward is measured with when no model says: q4 exports' 4 bits in blocks of 32. */
export const QUANT_DEFAULT: QuantLayout = { bits: 4, blockSize: 32 };

/** The layout of a model's block-quantized linear weights (the first one found), or null when it has none. */
export function modelQuantLayout(w: ModelWeights): QuantLayout | null {
  for (const l of w.layers) {
    for (const lw of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) {
      if (lw && isQuantTensor(lw.weight)) return { bits: lw.weight.bits, blockSize: lw.weight.blockSize };
    }
  }
  return isQuantTensor(w.lmHead.weight) ? { bits: w.lmHead.weight.bits, blockSize: w.lmHead.weight.blockSize } : null;
}

interface TaskShape extends TuneTask {
  shape: MatmulShape;
}

/** The distinct linear-layer shapes of a model at M rows (q, k/v, o, MLP in and out, LM head). */
export function modelMatmulShapes(cfg: TransformerConfig, M: number): MatmulShape[] {
  const C = cfg.hidden;
  const q = cfg.heads * cfg.headDim;
  const kv = cfg.kvHeads * cfg.headDim;
  const pairs: [number, number][] = [[C, q], [C, kv], [q, C], [C, cfg.intermediate], [cfg.intermediate, C], [C, cfg.vocabSize]];
  const seen = new Set<string>();
  return pairs
    .filter(([c, oc]) => !seen.has(`${c}x${oc}`) && (seen.add(`${c}x${oc}`), true))
    .map(([c, oc]) => ({ M, C: c, OC: oc }));
}

/** One task per (kernel, shape class) of these products, with the adapter's applicable variants. */
export function matmulTuneTasks(engine: Engine, shapes: MatmulShape[], kernels: readonly TunedKernel[]): TuneTask[] {
  const tasks = new Map<string, TaskShape>();
  for (const s of shapes) {
    for (const kernel of kernels) {
      if (isAttentionKernel(kernel) || isLoraOrHeadKernel(kernel)) continue; // attention-runner.ts, lora-runner.ts
      if (s.kernels && !s.kernels.includes(kernel)) continue;
      // (M, K, N) as src/engine/kernels/matmul.ts and matmul-nbits.ts ask engine.choices.
      const [K, N] = kernel === 'matmul_forward' || kernel === 'matmul_nbits_forward' ? [s.C, s.OC] : [s.OC, s.C];
      const cls = shapeClass(s.M, K, N);
      if (tasks.has(`${kernel}|${cls}`)) continue;
      tasks.set(`${kernel}|${cls}`, {
        kernel, shapeClass: cls, shape: s,
        label: `${kernel} ${s.M}x${s.C}x${s.OC}`,
        variants: applicableVariants(kernel, engine.report).filter((v) => s.M <= (v.maxRows ?? Infinity)).map((v) => v.name),
      });
    }
  }
  return [...tasks.values()];
}

/** Runs the matmul variants of a task on `engine` (see VariantTuneRunner). */
export class MatmulTuneRunner extends VariantTuneRunner<TaskShape> {
  protected makeOperands(task: TaskShape): Operands {
    const { M, C, OC } = task.shape;
    const e = this.engine;
    if (task.kernel === 'matmul_nbits_forward' || task.kernel === 'matmul_nbits_dinp') {
      const { bits, blockSize } = task.shape.quant ?? QUANT_DEFAULT;
      const w = uploadBlockQuantized(e, quantizeBlockwise(filled(OC * C, 2), OC, C, bits, blockSize, false), 'tune.weight');
      return task.kernel === 'matmul_nbits_forward'
        ? { inp: this.input(M * C, 1, 'inp'), codes: w.codes, sz: w.sz, out: e.tensor([M * OC], 'f32', 'tune.out') }
        : { dout: this.input(M * OC, 3, 'dout'), codes: w.codes, sz: w.sz, dinp: e.tensor([M * C], 'f32', 'tune.dinp') };
    }
    return task.kernel === 'matmul_forward'
      ? { inp: this.input(M * C, 1, 'inp'), weight: this.input(OC * C, 2, 'weight'), out: e.tensor([M * OC], 'f32', 'tune.out') }
      : task.kernel === 'matmul_dinp'
        ? { dout: this.input(M * OC, 3, 'dout'), weight: this.input(OC * C, 2, 'weight'), dinp: e.tensor([M * C], 'f32', 'tune.dinp') }
        : { dout: this.input(M * OC, 3, 'dout'), inp: this.input(M * C, 1, 'inp'), dweight: e.tensor([OC * C], 'f32', 'tune.dweight') };
  }

  /** Queues one product of `variant` (dweight is zeroed first: it accumulates). */
  protected run(task: TaskShape, variant: string, t: Operands): Tensor[] {
    const { M, C, OC } = task.shape;
    const e = this.engine;
    if (task.kernel === 'matmul_forward') {
      matmulForward(e, t.out!, t.inp!, t.weight!, null, M, C, OC, { variant });
      return [t.out!];
    }
    if (task.kernel === 'matmul_nbits_forward' || task.kernel === 'matmul_nbits_dinp') {
      const { bits, blockSize } = task.shape.quant ?? QUANT_DEFAULT;
      const w: QuantTensor = {
        kind: 'blockq', bits, blockSize, rows: OC, cols: C, nBlocks: Math.ceil(C / blockSize), codes: t.codes!, sz: t.sz!, label: 'tune.weight',
      };
      if (task.kernel === 'matmul_nbits_dinp') {
        matmulNBitsBackward(e, t.dinp!, t.dout!, w, M, { variant });
        return [t.dinp!];
      }
      matmulNBitsForward(e, t.out!, t.inp!, w, null, M, { variant });
      return [t.out!];
    }
    if (task.kernel === 'matmul_dinp') {
      matmulBackward(e, t.dinp!, null, null, t.dout!, t.dout!, t.weight!, M, C, OC, { dinpVariant: variant });
      return [t.dinp!];
    }
    const zero = e.zeros([OC * C], 'f32', 'tune.zero');
    e.copy(t.dweight!, zero);
    e.release(zero);
    matmulBackward(e, null, t.dweight!, null, t.dout!, t.inp!, t.inp!, M, C, OC, { dweightVariant: variant });
    return [t.dweight!];
  }
}

export function adapterIdentity(engine: Engine): AdapterIdentity {
  const r = engine.report;
  return { vendor: r.vendor, architecture: r.architecture, description: r.description, driver: r.driver ?? '' };
}

/** A software adapter (SwiftShader, lavapipe): speed there says nothing, so nothing is tuned by default. */
export function isSoftwareAdapter(engine: Engine): boolean {
  const r = engine.report;
  return r.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${r.vendor} ${r.architecture} ${r.description}`);
}

export interface TuneModelOptions extends TuneOptions {
  /**
   * Which products: forward only (inference) or also the backward ones (training);
   * matmul_nbits_forward where the model's base is block-quantized (modelQuantLayout).
   */
  kernels?: readonly TunedKernel[];
  /** The block-quantized weights' layout, measured by matmul_nbits_forward (default QUANT_DEFAULT). */
  quant?: QuantLayout | null;
  /** Attention calls, tuned where `kernels` names attention_forward / attention_backward. */
  attention?: AttentionShape[];
  /** LoRA layers, tuned where `kernels` names lora_xa / lora_dyb / lora_grad. */
  lora?: LoraShape[];
  /** LM head log-softmax calls, tuned where `kernels` names logprobs_forward. */
  logprobs?: LogprobsShape[];
  /** tuneModelKernels: the adapter's rank, for the model's LoRA shapes (none without it). */
  loraRank?: number;
}

/** Routes each task to the runner of its kernel. */
class KernelTuneRunner implements TuneRunner {
  private readonly matmul: MatmulTuneRunner;
  private readonly attention: AttentionTuneRunner;
  private readonly lora: LoraTuneRunner;
  constructor(engine: Engine) {
    this.matmul = new MatmulTuneRunner(engine);
    this.attention = new AttentionTuneRunner(engine);
    this.lora = new LoraTuneRunner(engine);
  }
  private runner(task: TuneTask): TuneRunner {
    return isAttentionKernel(task.kernel) ? this.attention : isLoraOrHeadKernel(task.kernel) ? this.lora : this.matmul;
  }
  prepare(task: TuneTask, variant: string): Promise<() => Promise<void>> {
    return this.runner(task).prepare(task, variant);
  }
  finish(task: TuneTask): void {
    this.runner(task).finish?.(task);
  }
}

/** Chooses the matmul variants for these shapes on this engine: from the cache, or measured. */
export async function tuneMatmuls(
  engine: Engine,
  shapes: MatmulShape[],
  cache: TuneCache | null,
  o: TuneModelOptions = {},
): Promise<TuneOutcome> {
  const kernels = o.kernels ?? ['matmul_forward', 'matmul_dinp'];
  // Shapes for some kernels only (modelTuneShapes' decoding rows) go last: what is left of the budget.
  const tasks = [
    ...matmulTuneTasks(engine, shapes.filter((s) => !s.kernels), kernels),
    ...attentionTuneTasks(engine, o.attention ?? [], kernels),
    ...loraTuneTasks(engine, o.lora ?? [], o.logprobs ?? [], kernels),
    ...matmulTuneTasks(engine, shapes.filter((s) => s.kernels), kernels),
  ];
  return tuneWithCache(engine.choices, adapterIdentity(engine), tasks, new KernelTuneRunner(engine), cache, o);
}

/**
 * `kernels` with matmul_nbits_forward (matmul_nbits_dinp) added where the model's base is
 * block-quantized and the forward (the input gradient) is tuned at all (its linear layers then run
 * the nbits kernels), and that layout to measure them with: what the callers of
 * tuneModelKernels pass for a loaded model.
 */
export function kernelsForModel(kernels: readonly TunedKernel[], weights: ModelWeights): { kernels: TunedKernel[]; quant: QuantLayout | null } {
  const quant = modelQuantLayout(weights);
  const out = [...kernels];
  // The quantized layers' forward and (training) input gradient run the nbits kernels.
  const pairs: [TunedKernel, TunedKernel][] = [['matmul_forward', 'matmul_nbits_forward'], ['matmul_dinp', 'matmul_nbits_dinp']];
  for (const [f32, nbits] of pairs) if (quant && kernels.includes(f32) && !out.includes(nbits)) out.push(nbits);
  return { kernels: out, quant };
}

/**
 * The linear-layer products tuneModelKernels measures: the model's shapes at M rows and, for the
 * forward (f32/f16 and 4/8-bit), also at one row: decoding, which sampling runs every step and
 * where the few-row layouts (subgroup, gemv) are the fast ones; measured after the others, within
 * what is left of the budget.
 */
export function modelTuneShapes(cfg: TransformerConfig, M: number, kernels: readonly TunedKernel[], quant: QuantLayout | null): MatmulShape[] {
  const q = quant ?? undefined;
  const shapes: MatmulShape[] = modelMatmulShapes(cfg, M).map((s) => ({ ...s, quant: q }));
  const decoding = kernels.filter((k) => k === 'matmul_forward' || k === 'matmul_nbits_forward');
  if (M > 1 && decoding.length > 0) {
    shapes.push(...modelMatmulShapes(cfg, 1).map((s): MatmulShape => ({ ...s, quant: q, kernels: decoding })));
  }
  return shapes;
}

/**
 * The kernels of a model at M rows: its linear layers and, where `kernels` names them, its
 * attention, its LM head's log-softmax and (given o.loraRank) its LoRA passes.
 */
export function tuneModelKernels(
  engine: Engine,
  cfg: TransformerConfig,
  M: number,
  cache: TuneCache | null,
  o: TuneModelOptions = {},
): Promise<TuneOutcome> {
  return tuneMatmuls(engine, modelTuneShapes(cfg, M, o.kernels ?? [], o.quant ?? null), cache, {
    ...o,
    attention: o.attention ?? modelAttentionShapes(cfg, M),
    logprobs: o.logprobs ?? modelLogprobsShapes(cfg, M),
    lora: o.lora ?? (o.loraRank ? modelLoraShapes(cfg, M, o.loraRank) : []),
  });
}
