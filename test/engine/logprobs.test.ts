import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { logprobsBackward, logprobsForward } from '../../src/engine/kernels/logprobs.js';
import { logprobsBackwardCpu, logprobsForwardCpu } from '../../src/engine/cpu/logprobs.js';
import { applicableVariants } from '../../src/engine/tuning/variants.js';
import { dot, expectClose, finiteDifferences, randInts, randn, rng } from '../support/numeric.js';

// The forward runs in every variant of logprobs_forward the test adapter can run (safe first;
// "subgroup" where the adapter has subgroups: lavapipe, SwiftShader in Chromium).
const FORWARD_VARIANTS = applicableVariants('logprobs_forward', (await testEngine()).report).map((v) => v.name);

// (N, V): one element, a tiny vocab, sizes that are not multiples of the 256-thread workgroup
// (or of the 1024 columns a backward workgroup covers), and real vocabularies (Llama 2, GPT-2).
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [17, 1000],
  [5, 32000],
  [9, 50257],
];

interface Case {
  logits: Float32Array; // (N, V)
  targets: Int32Array; // (N)
  dlogp: Float32Array; // (N)
}

/**
 * Logits ~ 3·N(0, 1) with ~2% of entries at ±80 or ±100 (exp(100) overflows f32 and so does
 * Σexp(80) over a row of V > 6000, so a kernel that skips the max shift fails); row 1 is all +100
 * but its target column, which is -100 (logp ≈ -200 - log(V - 1)). Every third row from row 2
 * is masked (-1, or HF's ignore index -100). dlogp is nonzero on masked rows too: the backward
 * must zero them itself.
 */
function makeCase(N: number, V: number, seed: number): Case {
  const logits = randn(N * V, seed, 3);
  const r = rng(seed + 1);
  for (let i = 0; i < logits.length; i++) {
    const u = r();
    if (u < 0.02) logits[i] = [80, -80, 100, -100][Math.floor(u * 200)]!;
  }
  const targets = randInts(N, V, seed + 2);
  if (N > 1 && V > 1) {
    logits.fill(100, V, 2 * V);
    logits[V + targets[1]!] = -100;
  }
  for (let n = 2; n < N; n += 3) targets[n] = n % 2 === 0 ? -1 : -100;
  return { logits, targets, dlogp: randn(N, seed + 3) };
}

function forwardCpu(c: Case, N: number, V: number) {
  const logp = new Float32Array(N), lse = new Float32Array(N), logitSum = new Float32Array(N), aligned = new Float32Array(N);
  logprobsForwardCpu(logp, lse, logitSum, aligned, c.logits, c.targets, N, V);
  return { logp, lse, logitSum, aligned };
}

/** Largest Σ_v |logits[n, v]| over rows: the scale of the f32 rounding error of a row sum. */
function maxAbsRowSum(logits: Float32Array, N: number, V: number): number {
  let worst = 0;
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.abs(logits[n * V + v]!);
    worst = Math.max(worst, s);
  }
  return worst;
}

// Tolerances (f32 GPU against the float64 twin):
// - lse and logp: the GPU rounds lse (up to ~110 here) and logp (down to ~-210, ulp 1.5e-5) to
//   f32, and sums up to 50257 exps in f32 (relative error ~1e-6 of Σexp, the same absolute
//   error in its log): 5e-5 abs. aligned = logp - (log s2 - 2·log s) adds two more such logs of
//   f32 sums: the same tolerance.
// - logitSum: f32 sum of V terms, per thread then a tree; random rounding errors grow like
//   sqrt(terms)·6e-8·Σ|x|; atol 1e-7·Σ|x| of the worst row (measured: <= 7e-10·Σ|x|).
// - dlogits: both sides read the same f32 lse, so only exp and the product differ: rtol 1e-5
//   (measured <= 5e-7 on values > 1e-6) plus atol 1e-7 for tiny probabilities (measured 5e-8).
const LSE_ATOL = 5e-5;
const SUM_RTOL = 1e-7;
const DLOGITS_TOL = { atol: 1e-7, rtol: 1e-5 };

describe('logprobs', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(FORWARD_VARIANTS.flatMap((variant) => SHAPES.map(([N, V]) => [variant, N, V] as const)))('forward %s matches CPU for N=%i V=%i (masked rows, ±80 logits)', async (variant, N, V) => {
    const engine = await testEngine();
    const c = makeCase(N, V, 11 * N + V);
    const want = forwardCpu(c, N, V);
    for (const x of want.logp) expect(Number.isFinite(x)).toBe(true);
    const logits = engine.fromArray(c.logits, [N, V]), targets = engine.fromArray(c.targets, [N], 'i32');
    const logp = engine.tensor([N]), lse = engine.tensor([N]), logitSum = engine.tensor([N]), aligned = engine.tensor([N]);
    logprobsForward(engine, logp, lse, logitSum, aligned, logits, targets, N, V, undefined, { variant });
    expectClose(await engine.readF32(logp), want.logp, { atol: LSE_ATOL, rtol: 1e-6, what: `${variant} logp ${N}x${V}` });
    expectClose(await engine.readF32(lse), want.lse, { atol: LSE_ATOL, rtol: 1e-6, what: `${variant} lse ${N}x${V}` });
    const sumTol = SUM_RTOL * maxAbsRowSum(c.logits, N, V);
    expectClose(await engine.readF32(logitSum), want.logitSum, { atol: sumTol, rtol: 0, what: `${variant} logitSum ${N}x${V}` });
    expectClose(await engine.readF32(aligned), want.aligned, { atol: LSE_ATOL, rtol: 1e-6, what: `${variant} aligned ${N}x${V}` });
    engine.release(logits, targets, logp, lse, logitSum, aligned);
  });

  it('CPU forward: uniform logits give -log V, and a masked row gives zeros', () => {
    const V = 6;
    const logits = Float32Array.of(...new Array<number>(V).fill(2.5), ...new Array<number>(V).fill(1));
    const logp = new Float64Array(2), lse = new Float64Array(2), logitSum = new Float64Array(2), aligned = new Float64Array(2);
    logprobsForwardCpu(logp, lse, logitSum, aligned, logits, Int32Array.of(4, -100), 2, V);
    expectClose(logp, [-Math.log(V), 0], { atol: 1e-12, rtol: 0, what: 'logp' });
    expectClose(lse, [2.5 + Math.log(V), 0], { atol: 1e-12, rtol: 0, what: 'lse' });
    expectClose(logitSum, [2.5 * V, 0], { atol: 1e-12, rtol: 0, what: 'logitSum' });
    // p = 1/V everywhere: Σp² = 1/V, so aligned = log(1/V) - log(1/V) = 0.
    expectClose(aligned, [0, 0], { atol: 1e-12, rtol: 0, what: 'aligned' });
  });

  it('CPU forward: aligned = log p_target - log Σ_v p_v² (WPO), from explicit probabilities', () => {
    const V = 5;
    const x = Float64Array.of(1.5, -0.3, 2.2, 0.4, -1.1, 40, 41, -60, 39.5, 0);
    const targets = Int32Array.of(2, 0);
    const aligned = new Float64Array(2);
    logprobsForwardCpu(new Float64Array(2), new Float64Array(2), null, aligned, x, targets, 2, V);
    const want = [0, 1].map((n) => {
      const row = Array.from(x.subarray(n * V, (n + 1) * V));
      const z = row.reduce((s, v) => s + Math.exp(v - 41), 0);
      const p = row.map((v) => Math.exp(v - 41) / z);
      return Math.log(p[targets[n]!]!) - Math.log(p.reduce((s, q) => s + q * q, 0));
    });
    expectClose(aligned, want, { atol: 1e-12, rtol: 1e-12, what: 'aligned' });
  });

  it.each(FORWARD_VARIANTS)('forward %s without lse and logitSum outputs (inference entry) matches CPU', async (variant) => {
    const engine = await testEngine();
    const [N, V] = [6, 777];
    const c = makeCase(N, V, 5);
    const want = forwardCpu(c, N, V);
    const logits = engine.fromArray(c.logits, [N, V]), targets = engine.fromArray(c.targets, [N], 'i32');
    const logp = engine.tensor([N]);
    logprobsForward(engine, logp, null, null, null, logits, targets, N, V, undefined, { variant });
    expectClose(await engine.readF32(logp), want.logp, { atol: LSE_ATOL, rtol: 1e-6, what: `${variant} logp (no lse)` });
    // aligned alone: entry `main` with a temporary logit sum.
    const aligned = engine.tensor([N]);
    logprobsForward(engine, logp, null, null, aligned, logits, targets, N, V, undefined, { variant });
    expectClose(await engine.readF32(aligned), want.aligned, { atol: LSE_ATOL, rtol: 1e-6, what: `${variant} aligned (alone)` });
    engine.release(logits, targets, logp, aligned);
  });

  it('chunks of rows fill the full-batch outputs like one pass, forward and backward', async () => {
    const engine = await testEngine();
    const [N, V, chunkRows] = [17, 1000, 5];
    const c = makeCase(N, V, 21);
    const want = forwardCpu(c, N, V);
    const wantD = new Float32Array(N * V);
    logprobsBackwardCpu(wantD, c.dlogp, c.logits, c.targets, want.lse, N, V);
    const targets = engine.fromArray(c.targets, [N], 'i32'), dlogp = engine.fromArray(c.dlogp, [N]);
    const logp = engine.tensor([N]), lse = engine.tensor([N]), logitSum = engine.tensor([N]), aligned = engine.tensor([N]);
    const gotD = new Float32Array(N * V);
    for (let row0 = 0; row0 < N; row0 += chunkRows) {
      const rows = Math.min(chunkRows, N - row0);
      const logits = engine.fromArray(c.logits.subarray(row0 * V, (row0 + rows) * V), [rows, V]);
      logprobsForward(engine, logp, lse, logitSum, aligned, logits, targets, N, V, { row0, rows });
      logprobsBackward(engine, logits, dlogp, logits, targets, lse, N, V, { row0, rows }); // in place
      gotD.set(await engine.readF32(logits), row0 * V);
      engine.release(logits);
    }
    expectClose(await engine.readF32(logp), want.logp, { atol: LSE_ATOL, rtol: 1e-6, what: 'chunked logp' });
    expectClose(await engine.readF32(lse), want.lse, { atol: LSE_ATOL, rtol: 1e-6, what: 'chunked lse' });
    const sumTol = SUM_RTOL * maxAbsRowSum(c.logits, N, V);
    expectClose(await engine.readF32(logitSum), want.logitSum, { atol: sumTol, rtol: 0, what: 'chunked logitSum' });
    expectClose(await engine.readF32(aligned), want.aligned, { atol: LSE_ATOL, rtol: 1e-6, what: 'chunked aligned' });
    expectClose(gotD, wantD, { ...DLOGITS_TOL, what: 'chunked in-place dlogits' });
    engine.release(targets, dlogp, logp, lse, logitSum, aligned);
  });

  it.each(SHAPES)('backward matches CPU for N=%i V=%i, separate and in place; rows sum to 0', async (N, V) => {
    const engine = await testEngine();
    const c = makeCase(N, V, 7 * N + V);
    // Both sides use the same (CPU) lse, so this checks the backward alone.
    const { lse: lseHost } = forwardCpu(c, N, V);
    const want = new Float32Array(N * V);
    logprobsBackwardCpu(want, c.dlogp, c.logits, c.targets, lseHost, N, V);
    const logits = engine.fromArray(c.logits, [N, V]), targets = engine.fromArray(c.targets, [N], 'i32');
    const lse = engine.fromArray(lseHost, [N]), dlogp = engine.fromArray(c.dlogp, [N]);
    const dlogits = engine.tensor([N, V]);
    logprobsBackward(engine, dlogits, dlogp, logits, targets, lse, N, V);
    const got = await engine.readF32(dlogits);
    expectClose(got, want, { ...DLOGITS_TOL, what: `dlogits ${N}x${V}` });
    logprobsBackward(engine, logits, dlogp, logits, targets, lse, N, V);
    expectClose(await engine.readF32(logits), want, { ...DLOGITS_TOL, what: `in-place dlogits ${N}x${V}` });
    for (let n = 0; n < N; n++) {
      const row = got.subarray(n * V, (n + 1) * V);
      if (c.targets[n]! < 0) {
        expect(row.every((x) => x === 0), `masked row ${n} is all zero`).toBe(true);
        continue;
      }
      // Σ_v (onehot - softmax) = 0. Every probability shares the f32 rounding of lse (|lse| < 128:
      // half an ulp is 3.8e-6 relative), so Σ softmax is 1 within ~4e-6: bound 2e-5·|dlogp|.
      let s = 0;
      for (const x of row) s += x;
      expect(Math.abs(s), `Σ_v dlogits[${n}] = ${s}`).toBeLessThanOrEqual(2e-5 * Math.abs(c.dlogp[n]!));
    }
    engine.release(logits, targets, lse, dlogp, dlogits);
  });

  it('CPU backward equals finite differences of the CPU forward (float64)', () => {
    for (const [N, V] of [[4, 13], [3, 1], [5, 40]] as [number, number][]) {
      const logits = Float64Array.from(randn(N * V, 31 + V, 2));
      const targets = randInts(N, V, 32);
      targets[N - 2] = -1; // a masked row: zero gradient
      const w = Float64Array.from(randn(N, 33));
      const logp = new Float64Array(N), lse = new Float64Array(N);
      const loss = () => (logprobsForwardCpu(logp, lse, null, null, logits, targets, N, V), dot(logp, w));
      loss();
      const dlogits = new Float64Array(N * V);
      logprobsBackwardCpu(dlogits, w, logits, targets, lse, N, V);
      // Central differences in float64 with h = 1e-4: truncation error ~h²·|f'''| ~ 1e-8.
      expectClose(dlogits, finiteDifferences(logits, loss, 1e-4), { atol: 1e-7, rtol: 1e-6, what: `dlogits ${N}x${V}` });
    }
  });
});
