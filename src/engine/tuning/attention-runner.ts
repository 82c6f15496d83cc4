// The tuner on a real Engine for the attention kernels (src/engine/kernels/attention.ts), as
// matmul-runner.ts (both on variant-runner.ts): a model's attention calls (training T = Tq = Tk,
// forward and backward; decoding Tq = 1 against Tk cached keys, forward), each variant that fits
// the shape compiled inside error scopes, run once and compared with the safe kernel's result,
// then timed.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import type { TransformerConfig } from '../transformer/config.js';
import { attentionBackward, attentionForward, attentionVariantFits } from '../kernels/attention.js';
import type { TuneTask } from './tuner.js';
import { applicableVariants, attentionShapeClass, SAFE, type TunedKernel } from './variants.js';
import { VariantTuneRunner, type Operands } from './variant-runner.js';

/** One attention call: q (B, Tq, NH, HS) against k, v (B, Tk, NKV, HS). */
export interface AttentionShape {
  B: number;
  Tq: number;
  Tk: number;
  NH: number;
  NKV: number;
  HS: number;
}

type AttentionKernel = 'attention_forward' | 'attention_backward';

interface AttentionTask extends TuneTask {
  kernel: AttentionKernel;
  shape: AttentionShape;
}

export function isAttentionKernel(kernel: TunedKernel): kernel is AttentionKernel {
  return kernel === 'attention_forward' || kernel === 'attention_backward';
}

/**
 * A model's attention calls at M rows (the tuner's rows: tokens of a batch): training over
 * B = M / T sequences of T tokens (T at most 256, as the train and logprobs commands tune, and at
 * most the model's positions; B at most 16 to bound the measurement), and decoding one token
 * against T cached keys. Other T take the nearest measured bucket (KernelChoices).
 */
export function modelAttentionShapes(cfg: TransformerConfig, M: number): AttentionShape[] {
  const T = Math.max(1, Math.min(M, cfg.maxPositions || M, 256));
  const B = Math.max(1, Math.min(16, Math.floor(M / T)));
  const heads = { NH: cfg.heads, NKV: cfg.kvHeads, HS: cfg.headDim };
  return [{ B, Tq: T, Tk: T, ...heads }, { B: 1, Tq: 1, Tk: T, ...heads }];
}

/** One task per (kernel, shape class), with the variants that can run it here (the safe one first). */
export function attentionTuneTasks(engine: Engine, shapes: AttentionShape[], kernels: readonly TunedKernel[]): TuneTask[] {
  const tasks = new Map<string, AttentionTask>();
  for (const s of shapes) {
    for (const kernel of kernels) {
      if (!isAttentionKernel(kernel)) continue;
      if (kernel === 'attention_backward' && s.Tq !== s.Tk) continue; // training only
      const cls = attentionShapeClass(s.Tq, s.NH, s.NKV, s.HS);
      if (tasks.has(`${kernel}|${cls}`)) continue;
      tasks.set(`${kernel}|${cls}`, {
        kernel, shapeClass: cls, shape: s,
        label: `${kernel} B=${s.B} Tq=${s.Tq} Tk=${s.Tk} NH=${s.NH} NKV=${s.NKV} HS=${s.HS}`,
        variants: applicableVariants(kernel, engine.report)
          .filter((v) => s.Tq <= (v.maxRows ?? Infinity))
          .filter((v) => attentionVariantFits(engine, kernel, v.name, s.Tq, s.NH, s.NKV, s.HS) === null)
          .map((v) => v.name),
      });
    }
  }
  return [...tasks.values()];
}

/** Runs the attention variants of a task on `engine` (see VariantTuneRunner). */
export class AttentionTuneRunner extends VariantTuneRunner<AttentionTask> {
  protected makeOperands(task: AttentionTask): Operands {
    const { B, Tq, Tk, NH, NKV, HS } = task.shape;
    const e = this.engine;
    const tensors: Operands = {
      q: this.input(B * Tq * NH * HS, 1, 'q'),
      k: this.input(B * Tk * NKV * HS, 2, 'k'),
      v: this.input(B * Tk * NKV * HS, 3, 'v'),
      out: e.tensor([B * Tq * NH * HS], 'f32', 'tune.out'),
      lse: e.tensor([B * NH * Tq], 'f32', 'tune.lse'),
    };
    if (task.kernel === 'attention_backward') {
      // The backward's inputs come from the safe forward.
      attentionForward(e, tensors.out!, tensors.lse!, tensors.q!, tensors.k!, tensors.v!, null, B, Tq, Tk, NH, NKV, HS, { variant: SAFE });
      tensors.dout = this.input(B * Tq * NH * HS, 4, 'dout');
      tensors.dq = e.tensor([B * Tq * NH * HS], 'f32', 'tune.dq');
      tensors.dk = e.tensor([B * Tk * NKV * HS], 'f32', 'tune.dk');
      tensors.dv = e.tensor([B * Tk * NKV * HS], 'f32', 'tune.dv');
    }
    return tensors;
  }

  /** Forward: out, lse; backward: dq, dk, dv (the safe kernel's, concatenated, are the reference). */
  protected run(task: AttentionTask, variant: string, t: Operands): Tensor[] {
    const { B, Tq, Tk, NH, NKV, HS } = task.shape;
    if (task.kernel === 'attention_forward') {
      attentionForward(this.engine, t.out!, t.lse!, t.q!, t.k!, t.v!, null, B, Tq, Tk, NH, NKV, HS, { variant });
      return [t.out!, t.lse!];
    }
    attentionBackward(this.engine, t.dq!, t.dk!, t.dv!, t.dout!, t.q!, t.k!, t.v!, t.out!, t.lse!, null, B, Tq, NH, NKV, HS, { variant });
    return [t.dq!, t.dk!, t.dv!];
  }
}
