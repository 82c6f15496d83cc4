// Logit soft-capping (Gemma 2's final_logit_softcapping): GPU against the CPU twin on several
// sizes (not multiples of the workgroup), in place and not; the CPU backward against central
// finite differences of the CPU forward.
import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { softcapBackward, softcapForward } from '../../src/engine/kernels/softcap.js';
import { softcapBackwardCpu, softcapForwardCpu } from '../../src/engine/cpu/softcap.js';
import { dot, expectClose, finiteDifferences, randn } from '../support/numeric.js';

// None a multiple of the 256-thread workgroup; the 2-D grid has its own case below.
const SIZES = [1, 300, 2100, 70001];
const CAPS = [30, 50, 2.5];

/** Logits of a wide spread, with a few far past the cap (tanh saturates, no NaN). */
function logits(n: number, seed: number): Float32Array {
  const x = randn(n, seed, 20);
  const extremes = [1e4, -1e4, 3e38, -3e38, 89, -89];
  for (let k = 0; k < extremes.length && k < n; k++) x[(k * 7919) % n] = extremes[k]!;
  return x;
}

// GPU vs CPU: one exp, a division and a product in f32 against float64 rounded once: a few ulps
// of values below the cap (measured ≤ 4e-6 absolute at cap 50); a wrong cap or a missing
// factor is O(1).
const TOL = { atol: 2e-5, rtol: 2e-6 };

describe('softcap', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(SIZES.flatMap((N) => CAPS.map((cap) => [N, cap] as const)))('forward and backward match CPU for N=%i cap=%s, in place and not', async (N, cap) => {
    const engine = await testEngine();
    const x = logits(N, N + cap);
    const want = new Float32Array(N);
    softcapForwardCpu(want, x, N, cap);
    expect(want.every((y) => Math.abs(y) <= cap)).toBe(true);
    const tx = engine.fromArray(x, [N]);
    const out = engine.fromArray(randn(N, 3), [N]); // stale values must be overwritten
    softcapForward(engine, out, tx, N, cap);
    const got = await engine.readF32(out);
    expect(got.every(Number.isFinite)).toBe(true);
    expectClose(got, want, { ...TOL, what: `forward N=${N} cap=${cap}` });
    softcapForward(engine, tx, tx, N, cap);
    expectClose(await engine.readF32(tx), want, { ...TOL, what: `in-place forward N=${N} cap=${cap}` });

    const dout = randn(N, 4);
    const wantD = new Float32Array(N);
    softcapBackwardCpu(wantD, dout, want, N, cap);
    const td = engine.fromArray(dout, [N]);
    const dinp = engine.fromArray(randn(N, 5), [N]);
    softcapBackward(engine, dinp, td, out, N, cap);
    expectClose(await engine.readF32(dinp), wantD, { ...TOL, what: `backward N=${N} cap=${cap}` });
    softcapBackward(engine, td, td, out, N, cap);
    expectClose(await engine.readF32(td), wantD, { ...TOL, what: `in-place backward N=${N} cap=${cap}` });
    engine.release(tx, out, td, dinp);
  });

  it('runs past 65535 workgroups (2-D grid)', async () => {
    const engine = await testEngine();
    const N = 65536 * 256 + 3;
    const x = randn(N, 6, 40);
    const want = new Float32Array(N);
    softcapForwardCpu(want, x, N, 30);
    const t = engine.fromArray(x, [N]);
    softcapForward(engine, t, t, N, 30);
    expectClose(await engine.readF32(t), want, { ...TOL, what: 'large N' });
    engine.release(t);
  });

  // float64, h = 1e-4: truncation ~h²·f'''/6 ~ 1e-10 for these caps, rounding ~1e-12.
  it.each(CAPS)('CPU backward equals finite differences of the forward (cap %s)', (cap) => {
    const N = 40;
    const x = Float64Array.from(randn(N, 7, cap));
    const w = Float64Array.from(randn(N, 8));
    const out = new Float64Array(N);
    const loss = () => (softcapForwardCpu(out, x, N, cap), dot(out, w));
    loss();
    const dx = new Float64Array(N);
    softcapBackwardCpu(dx, w, out, N, cap);
    expectClose(dx, finiteDifferences(x, loss, 1e-4), { atol: 1e-8, rtol: 1e-7, what: `dx cap=${cap}` });
    // not the identity: values near the cap get small gradients
    expect(Math.min(...dx.map((d, i) => Math.abs(d / w[i]!)))).toBeLessThan(0.9);
  });

  it('rejects a non-positive cap and an aliased output', async () => {
    const engine = await testEngine();
    const a = engine.tensor([4]), b = engine.tensor([4]);
    expect(() => softcapForward(engine, a, b, 4, 0)).toThrow(/cap 0/);
    expect(() => softcapForward(engine, a, b, 4, Number.NaN)).toThrow(/cap/);
    expect(() => softcapBackward(engine, a, b, a, 4, 30)).toThrow(/alias/);
    engine.release(a, b);
  });
});
