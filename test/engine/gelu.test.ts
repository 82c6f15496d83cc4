import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { geluBackward, geluForward } from '../../src/engine/kernels/gelu.js';
import {
  erfApprox,
  erfcApprox,
  geluBackwardCpu,
  geluCpu,
  geluForwardCpu,
  normalCdfApprox,
  type GeluVariant,
} from '../../src/engine/cpu/gelu.js';
import { dot, expectClose, finiteDifferences, randn } from '../support/numeric.js';

// ---- float64 references for erf and erfc, independent of the approximation ----

/** erf(z) = 2/√π · e^(−z²) · Σ 2ⁿ z^(2n+1) / (1·3·…·(2n+1)): all terms positive, no cancellation. */
function erfSeries(z: number): number {
  let term = z;
  let sum = z;
  for (let n = 1; n < 500 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * z * z) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
}

/** erfc(z), z >= 2: e^(−z²)/√π · 1/(z + ½/(z + 1/(z + (3/2)/(z + …)))), evaluated from the tail. */
function erfcContinuedFraction(z: number): number {
  let f = z;
  for (let k = 300; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

function erfcReference(z: number): number {
  return z >= 2 ? erfcContinuedFraction(z) : 1 - erfSeries(z);
}

const linspace = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)));

/** max |got/want − 1| over xs. */
function maxRel(xs: number[], got: (x: number) => number, want: (x: number) => number): number {
  let m = 0;
  for (const x of xs) {
    const w = want(x);
    m = Math.max(m, w === 0 ? Math.abs(got(x)) : Math.abs(got(x) / w - 1));
  }
  return m;
}

describe('erf approximation (shared by the CPU twin and the WGSL)', () => {
  it('the references agree with each other where both are accurate', () => {
    // 1 − erf loses ~1e-16 absolute: at z <= 3 (erfc >= 2.2e-5) that is < 1e-11 relative.
    const rel = maxRel(linspace(2, 3, 101), (z) => 1 - erfSeries(z), erfcContinuedFraction);
    expect(rel).toBeLessThan(1e-10);
    expect(erfSeries(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erfcContinuedFraction(4)).toBeCloseTo(1.541725790028002e-8, 22);
  });

  it('erf has relative error < 1e-8 on [-6, 6]', () => {
    // Fitted polynomial on |z| < 1: 1.2e-9; 1 − erfc beyond: 6.2e-9 (both measured).
    const zs = linspace(-6, 6, 12001);
    expect(maxRel(zs, erfApprox, erfSeries)).toBeLessThan(1e-8);
    // Odd, and exactly 0 at 0.
    for (const z of [0.3, 1, 2.5]) expect(erfApprox(-z)).toBe(-erfApprox(z));
    expect(erfApprox(0)).toBe(0);
  });

  it('erfc (the left tail of Φ) has relative error < 1.2e-7 on [0, 6]', () => {
    // Numerical Recipes' bound; measured 1.05e-7 near z = 4.7.
    expect(maxRel(linspace(0, 6, 6001), erfcApprox, erfcReference)).toBeLessThan(1.2e-7);
  });

  it('Φ(x) = ½(1 + erf(x/√2)) has relative error < 1.2e-7 on [-12, 12], and matches known values', () => {
    const want = (x: number) => 0.5 * erfcReference(-x * Math.SQRT1_2);
    expect(maxRel(linspace(-12, 12, 4801), normalCdfApprox, want)).toBeLessThan(1.2e-7);
    expectClose([normalCdfApprox(1), normalCdfApprox(-1), normalCdfApprox(2)], [0.8413447460685429, 0.15865525393145707, 0.9772498680518208], {
      atol: 0, rtol: 1e-8, what: 'Φ(1), Φ(-1), Φ(2)',
    });
    // gelu_erf(x) = x·Φ(x); gelu_tanh(1) = ½(1 + tanh(√(2/π)·1.044715)).
    expect(geluCpu(1, 'erf')).toBeCloseTo(0.8413447460685429, 8);
    expect(geluCpu(1, 'tanh')).toBeCloseTo(0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715)), 14);
    expect(Math.abs(geluCpu(1, 'tanh') - geluCpu(1, 'erf'))).toBeGreaterThan(1e-4);
  });
});

// Unit normals times 3 and a sweep of [-12, 12] through both tails and the branch points.
function inputs(N: number, seed: number): Float32Array {
  const x = randn(N, seed, 3);
  const sweep = linspace(-12, 12, Math.min(N, 481));
  for (let i = 0; i < sweep.length; i++) x[i] = sweep[i]!;
  return x;
}

// ---- tolerances ----
// GPU vs CPU twin (same formulas, f32 vs float64): largest measured 4.8e-7 absolute on values
// ~5 (1e-7 relative), forward and backward, both variants. Relative error grows only where
// values are tiny: the far left tail (f32 rounding of x² inside exp: 2.6e-6 relative at x = -4.9,
// where |gelu| ~ 2e-6) and the zero of gelu' at x = -0.752 (cancellation in Φ + x·φ). So
// rtol 2e-6 with an absolute floor of 1e-7; a wrong variant or derivative term is O(1e-3..1).
const TOL = { atol: 1e-7, rtol: 2e-6 };

const VARIANTS: GeluVariant[] = ['tanh', 'erf'];
const SHAPES = [1, 255, 1000, 4097];
const CASES = VARIANTS.flatMap((v) => SHAPES.map((N) => [v, N] as const));

describe('gelu GPU', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES)('forward (%s) matches CPU for N=%i, out of place and in place', async (variant, N) => {
    const engine = await testEngine();
    const x = inputs(N, 1);
    const want = new Float32Array(N);
    geluForwardCpu(want, x, N, variant);
    const tx = engine.fromArray(x, [N]), out = engine.tensor([N]);
    geluForward(engine, out, tx, N, variant);
    expectClose(await engine.readF32(out), want, { ...TOL, what: `gelu ${variant} N=${N}` });
    geluForward(engine, tx, tx, N, variant);
    expectClose(await engine.readF32(tx), want, { ...TOL, what: `in-place gelu ${variant} N=${N}` });
    engine.release(tx, out);
  });

  it.each(CASES)('backward (%s) matches CPU for N=%i, out of place and in place', async (variant, N) => {
    const engine = await testEngine();
    const x = inputs(N, 2), dout = randn(N, 3);
    const want = new Float32Array(N);
    geluBackwardCpu(want, dout, x, N, variant);
    const tx = engine.fromArray(x, [N]), td = engine.fromArray(dout, [N]);
    const dinp = engine.fromArray(randn(N, 4), [N]); // stale values must be overwritten
    geluBackward(engine, dinp, td, tx, N, variant);
    expectClose(await engine.readF32(dinp), want, { ...TOL, what: `dgelu ${variant} N=${N}` });
    geluBackward(engine, td, td, tx, N, variant);
    expectClose(await engine.readF32(td), want, { ...TOL, what: `in-place dgelu ${variant} N=${N}` });
    engine.release(tx, td, dinp);
  });

  it('exact GELU on the GPU stays within 2e-6 + 1.5e-7·x² relative of the float64 reference on [-8, 8]', async () => {
    const engine = await testEngine();
    const xs = Float32Array.from(linspace(-8, 8, 3201));
    const tx = engine.fromArray(xs, [xs.length]), out = engine.tensor([xs.length]);
    geluForward(engine, out, tx, xs.length, 'erf');
    const got = await engine.readF32(out);
    // Reference on the same f32 inputs. Measured on SwiftShader: <= 1.2e-7 relative for x >= 1,
    // 6.7e-7 on [-2, 1] (0.5 + 0.5·erf(z) cancels), then growing like x² in the left tail (f32
    // rounding of x² and of exp's argument: 1.5e-6 at x = -3, 6e-6 at x = -8, where the values
    // are below 1e-14). A wrong branch or coefficient is >= 1e-4.
    xs.forEach((x, i) => {
      const want = x * 0.5 * erfcReference(-x * Math.SQRT1_2);
      const rel = want === 0 ? Math.abs(got[i]!) : Math.abs(got[i]! / want - 1);
      if (!(rel <= 2e-6 + 1.5e-7 * x * x)) throw new Error(`gelu(${x}) = ${got[i]} on the GPU, want ${want}: relative error ${rel}`);
      if (x >= 1 && !(rel <= 5e-7)) throw new Error(`gelu(${x}) = ${got[i]} on the GPU, want ${want}: relative error ${rel}`);
    });
    engine.release(tx, out);
  });

  it('rejects wrong sizes and a dinp that aliases inp', async () => {
    const engine = await testEngine();
    const a = engine.tensor([4]), b = engine.tensor([5]);
    expect(() => geluForward(engine, a, b, 4, 'erf')).toThrow(/inp/);
    expect(() => geluBackward(engine, a, b, a, 4, 'tanh')).toThrow();
    expect(() => geluBackward(engine, a, a, a, 4, 'tanh')).toThrow(/alias/);
    engine.release(a, b);
  });
});

describe('gelu CPU backward', () => {
  // float64, h = 1e-4. tanh: the analytic derivative; truncation ~h²·f'''/6 ~ 1e-9 (measured
  // 1.4e-9). erf: the backward uses the exact density while the forward uses the approximation,
  // whose smooth ripple (< 1.2e-7 of Φ) has a small derivative (measured 1.5e-8); test points
  // stay away from the branch points |x| = √2, where the two approximations meet with a ~1e-8
  // step. A wrong term is O(1e-2).
  const xs = [-7, -4.5, -3, -2, -1.2, -0.7, -0.1, 0, 0.3, 0.9, 1.3, 1.6, 2.5, 3.7, 6];
  it.each([
    ['tanh', 1e-8],
    ['erf', 1e-7],
  ] as [GeluVariant, number][])('equals finite differences of the forward (%s)', (variant, atol) => {
    const N = xs.length;
    const x = Float64Array.from(xs);
    const w = Float64Array.from(randn(N, 5));
    const out = new Float64Array(N);
    const loss = () => (geluForwardCpu(out, x, N, variant), dot(out, w));
    const dx = new Float64Array(N);
    geluBackwardCpu(dx, w, x, N, variant);
    expectClose(dx, finiteDifferences(x, loss, 1e-4), { atol, rtol: atol, what: `dgelu ${variant}` });
  });
});
