import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { gradNorm, type GradNormOptions } from '../../src/engine/kernels/grad-norm.js';
import { adamwUpdate } from '../../src/engine/kernels/adamw.js';
import { gradNormCpu } from '../../src/engine/cpu/grad-norm.js';
import { adamwUpdateCpu } from '../../src/engine/cpu/adamw.js';
import { expectClose, randn } from '../support/numeric.js';

// Odd sizes: one element, under a workgroup, not a multiple of 256, and several workgroups
// (70000 = 17 full 4096-element groups and a partial one).
const SIZES = [1, 255, 1000, 70000];

// The GPU sums squares in f32 (at most a few dozen terms per thread, then 8-level trees); random
// rounding leaves the sum within a few 1e-7 relative of the float64 one and its square root
// within half that: rtol 5e-7 on the norm (measured <= 6.2e-8); the scale maxNorm / (norm +
// 1e-6) inherits it plus one f32 division: rtol 5e-7 (measured <= 6.8e-8).
const NORM_TOL = { atol: 0, rtol: 5e-7 };
const SCALE_TOL = { atol: 0, rtol: 5e-7 };

function makeGrads(sizes: number[], seed: number): Float32Array[] {
  // Different magnitudes per tensor so no single one dominates.
  return sizes.map((n, i) => randn(n, seed + i, 10 ** (i % 3 - 1)));
}

async function runGpu(engine: Engine, grads: Float32Array[], maxNorm: number, options?: GradNormOptions) {
  const tensors = grads.map((g) => engine.fromArray(g, [g.length]));
  const norm = engine.tensor([1]), scale = engine.tensor([1]);
  gradNorm(engine, norm, scale, tensors, maxNorm, options);
  const out = { norm: (await engine.readF32(norm))[0]!, scale: (await engine.readF32(scale))[0]! };
  engine.release(norm, scale, ...tensors);
  return out;
}

function runCpu(grads: Float32Array[], maxNorm: number) {
  const norm = new Float64Array(1), scale = new Float64Array(1);
  gradNormCpu(norm, scale, grads, maxNorm);
  return { norm: norm[0]!, scale: scale[0]! };
}

describe('gradNorm', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it('CPU twin: norm of known values and the clip_grad_norm_ factor', () => {
    // 3-4-5 and 12 -> sqrt(9 + 16 + 144) = 13
    const norm = new Float64Array(1), scale = new Float64Array(1);
    gradNormCpu(norm, scale, [Float32Array.of(3, 4), Float32Array.of(12)], 6.5);
    expect(norm[0]).toBe(13);
    expect(scale[0]).toBeCloseTo(6.5 / (13 + 1e-6), 15);
    gradNormCpu(norm, scale, [Float32Array.of(3, 4)], 100);
    expect(scale[0]).toBe(1);
  });

  it.each([
    ['each size alone', SIZES.map((n) => [n])],
    ['all four together', [SIZES]],
    ['reversed, with an empty tensor', [[70000, 0, 1000, 255, 1]]],
  ])('GPU matches the float64 CPU twin: %s', async (_, lists) => {
    const engine = await testEngine();
    for (const sizes of lists as number[][]) {
      const grads = makeGrads(sizes, sizes.length * 13 + sizes[0]!);
      const want = runCpu(grads, Infinity);
      // Clipping active (scale ~ 1/3) and inactive (maxNorm above the norm).
      for (const maxNorm of [want.norm / 3, want.norm * 2]) {
        const got = await runGpu(engine, grads, maxNorm);
        const ref = runCpu(grads, maxNorm);
        expectClose([got.norm], [ref.norm], { ...NORM_TOL, what: `norm [${sizes}]` });
        expectClose([got.scale], [ref.scale], { ...SCALE_TOL, what: `scale [${sizes}] maxNorm ${maxNorm}` });
      }
    }
  });

  it('grid-stride loop (2 workgroups per tensor) gives the same norm', async () => {
    const engine = await testEngine();
    const grads = makeGrads(SIZES, 50);
    const got = await runGpu(engine, grads, 1, { maxGroups: 2 });
    const ref = runCpu(grads, 1);
    expectClose([got.norm], [ref.norm], { ...NORM_TOL, what: 'norm, 2 groups' });
    expectClose([got.scale], [ref.scale], { ...SCALE_TOL, what: 'scale, 2 groups' });
  });

  it('many small tensors (LoRA-like): 300 partials, more than one per finishing thread', async () => {
    const engine = await testEngine();
    const sizes = Array.from({ length: 300 }, (_, i) => 1 + ((i * 37) % 500));
    const grads = makeGrads(sizes, 55);
    const got = await runGpu(engine, grads, 2);
    const ref = runCpu(grads, 2);
    expectClose([got.norm], [ref.norm], { ...NORM_TOL, what: 'norm, 300 tensors' });
    expectClose([got.scale], [ref.scale], { ...SCALE_TOL, what: 'scale, 300 tensors' });
  });

  it('is deterministic: the same bits on every run', async () => {
    const engine = await testEngine();
    const grads = makeGrads(SIZES, 60);
    const first = await runGpu(engine, grads, 0.5);
    for (let k = 0; k < 3; k++) expect(await runGpu(engine, grads, 0.5)).toEqual(first);
  });

  it('maxNorm = Infinity gives scale 1; no gradients give norm 0', async () => {
    const engine = await testEngine();
    const grads = makeGrads([1000], 70);
    const got = await runGpu(engine, grads, Infinity);
    expect(got.scale).toBe(1);
    expectClose([got.norm], [runCpu(grads, Infinity).norm], { ...NORM_TOL, what: 'norm, no clip' });
    expect(await runGpu(engine, [], 1)).toEqual({ norm: 0, scale: 1 });
    const a = engine.tensor([1]), b = engine.tensor([1]);
    expect(() => gradNorm(engine, a, b, [], -1)).toThrow(/maxNorm/);
    engine.release(a, b);
  });

  it('clip scale feeds AdamW on the GPU without a readback', async () => {
    const engine = await testEngine();
    const sizes = [255, 1000];
    const grads = makeGrads(sizes, 80);
    const params = sizes.map((n, i) => randn(n, 90 + i));
    const { scale, norm } = runCpu(grads, 0.25);
    expect(scale).toBeLessThan(1);
    const gp = params.map((p) => engine.fromArray(p, [p.length]));
    const gg = grads.map((g) => engine.fromArray(g, [g.length]));
    const gm = sizes.map((n) => engine.zeros([n])), gv = sizes.map((n) => engine.zeros([n]));
    const normT = engine.tensor([1]), scaleT = engine.tensor([1]);
    const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    for (let t = 1; t <= 2; t++) {
      gradNorm(engine, normT, scaleT, gg, 0.25);
      sizes.forEach((n, i) => adamwUpdate(engine, gp[i]!, gg[i]!, gm[i]!, gv[i]!, scaleT, n, { ...hyper, step: t }));
    }
    expectClose(await engine.readF32(normT), [norm], { ...NORM_TOL, what: 'norm' });
    for (let i = 0; i < sizes.length; i++) {
      const n = sizes[i]!;
      const p = params[i]!.slice(), m = new Float32Array(n), v = new Float32Array(n);
      for (let t = 1; t <= 2; t++) adamwUpdateCpu(p, grads[i]!, m, v, scale, n, { ...hyper, step: t });
      // AdamW's tolerance (adamw.test.ts); the scale's 5e-7 relative error only reaches p
      // through m̂/sqrt(v̂) near eps (the step is scale-invariant elsewhere). m scales with it.
      expectClose(await engine.readF32(gp[i]!), p, { atol: 2e-6, rtol: 2e-6, what: `param ${i}` });
      expectClose(await engine.readF32(gm[i]!), m, { atol: 1e-7, rtol: 1e-5, what: `m ${i}` });
    }
    engine.release(normT, scaleT, ...gp, ...gg, ...gm, ...gv);
  });
});
