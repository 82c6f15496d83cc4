// Numeric helpers shared by the kernel tests: seeded data, tolerant comparison with a report
// of the worst element, and central finite differences.
import { expect } from 'vitest';

/** Mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Box-Muller
    const u = Math.max(r(), 1e-12);
    const v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export function randInts(n: number, max: number, seed: number): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * max);
  return out;
}

export interface Diff {
  maxAbs: number;
  maxRel: number;
  worst: number;
}

export function diff(actual: ArrayLike<number>, expected: ArrayLike<number>): Diff {
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const d = Math.abs(a - e);
    if (!(d <= maxAbs) || Number.isNaN(a)) {
      maxAbs = Number.isNaN(a) ? Infinity : d;
      worst = i;
    }
    maxRel = Math.max(maxRel, d / Math.max(Math.abs(e), 1e-6));
  }
  return { maxAbs, maxRel, worst };
}

/**
 * Asserts |actual - expected| <= atol + rtol·|expected| everywhere (llm.c's rule); on failure the
 * message names the worst element and the max abs and relative error.
 */
/** PREFSTUDIO_REPORT_ERRORS=1 prints every comparison's measured error: the numbers behind tolerances. */
const REPORT_ERRORS = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env
  .PREFSTUDIO_REPORT_ERRORS === '1';

export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-4, what = 'values' }: { atol?: number; rtol?: number; what?: string } = {},
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let bad = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      bad = i;
      break;
    }
  }
  if (REPORT_ERRORS) {
    const d = diff(actual, expected);
    console.log(`${what}: max abs err ${d.maxAbs.toExponential(2)}, max rel err ${d.maxRel.toExponential(2)}`);
  }
  if (bad >= 0) {
    const d = diff(actual, expected);
    const w = d.worst;
    throw new Error(
      `${what}: mismatch at [${bad}] got ${actual[bad]} want ${expected[bad]}; ` +
        `max abs err ${d.maxAbs.toExponential(3)} at [${w}] (got ${actual[w]}, want ${expected[w]}), ` +
        `max rel err ${d.maxRel.toExponential(3)}; tolerance atol ${atol} rtol ${rtol}`,
    );
  }
}

/**
 * Central finite differences of a scalar function f(x) with respect to each entry of x
 * (x is perturbed in place and restored). Run in float64 where the caller's f allows.
 */
export function finiteDifferences(x: Float32Array | Float64Array, f: () => number, h = 1e-3): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const orig = x[i]!;
    x[i] = orig + h;
    const fp = f();
    x[i] = orig - h;
    const fm = f();
    x[i] = orig;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** Σ w_i · y_i: a random projection turns a tensor output into the scalar finite differences need. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
