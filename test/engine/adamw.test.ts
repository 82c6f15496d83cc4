import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { adamwUpdate, type AdamWStep } from '../../src/engine/kernels/adamw.js';
import { adamwUpdateCpu } from '../../src/engine/cpu/adamw.js';
import { expectClose, randn } from '../support/numeric.js';

// Element counts: one, just under a workgroup, not a multiple of 256, and a few workgroups + 1.
const SIZES = [1, 255, 1000, 4097];
const STEPS = 5;
const HYPER = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

/**
 * torch.optim.AdamW written out independently, in float64 (PyTorch's own `lerp`/`addcdiv`
 * form is algebraically the same):
 *   g' = g·scale; m = β1·m + (1-β1)·g'; v = β2·v + (1-β2)·g'²
 *   p  = p·(1 - lr·wd) - lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps)
 */
function torchAdamW(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, scale: number, t: number) {
  const { lr, beta1: b1, beta2: b2, eps, weightDecay: wd } = HYPER;
  for (let i = 0; i < p.length; i++) {
    const gs = g[i]! * scale;
    m[i] = b1 * m[i]! + (1 - b1) * gs;
    v[i] = b2 * v[i]! + (1 - b2) * gs * gs;
    const mHat = m[i]! / (1 - Math.pow(b1, t));
    const vHat = v[i]! / (1 - Math.pow(b2, t));
    p[i] = p[i]! * (1 - lr * wd) - (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

/** Gradients for step t; a few tiny ones so sqrt(v̂) is near eps, and an exact zero. */
function gradAt(N: number, t: number): Float32Array {
  const g = randn(N, 100 + t);
  for (let i = 0; i < N; i += 7) g[i] = g[i]! * 1e-7;
  if (N > 3) g[3] = 0;
  return g;
}

// Tolerances: the GPU keeps param, m and v in f32 and rounds each of its ~10 f32 operations
// (sqrt, divisions within 2.5 ulp); after 5 steps on |p| <~ 4 (ulp 4.8e-7) the param is off by
// about two ulp (measured <= 9.5e-7 abs), m by 3e-8 abs (|m| < 0.4), v by 7e-10 abs. Against the
// CPU twin (f32 state, float64 arithmetic): atol 2e-6, rtol 2e-6; against the float64 formula
// with float64 state the state rounding adds a little: atol 4e-6, rtol 4e-6.
const TWIN_TOL = { atol: 2e-6, rtol: 2e-6 };
const F64_TOL = { atol: 4e-6, rtol: 4e-6 };

describe('adamw', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(SIZES)('GPU matches the CPU twin and the float64 formula over 5 steps, N=%i (wd, gradScale < 1)', async (N) => {
    const engine = await testEngine();
    const scale = 0.37;
    const p0 = randn(N, 1);
    const cpu = { p: p0.slice(), m: new Float32Array(N), v: new Float32Array(N) };
    const ref = { p: Float64Array.from(p0), m: new Float64Array(N), v: new Float64Array(N) };
    const param = engine.fromArray(p0, [N]), m = engine.zeros([N]), v = engine.zeros([N]);
    const grad = engine.tensor([N]), gradScale = engine.fromArray(Float32Array.of(scale), [1]);
    for (let t = 1; t <= STEPS; t++) {
      const g = gradAt(N, t);
      engine.upload(grad, g);
      const opts: AdamWStep = { ...HYPER, step: t, zeroGrad: t % 2 === 0 };
      adamwUpdate(engine, param, grad, m, v, gradScale, N, opts);
      adamwUpdateCpu(cpu.p, g.slice(), cpu.m, cpu.v, scale, N, opts);
      torchAdamW(ref.p, g, ref.m, ref.v, scale, t);
      const gAfter = await engine.readF32(grad);
      if (opts.zeroGrad) expect(gAfter.every((x) => x === 0), `grad zeroed at step ${t}`).toBe(true);
      else expectClose(gAfter, g, { atol: 0, rtol: 0, what: `grad untouched at step ${t}` });
    }
    const [gp, gm, gv] = [await engine.readF32(param), await engine.readF32(m), await engine.readF32(v)];
    expectClose(gp, cpu.p, { ...TWIN_TOL, what: `param vs twin N=${N}` });
    expectClose(gm, cpu.m, { ...TWIN_TOL, what: `m vs twin N=${N}` });
    expectClose(gv, cpu.v, { ...TWIN_TOL, what: `v vs twin N=${N}` });
    expectClose(gp, ref.p, { ...F64_TOL, what: `param vs float64 formula N=${N}` });
    expectClose(cpu.p, ref.p, { ...F64_TOL, what: `twin param vs float64 formula N=${N}` });
    expectClose(gm, ref.m, { ...F64_TOL, what: `m vs float64 formula N=${N}` });
    expectClose(gv, ref.v, { ...F64_TOL, what: `v vs float64 formula N=${N}` });
    engine.release(param, m, v, grad, gradScale);
  });

  it('no gradScale buffer means scale 1', async () => {
    const engine = await testEngine();
    const N = 300;
    const p0 = randn(N, 2), g = randn(N, 3);
    const want = Float64Array.from(p0), wm = new Float64Array(N), wv = new Float64Array(N);
    const param = engine.fromArray(p0, [N]), grad = engine.fromArray(g, [N]), m = engine.zeros([N]), v = engine.zeros([N]);
    for (let t = 1; t <= 3; t++) {
      adamwUpdate(engine, param, grad, m, v, null, N, { ...HYPER, step: t });
      torchAdamW(want, g, wm, wv, 1, t);
    }
    expectClose(await engine.readF32(param), want, { ...F64_TOL, what: 'param, unscaled' });
    engine.release(param, grad, m, v);
  });

  it('hand-checked scalar steps (lr 0.1, wd 0.01, betas 0.9/0.999, eps 1e-8)', async () => {
    // p = 1; gradients 0.5, -0.25, 1.0. Worked in float64:
    //   t=1: m = 0.05,  v = 0.00025,    m̂ = 0.5,     v̂ = 0.25,    p = 0.999·1 - 0.1·0.5/(0.5 + 1e-8)          = 0.899000002
    //   t=2: m = 0.02,  v = 0.00031225, m̂ = 0.02/0.19, v̂ = 0.00031225/0.001999, p = 0.8714672987058463
    //   t=3: m = 0.118, v = 0.00131194, m̂ = 0.118/0.271, v̂ = 0.00131194/0.002997001, p = 0.804784672376384
    const want = [0.899000002, 0.8714672987058463, 0.804784672376384];
    const grads = [0.5, -0.25, 1.0];
    const hyper = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const engine = await testEngine();
    const param = engine.fromArray(Float32Array.of(1), [1]), m = engine.zeros([1]), v = engine.zeros([1]);
    const grad = engine.tensor([1]), gradScale = engine.fromArray(Float32Array.of(1), [1]);
    const cpu = { p: Float64Array.of(1), m: new Float64Array(1), v: new Float64Array(1) };
    for (let t = 1; t <= 3; t++) {
      engine.upload(grad, Float32Array.of(grads[t - 1]!));
      adamwUpdate(engine, param, grad, m, v, gradScale, 1, { ...hyper, step: t });
      adamwUpdateCpu(cpu.p, Float64Array.of(grads[t - 1]!), cpu.m, cpu.v, 1, 1, { ...hyper, step: t });
      // f32 state: within two ulp of ~0.9 (6e-8 each; measured <= 5.3e-8).
      expectClose(await engine.readF32(param), [want[t - 1]!], { atol: 1.2e-7, rtol: 0, what: `GPU p after step ${t}` });
      expectClose(cpu.p, [want[t - 1]!], { atol: 1e-15, rtol: 0, what: `CPU p after step ${t}` });
    }
    engine.release(param, m, v, grad, gradScale);
  });

  it('rejects a step below 1 and aliased state', async () => {
    const engine = await testEngine();
    const a = engine.zeros([4]), b = engine.zeros([4]), c = engine.zeros([4]), d = engine.zeros([4]);
    expect(() => adamwUpdate(engine, a, b, c, d, null, 4, { ...HYPER, step: 0 })).toThrow(/step/);
    expect(() => adamwUpdate(engine, a, b, c, c, null, 4, { ...HYPER, step: 1 })).toThrow(/distinct/);
    engine.release(a, b, c, d);
  });
});
