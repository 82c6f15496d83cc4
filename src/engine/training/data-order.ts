// The order in which a run sees its examples, and the run's random numbers: our own small PRNG
// (sfc32, seeded through splitmix32) so that the sequence is the same in every browser and in
// Node, and its state is four integers that a checkpoint stores.
//
// Each epoch is a fresh Fisher-Yates permutation of the training examples from a generator
// seeded by (seed, epoch), so the batches of step k are a pure function of (seed, number of
// examples, batch settings, k): resuming at step k needs only k. Micro-batches are consecutive
// slices of the epoch's permutation; an optimizer step takes gradient_accumulation_steps of them
// (the last step of an epoch may take fewer, as transformers' Trainer does), and the last
// micro-batch of an epoch may be short (no drop_last).

import { stepsPerEpoch } from './schedule.js';

export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** sfc32: 128 bits of state, passes PractRand to 2^42 bytes; plenty for shuffles and seeds. */
export class Rng {
  private s: RngState;

  constructor(seedOrState: number | readonly number[], stream = 0) {
    if (typeof seedOrState === 'number') {
      const mix = splitmix32((seedOrState ^ Math.imul(stream + 1, 0x632be5ab)) >>> 0);
      this.s = [mix(), mix(), mix(), mix()];
      for (let i = 0; i < 12; i++) this.nextU32();
    } else {
      if (seedOrState.length !== 4 || !seedOrState.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
        throw new Error(`rng state must be four 32-bit unsigned integers, got ${JSON.stringify(seedOrState)}`);
      }
      this.s = [...seedOrState] as RngState;
    }
  }

  nextU32(): number {
    let [a, b, c, d] = this.s;
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    this.s = [a >>> 0, b, c, d];
    return t;
  }

  /** Uniform in [0, 1) with 32 bits. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), unbiased (rejection). */
  int(n: number): number {
    if (!(Number.isInteger(n) && n > 0 && n <= 0x100000000)) throw new Error(`rng.int: ${n} is not a positive 32-bit count`);
    const limit = Math.floor(4294967296 / n) * n;
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  get state(): RngState {
    return [...this.s] as RngState;
  }
}

/** A Fisher-Yates permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

export interface DataOrderSettings {
  seed: number;
  examples: number;
  batchSize: number;
  gradAccum: number;
  /** false: epochs in dataset order (evaluation, tests). */
  shuffle?: boolean;
}

export interface StepPlan {
  step: number;
  epoch: number;
  /** Index of this step within its epoch. */
  stepInEpoch: number;
  /** Example indices of each micro-batch. */
  microBatches: number[][];
}

/** Stream 1 of the seed: the data order (stream 0 is left to other uses of the seed). */
const ORDER_STREAM = 1;

export class DataOrder {
  readonly microBatchesPerEpoch: number;
  readonly stepsPerEpoch: number;
  private cache: { epoch: number; perm: Int32Array } | null = null;

  constructor(readonly settings: DataOrderSettings) {
    const { examples, batchSize, gradAccum } = settings;
    if (!(examples > 0)) throw new Error('the training split has no examples');
    const s = stepsPerEpoch(examples, batchSize, gradAccum);
    this.microBatchesPerEpoch = s.microBatches;
    this.stepsPerEpoch = s.steps;
  }

  /** The permutation of epoch e. */
  epochOrder(epoch: number): Int32Array {
    if (this.cache?.epoch === epoch) return this.cache.perm;
    const n = this.settings.examples;
    const perm =
      this.settings.shuffle === false
        ? Int32Array.from({ length: n }, (_, i) => i)
        : permutation(n, new Rng((this.settings.seed + Math.imul(epoch, 0x9e3779b1)) >>> 0, ORDER_STREAM));
    this.cache = { epoch, perm };
    return perm;
  }

  /** The micro-batches of optimizer step `step` (0-based). */
  plan(step: number): StepPlan {
    const { batchSize, gradAccum, examples } = this.settings;
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const stepInEpoch = step % this.stepsPerEpoch;
    const perm = this.epochOrder(epoch);
    const microBatches: number[][] = [];
    const first = stepInEpoch * gradAccum;
    const last = Math.min(first + gradAccum, this.microBatchesPerEpoch);
    for (let m = first; m < last; m++) {
      microBatches.push(Array.from(perm.subarray(m * batchSize, Math.min((m + 1) * batchSize, examples))));
    }
    return { step, epoch, stepInEpoch, microBatches };
  }

  /** Epochs completed after `steps` optimizer steps, as TRL logs `epoch`. */
  epochAfter(steps: number): number {
    return steps / this.stepsPerEpoch;
  }
}
