// The forward benchmark's core, the same in the page and in Node: batch shapes, the token ids,
// our engine's column (TransformerModel.forward to full logits, resident on the GPU) and the
// check that every method computed the same logits. Nothing here touches the DOM or Node APIs.
import type { Engine } from '../src/engine/gpu/engine.js';
import type { LoadedModel } from '../src/engine/model/load.js';
import { TransformerModel, type TokenBatch } from '../src/engine/transformer/model.js';
import { measure, type AdapterInfo, type Timing, type TimingOptions } from './core.js';

/** A batch of B rows of T tokens, no padding. */
export interface BatchShape {
  B: number;
  T: number;
}

export const FORWARD_METHODS = ['ours', 'ort-webgpu', 'ort-wasm'] as const;
export type ForwardMethod = (typeof FORWARD_METHODS)[number];

export type ForwardResult =
  | ({ status: 'ok'; tokensPerSec: number; maxAbsDiff: number | null; diffTol: number } & Timing)
  | { status: 'skipped'; reason: string }
  | { status: 'error'; message: string };

export interface ForwardShapeResult extends BatchShape {
  methods: Partial<Record<ForwardMethod, ForwardResult>>;
}

export interface ForwardReport {
  adapter: AdapterInfo;
  model: { name: string; arch: string; parameters: number; vocab: number; hidden: number; layers: number; dtype: string };
  results: ForwardShapeResult[];
}

/**
 * Both engines compute fp32 logits of magnitude up to ~20 for the demo model (parity.test.ts:
 * max difference 1.3e-5); 1e-3 is far above summation-order noise and far below any wrong op.
 */
export const LOGITS_TOL = 1e-3;

/**
 * How the benchmark loads a model: the suites feed seeded ids below the model's vocabulary and
 * never tokenize text, so a tokenizer larger than the embedding (tiny-random-gpt2) is accepted.
 */
export const BENCH_LOAD_OPTIONS = { acknowledge: ['tokenizer-vocab-mismatch'] };

/** Seeded token ids (B, T) in [3, V): the same for every method. */
export function batchIds({ B, T }: BatchShape, V: number): Int32Array {
  const ids = new Int32Array(B * T);
  let s = 12345 + B * 977 + T;
  for (let i = 0; i < ids.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    ids[i] = 3 + (s % (V - 3));
  }
  return ids;
}

/** The logits of a few rows (first and last position of the first and last row), for the check. */
export function sampleRows({ B, T }: BatchShape): number[] {
  return [...new Set([0, T - 1, (B - 1) * T, B * T - 1])];
}

export function pickRows(logits: ArrayLike<number>, rows: number[], V: number): Float32Array {
  const out = new Float32Array(rows.length * V);
  rows.forEach((r, i) => {
    for (let v = 0; v < V; v++) out[i * V + v] = logits[r * V + v]!;
  });
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
  }
  return d;
}

export function forwardOk(shape: BatchShape, t: Timing, maxAbs: number | null): ForwardResult {
  return { status: 'ok', tokensPerSec: (shape.B * shape.T) / (t.msPerIter / 1000), ...t, maxAbsDiff: maxAbs, diffTol: LOGITS_TOL };
}

export function forwardError(e: unknown): ForwardResult {
  return { status: 'error', message: e instanceof Error ? e.message : String(e) };
}

/** One progress line: `4x64 ours: 1234 tokens/s (...)`. */
export function describeForward({ B, T }: BatchShape, method: ForwardMethod, r: ForwardResult): string {
  const what =
    r.status === 'ok'
      ? `${r.tokensPerSec.toFixed(0)} tokens/s (${r.msPerIter.toFixed(2)} ms x ${r.iters} x ${r.reps}` +
        `${r.maxAbsDiff === null ? '' : `, max |logit diff| ${r.maxAbsDiff.toExponential(1)}`})`
      : r.status === 'skipped' ? `skipped: ${r.reason}` : `ERROR ${r.message}`;
  return `${B}x${T} ${method}: ${what}`;
}

export function modelSummary(name: string, m: LoadedModel): ForwardReport['model'] {
  const dtypes = new Set([...m.weights.values()].map((w) => w.dtype));
  return {
    name,
    arch: m.arch,
    parameters: m.parameterCount,
    vocab: m.config.vocabSize,
    hidden: m.config.hidden,
    layers: m.config.layers,
    dtype: [...dtypes].join('+'),
  };
}

/**
 * Our engine: ids uploaded, every block, the final norm and the LM head for every position,
 * logits (B, T, V) left on the GPU (released after each forward, as a caller that reads only
 * some of them would). `reference`: the sampled rows to check against (null: no check).
 */
export async function benchOursForward(
  engine: Engine,
  model: TransformerModel,
  shape: BatchShape,
  o: TimingOptions,
  reference: Float32Array | null,
): Promise<{ result: ForwardResult; sampled: Float32Array }> {
  const V = model.config.vocabSize;
  const batch: TokenBatch = { B: shape.B, T: shape.T, ids: batchIds(shape, V), mask: null };
  const sampled = pickRows(await model.logits(batch), sampleRows(shape), V);
  const t = await measure(
    () => engine.release(model.forward(batch).logits),
    () => engine.sync(),
    o,
  );
  return { result: forwardOk(shape, t, reference ? maxAbsDiff(sampled, reference) : null), sampled };
}
