import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { swigluBackward, swigluForward } from '../../src/engine/kernels/swiglu.js';
import { swigluBackwardCpu, swigluForwardCpu } from '../../src/engine/cpu/swiglu.js';
import { geluForwardCpu } from '../../src/engine/cpu/gelu.js';
import { dot, expectClose, finiteDifferences, randn } from '../support/numeric.js';

// (N, H): N·H = 1, 300, 2100, 8481, 65792: only the last is a multiple of 256.
const SHAPES: [number, number][] = [[1, 1], [3, 100], [7, 300], [33, 257], [2, 32896]];

/** Unit-normal gates (times 3) with a few saturated ones: sigmoid must not overflow either way. */
function gates(n: number, seed: number): Float32Array {
  const g = randn(n, seed, 3);
  const extremes = [-100, 100, -30, 30, -88, 89];
  for (let k = 0; k < extremes.length && k < n; k++) g[(k * 7919) % n] = extremes[k]!;
  return g;
}

/** [gate | up] per row. */
function fuse(gate: Float32Array, up: Float32Array, N: number, H: number): Float32Array {
  const gu = new Float32Array(2 * N * H);
  for (let n = 0; n < N; n++) {
    gu.set(gate.subarray(n * H, (n + 1) * H), 2 * n * H);
    gu.set(up.subarray(n * H, (n + 1) * H), 2 * n * H + H);
  }
  return gu;
}

// ---- tolerances ----
// GPU vs CPU: one exp (a few f32 ulps; WGSL allows 3 + 2|x| ulps), a division and two products
// in f32 against float64 rounded once: largest measured 1.9e-6 absolute on a value of 18.7
// (1e-7 relative); results below ~1e-38 (gate -100) flush to zero on the GPU. rtol 1e-5 plus
// atol 1e-6 leave room for other GPUs' exp, while a wrong derivative term or a swapped gate/up
// is O(0.1) relative.
const TOL = { atol: 1e-6, rtol: 1e-5 };

// The gate's activation: silu (SwiGLU) and the tanh GELU (GeGLU, Gemma); every case runs both.
const ACTS = ['silu', 'gelu_tanh'] as const;
const CASES = ACTS.flatMap((activation) => SHAPES.map(([N, H]) => [N, H, activation] as const));

describe('swiglu', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES)('forward matches CPU for N=%i H=%i (%s), separate and fused', async (N, H, activation) => {
    const engine = await testEngine();
    const g = gates(N * H, 1), u = randn(N * H, 2);
    const want = new Float32Array(N * H);
    swigluForwardCpu(want, g, u, N, H, { activation });
    const tg = engine.fromArray(g, [N, H]), tu = engine.fromArray(u, [N, H]), out = engine.tensor([N, H]);
    swigluForward(engine, out, tg, tu, N, H, { activation });
    const got = await engine.readF32(out);
    expect(got.every(Number.isFinite)).toBe(true);
    expectClose(got, want, { ...TOL, what: `forward N=${N} H=${H}` });
    // Fused input: the same values.
    const gu = fuse(g, u, N, H);
    const wantF = new Float32Array(N * H);
    swigluForwardCpu(wantF, gu, null, N, H, { fused: true, activation });
    expectClose(wantF, want, { atol: 0, rtol: 0, what: 'CPU fused = separate' });
    const tgu = engine.fromArray(gu, [N, 2 * H]);
    swigluForward(engine, out, tgu, null, N, H, { fused: true, activation });
    expectClose(await engine.readF32(out), want, { ...TOL, what: `fused forward N=${N} H=${H}` });
    engine.release(tg, tu, tgu, out);
  });

  it.each(CASES)('backward matches CPU for N=%i H=%i (%s), separate and fused', async (N, H, activation) => {
    const engine = await testEngine();
    const g = gates(N * H, 3), u = randn(N * H, 4), dout = randn(N * H, 5);
    const wantG = new Float32Array(N * H), wantU = new Float32Array(N * H);
    swigluBackwardCpu(wantG, wantU, dout, g, u, N, H, { activation });
    const tg = engine.fromArray(g, [N, H]), tu = engine.fromArray(u, [N, H]), td = engine.fromArray(dout, [N, H]);
    // Stale contents must be overwritten (activation gradients are assigned).
    const dg = engine.fromArray(randn(N * H, 6), [N, H]), du = engine.fromArray(randn(N * H, 7), [N, H]);
    swigluBackward(engine, dg, du, td, tg, tu, N, H, { activation });
    const gotG = await engine.readF32(dg);
    expect(gotG.every(Number.isFinite)).toBe(true);
    expectClose(gotG, wantG, { ...TOL, what: `dgate N=${N} H=${H}` });
    expectClose(await engine.readF32(du), wantU, { ...TOL, what: `dup N=${N} H=${H}` });
    // Fused: one (N, 2H) gradient, [dgate | dup] per row.
    const gu = fuse(g, u, N, H);
    const wantF = new Float32Array(2 * N * H);
    swigluBackwardCpu(wantF, null, dout, gu, null, N, H, { fused: true, activation });
    expectClose(wantF, fuse(wantG, wantU, N, H), { atol: 0, rtol: 0, what: 'CPU fused = separate' });
    const tgu = engine.fromArray(gu, [N, 2 * H]);
    const dgu = engine.fromArray(randn(2 * N * H, 8), [N, 2 * H]);
    swigluBackward(engine, dgu, null, td, tgu, null, N, H, { fused: true, activation });
    expectClose(await engine.readF32(dgu), wantF, { ...TOL, what: `fused dgu N=${N} H=${H}` });
    engine.release(tg, tu, td, dg, du, tgu, dgu);
  });

  // float64 with h = 1e-4: truncation ~h²·f'''/6 ~ 1e-9 and rounding ~1e-16/h ~ 1e-12, far below
  // the 1e-7 tolerance; a wrong derivative term is O(0.1).
  it.each(ACTS.flatMap((activation) => [[false, activation], [true, activation]] as const))('backward equals finite differences of the forward (float64), fused=%s, %s', (fused, activation) => {
    const N = 3, H = 7;
    const g = Float64Array.from(randn(N * H, 9, 2)), u = Float64Array.from(randn(N * H, 10));
    const gu = Float64Array.from(fuse(Float32Array.from(g), Float32Array.from(u), N, H));
    const w = Float64Array.from(randn(N * H, 11));
    const out = new Float64Array(N * H);
    if (!fused) {
      const loss = () => (swigluForwardCpu(out, g, u, N, H, { activation }), dot(out, w));
      const dg = new Float64Array(N * H), du = new Float64Array(N * H);
      swigluBackwardCpu(dg, du, w, g, u, N, H, { activation });
      expectClose(dg, finiteDifferences(g, loss, 1e-4), { atol: 1e-7, rtol: 1e-6, what: 'dgate' });
      expectClose(du, finiteDifferences(u, loss, 1e-4), { atol: 1e-7, rtol: 1e-6, what: 'dup' });
    } else {
      const loss = () => (swigluForwardCpu(out, gu, null, N, H, { fused: true, activation }), dot(out, w));
      const dgu = new Float64Array(2 * N * H);
      swigluBackwardCpu(dgu, null, w, gu, null, N, H, { fused: true, activation });
      expectClose(dgu, finiteDifferences(gu, loss, 1e-4), { atol: 1e-7, rtol: 1e-6, what: 'dgu' });
    }
  });

  it('GeGLU is the tanh GELU of the gate times up (against the gelu kernel\'s CPU twin)', () => {
    const N = 2, H = 5;
    const g = randn(N * H, 12, 3), u = randn(N * H, 13);
    const got = new Float32Array(N * H), act = new Float32Array(N * H);
    swigluForwardCpu(got, g, u, N, H, { activation: 'gelu_tanh' });
    geluForwardCpu(act, g, N * H, 'tanh');
    expectClose(got, act.map((a, i) => a * u[i]!), { atol: 1e-7, rtol: 1e-6, what: 'geglu' });
    // and it is not silu
    const silu = new Float32Array(N * H);
    swigluForwardCpu(silu, g, u, N, H);
    expect(Math.max(...silu.map((x, i) => Math.abs(x - got[i]!)))).toBeGreaterThan(1e-2);
  });

  it('rejects wrong sizes and mixed fused arguments', async () => {
    const engine = await testEngine();
    const a = engine.tensor([2, 3]), b = engine.tensor([2, 3]), gu = engine.tensor([2, 6]);
    expect(() => swigluForward(engine, a, gu, b, 2, 3)).toThrow(/gate/);
    expect(() => swigluForward(engine, a, gu, b, 2, 3, { fused: true })).toThrow(/null/);
    expect(() => swigluForward(engine, a, b, null, 2, 3)).toThrow(/up/);
    expect(() => swigluForward(engine, a, a, b, 2, 3)).toThrow(/alias/);
    expect(() => swigluForward(engine, a, gu, null, 2, 3, { fused: true, activation: 'relu' as 'silu' })).toThrow(/relu/);
    engine.release(a, b, gu);
  });
});
