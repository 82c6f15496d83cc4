// What the tuner's runners on a real Engine share (matmul-runner.ts, attention-runner.ts): each
// task's operands made once from deterministic values, each variant compiled inside error scopes,
// run once and compared with the safe kernel's result, then timed as a step of PER_STEP calls
// (src/engine/tuning/tuner.ts does the timing). A runner says only how to make a task's operands
// and how to queue one call of a variant.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import type { TuneRunner, TuneTask } from './tuner.js';
import { findVariant, SAFE } from './variants.js';

/** Deterministic values in [-1, 1) (xorshift; the measurement needs no statistics, only numbers). */
export function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    a[i] = ((x >>> 0) / 2 ** 31) - 1;
  }
  return a;
}

export type Operands = Record<string, Tensor>;

/** Runs the variants of a task of type T on `engine` (see TuneRunner). */
export abstract class VariantTuneRunner<T extends TuneTask> implements TuneRunner {
  /** Calls queued per timed step (one sync each): amortises the submit-and-wait overhead. */
  static readonly PER_STEP = 2;
  private operands = new Map<string, { tensors: Operands; reference: Float32Array | null }>();

  constructor(protected readonly engine: Engine) {}

  /** The task's input and output tensors (released by `finish`). */
  protected abstract makeOperands(task: T): Operands;

  /** Queues one call of `variant` on the task's operands; returns the tensors it writes. */
  protected abstract run(task: T, variant: string, t: Operands): Tensor[];

  /** An f32 tensor of n values `filled` from `seed`, labelled tune.<label>. */
  protected input(n: number, seed: number, label: string): Tensor {
    return this.engine.fromArray(filled(n, seed), [n], 'f32', `tune.${label}`);
  }

  private ops(task: T) {
    let o = this.operands.get(task.label);
    if (!o) {
      o = { tensors: this.makeOperands(task), reference: null };
      this.operands.set(task.label, o);
    }
    return o;
  }

  async prepare(task: TuneTask, variant: string): Promise<() => Promise<void>> {
    const a = task as T;
    const e = this.engine;
    const ops = this.ops(a);
    let outs: Tensor[] = [];
    const error = await e.captureErrors(() => {
      outs = this.run(a, variant, ops.tensors);
      e.submit();
    });
    if (error) throw new Error(error);
    const parts = await Promise.all(outs.map((o) => e.readF32(o)));
    const result = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (result.set(p, at), at + p.length), 0);
    if (variant === SAFE) {
      ops.reference = result;
    } else if (ops.reference) {
      const tol = findVariant(a.kernel, variant).tolerance;
      let maxDiff = 0, maxRef = 0;
      for (let i = 0; i < result.length; i++) {
        const d = Math.abs(result[i]! - ops.reference[i]!);
        maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
        maxRef = Math.max(maxRef, Math.abs(ops.reference[i]!));
      }
      const rel = maxDiff / (1 + maxRef);
      if (!(rel <= tol)) throw new Error(`result differs from the safe kernel's by ${rel.toExponential(2)} (relative; allowed ${tol})`);
    }
    return async () => {
      for (let i = 0; i < VariantTuneRunner.PER_STEP; i++) this.run(a, variant, ops.tensors);
      await e.sync();
    };
  }

  finish(task: TuneTask): void {
    const o = this.operands.get(task.label);
    if (o) this.engine.release(...Object.values(o.tensors));
    this.operands.delete(task.label);
  }
}
