// The benchmark's measuring core, the same in the page and in Node: the timing loop, our kernel's
// column, the plain TypeScript loop's column, and the spot check that every method computed the
// same product. Nothing here touches the DOM or Node APIs.
import type { Engine } from '../src/engine/gpu/engine.js';
import type { AdapterReport } from '../src/engine/gpu/device.js';
import { matmulForward } from '../src/engine/kernels/matmul.js';
import { matmulForwardCpu } from '../src/engine/cpu/matmul.js';
import { benchInput, benchWeight } from './data.mjs';

export interface Shape {
  M: number;
  C: number;
  OC: number;
}

/** Column keys, in table order. */
export const METHODS = [
  'ours',
  'ort-webgpu-gemm',
  'ort-webgpu-matmul',
  'ort-wasm-gemm',
  'ort-wasm-matmul',
  'ts-loop',
] as const;
export type Method = (typeof METHODS)[number];

export interface TimingOptions {
  /** Untimed iterations first (pipeline compilation, ORT's first-run allocations). */
  warmup: number;
  /** Timed repetitions of `iters` iterations each; the median is reported. */
  reps: number;
  /** Fixed iterations per repetition; when absent, enough to last about `targetMs`. */
  iters?: number;
  targetMs: number;
  maxIters: number;
  /** The TS loop runs only where 2·M·C·OC is at most this (it takes seconds beyond). */
  cpuMaxFlop: number;
}

export interface Timing {
  /** Median over repetitions of (wall time of `iters` iterations + the final wait) / iters. */
  msPerIter: number;
  minMsPerIter: number;
  iters: number;
  reps: number;
  samplesMs: number[];
}

export type MethodResult =
  | ({ status: 'ok'; gflops: number; maxAbsErr: number; errTol: number; checkedRows: number } & Timing)
  | { status: 'skipped'; reason: string }
  | { status: 'error'; message: string };

export interface ShapeResult extends Shape {
  flop: number;
  methods: Partial<Record<Method, MethodResult>>;
  /** Our kernel with each variant forced (--variants; src/engine/tuning/variants.ts), by name. */
  variants?: Record<string, MethodResult>;
}

export type AdapterInfo = Pick<AdapterReport, 'vendor' | 'architecture' | 'description' | 'isFallbackAdapter'> & {
  features?: AdapterReport['features'];
};

export const flopOf = ({ M, C, OC }: Shape) => 2 * M * C * OC;

const now = () => performance.now();

/**
 * Times `step` (which queues one product) with `done` (which waits until everything queued has
 * finished) once at the end of each repetition: GPU work is submitted back to back and the clock
 * stops when the queue drains, so per-iteration host overhead counts only where it is exposed.
 */
export async function measure(
  step: () => unknown,
  done: () => Promise<void>,
  o: TimingOptions,
): Promise<Timing> {
  for (let i = 0; i < o.warmup; i++) await step();
  await done();
  let iters = o.iters;
  if (iters === undefined) {
    const t0 = now();
    await step();
    await done();
    iters = Math.max(1, Math.min(o.maxIters, Math.ceil(o.targetMs / Math.max(now() - t0, 1e-3))));
  }
  const samplesMs: number[] = [];
  for (let r = 0; r < o.reps; r++) {
    const t0 = now();
    for (let i = 0; i < iters; i++) await step();
    await done();
    samplesMs.push((now() - t0) / iters);
  }
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    msPerIter: sorted[Math.floor(sorted.length / 2)]!,
    minMsPerIter: sorted[0]!,
    iters,
    reps: o.reps,
    samplesMs,
  };
}

/** The benchmark's operands for a shape (bench/data.mjs; the ONNX models hold the same weight). */
export function operands({ M, C, OC }: Shape): { inp: Float32Array<ArrayBuffer>; weight: Float32Array<ArrayBuffer> } {
  return { inp: benchInput(M, C, OC), weight: benchWeight(M, C, OC) };
}

/**
 * Largest |out - exact| over a few rows (first, last and some between), the exact values summed
 * in float64; the full product on the CPU would take longer than the benchmark at large shapes.
 */
export function spotCheck(out: Float32Array, inp: Float32Array, weight: Float32Array, { M, C, OC }: Shape) {
  const rows = new Set([0, M - 1]);
  for (let i = 1; rows.size < Math.min(M, 8); i++) rows.add(Math.floor((i * M) / 7.3) % M);
  let maxAbsErr = 0;
  for (const m of rows) {
    for (let o = 0; o < OC; o++) {
      let exact = 0;
      for (let c = 0; c < C; c++) exact += inp[m * C + c]! * weight[o * C + c]!;
      const err = Math.abs(out[m * OC + o]! - exact);
      maxAbsErr = Number.isNaN(err) ? Infinity : Math.max(maxAbsErr, err);
    }
  }
  // Operands are uniform in [-1, 1): each fp32 sum of C products may drift by a few ulps of its
  // running magnitude per step; 4e-6·C is far above honest rounding (~1e-5 at C = 1024) and far
  // below any indexing or tiling mistake (errors of order 1).
  return { maxAbsErr, errTol: 4e-6 * C, checkedRows: rows.size };
}

export function okResult(shape: Shape, t: Timing, check: ReturnType<typeof spotCheck>): MethodResult {
  return { status: 'ok', gflops: flopOf(shape) / (t.msPerIter * 1e6), ...t, ...check };
}

/** One progress line: `256x256x768 ours: 0.87 GFLOP/s (...)`. */
export function describeResult({ M, C, OC }: Shape, method: Method, r: MethodResult): string {
  const what =
    r.status === 'ok'
      ? `${r.gflops.toFixed(2)} GFLOP/s (${r.msPerIter.toFixed(3)} ms x ${r.iters} x ${r.reps}, max err ${r.maxAbsErr.toExponential(1)})`
      : r.status === 'skipped' ? `skipped: ${r.reason}` : `ERROR ${r.message}`;
  return `${M}x${C}x${OC} ${method}: ${what}`;
}

export function errorResult(e: unknown): MethodResult {
  return { status: 'error', message: e instanceof Error ? e.message : String(e) };
}

/** Our WGSL matmul: out (M, OC) = inp (M, C) · weight (OC, C)ᵀ, no bias (ORT's MatMul has none). */
export async function benchOurs(engine: Engine, shape: Shape, o: TimingOptions, variant?: string): Promise<MethodResult> {
  const { M, C, OC } = shape;
  const { inp, weight } = operands(shape);
  const inpT = engine.fromArray(inp, [M, C], 'f32', 'bench.inp'); // (M, C)
  const weightT = engine.fromArray(weight, [OC, C], 'f32', 'bench.weight'); // (OC, C)
  const outT = engine.tensor([M, OC], 'f32', 'bench.out'); // (M, OC)
  try {
    const t = await measure(
      () => matmulForward(engine, outT, inpT, weightT, null, M, C, OC, { variant }),
      () => engine.sync(),
      o,
    );
    const check = spotCheck(await engine.readF32(outT), inp, weight, shape);
    // The f16-arithmetic variant rounds operands and products to 11 bits: ~1e-3·sqrt(C) on these
    // operands (uniform in [-1, 1)); a tiling or indexing mistake is still of order 1.
    if (variant === 'f16') check.errTol = 2e-3 * Math.sqrt(C);
    return okResult(shape, t, check);
  } finally {
    engine.release(inpT, weightT, outT);
  }
}

/** The plain TypeScript triple loop: the engine's CPU twin, src/engine/cpu/matmul.ts. */
export async function benchTsLoop(shape: Shape, o: TimingOptions): Promise<MethodResult> {
  if (flopOf(shape) > o.cpuMaxFlop) {
    return { status: 'skipped', reason: `2·M·C·OC above ${o.cpuMaxFlop.toExponential(0)} (seconds per product)` };
  }
  const { M, C, OC } = shape;
  const { inp, weight } = operands(shape);
  const out = new Float32Array(M * OC); // (M, OC)
  // The slowest column: always self-calibrated (never --iters), half the time budget.
  const t = await measure(
    () => matmulForwardCpu(out, inp, weight, null, M, C, OC),
    async () => {},
    { ...o, iters: undefined, warmup: 1, reps: Math.min(o.reps, 3), targetMs: o.targetMs / 2 },
  );
  return okResult(shape, t, spotCheck(out, inp, weight, shape));
}
