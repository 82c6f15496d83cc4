import { describe, expect, it, afterAll, vi } from 'vitest';
import { testEngine } from '#test-engine';
import { matmulBackward, matmulForward, type MatmulOptions } from '../../src/engine/kernels/matmul.js';
import { matmulBackwardCpu, matmulForwardCpu } from '../../src/engine/cpu/matmul.js';
import { fromF16Array, toF16Array } from '../../src/engine/f16.js';
import type { Engine } from '../../src/engine/gpu/engine.js';
import type { Tensor } from '../../src/engine/gpu/tensor.js';
import { expectClose, finiteDifferences, dot, randn } from '../support/numeric.js';
import { itWithF16 } from '../support/f16.js';
import { applicableVariants, SAFE } from '../../src/engine/tuning/variants.js';
import type { LoraDropout } from '../../src/engine/cpu/lora.js';

// Collection needs to know whether the native f16 tests exist, so the engine is made up front.
const itF16 = await itWithF16();

// Tolerance. Inputs are unit normals, so a length-K dot product is ~sqrt(K) in size. The CPU
// sums in float64; the GPU sums in f32, one rounding (2^-24 relative) per term, errors growing
// like a random walk over K terms whose partial sums are themselves ~sqrt(K). atol 1e-5·sqrt(K)
// leaves room for that: the worst GPU error measured on these shapes and seeds was 0.27 of it
// (forward, K = 258), 0.41 of it at K = 1025; while any wrong, missing or doubled term (an error
// of order 1) fails. rtol covers the final rounding of large outputs to f32.
const tol = (K: number) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-6 });
// The f16-arithmetic variant rounds each operand to f16 (relative 2^-11) and sums 16 products in
// f16 per K slice before adding to f32: errors ~1e-3·sqrt(K) on unit normals (worst measured on
// lavapipe: see the variant tests); a wrong, missing or doubled term is still of order 1.
// The backward's f16 variant first scales each run of 16 values by a power of two (exact), so
// the same bound holds for gradients of any size (the checks at dout x 1e-7) and for dweight,
// whose K is the batch's rows: worst measured on lavapipe 0.67 of it at K = 2 x 777. The error is
// ~2^-11·sqrt(K) of the rows' size whatever their sum: a weight gradient whose rows cancel (a sum
// far smaller than its terms) keeps fewer correct bits, as in any f16-product GEMM.
const tolF16Math = (K: number) => ({ atol: 4e-3 * Math.sqrt(Math.max(K, 1)), rtol: 4e-3 });

// Every variant the test adapter can run (src/engine/tuning/variants.ts), the safe kernel being
// the suites above; each passes the same checks.
const caps = (await testEngine()).report;
const variantsOf = (k: Parameters<typeof applicableVariants>[0]) =>
  applicableVariants(k, caps).filter((v) => v.name !== SAFE).map((v) => v.name);
const FORWARD_VARIANTS = variantsOf('matmul_forward');
const DINP_VARIANTS = variantsOf('matmul_dinp');
const DWEIGHT_VARIANTS = variantsOf('matmul_dweight');

// (M, C, OC): single elements, sizes below, across and not multiples of the 64 x 64 tile and
// the 16-wide K slice, and C both a multiple of 4 (vec4 loads) and not (scalar loads).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 33, 70],
  [128, 64, 96],
  [130, 257, 67],
];

type WeightPath = 'f32' | 'f16-packed' | 'f16-native';

/** The LoRA dropout of lora.test.ts: a mask that drops about 30%. */
const DROP: LoraDropout = { p: 0.3, seed: 12345 };

interface Weight {
  t: Tensor;
  /** The values the GPU reads (f16-rounded for the f16 paths). */
  values: Float32Array;
  options: MatmulOptions;
}

function makeWeight(engine: Engine, n: number, seed: number, path: WeightPath): Weight {
  const w = randn(n, seed);
  if (path === 'f32') return { t: engine.fromArray(w, [n]), values: w, options: {} };
  const bits = toF16Array(w);
  return {
    t: engine.fromArray(bits, [n], 'f16'),
    values: fromF16Array(bits),
    options: { nativeF16: path === 'f16-native' },
  };
}

async function checkForward(
  [M, C, OC]: [number, number, number],
  { path = 'f32', withBias = true, options = {}, seed = 1, variant, lora }: {
    path?: WeightPath; withBias?: boolean; options?: MatmulOptions; seed?: number; variant?: string;
    /** A LoRA term of this rank (one batch), with b offset by bOffset rows' worth of values. */
    lora?: { R: number; bOffset: number };
  } = {},
): Promise<void> {
  const engine = await testEngine();
  const batch = options.batch ?? 1;
  const inpStride = options.inpStride ?? M * C;
  const outStride = options.outStride ?? M * OC;
  const weightStride = options.weightStride ?? 0;
  const nInp = (batch - 1) * inpStride + M * C;
  const nOut = (batch - 1) * outStride + M * OC;
  const nW = (batch - 1) * weightStride + OC * C;
  const inp = randn(nInp, seed);
  const w = makeWeight(engine, nW, seed + 1, path);
  const bias = withBias ? randn(OC, seed + 2) : null;
  // Random initial out: checks accumulate, and that assign overwrites and gaps stay untouched.
  const out0 = randn(nOut, seed + 3);

  const xa = lora ? randn(M * lora.R, seed + 4) : null;
  const b = lora ? randn(lora.bOffset + OC * lora.R, seed + 5) : null;
  const loraCpu = lora ? { xa: xa!, b: b!, R: lora.R, bOffset: lora.bOffset } : null;

  const want = out0.slice();
  matmulForwardCpu(want, inp, w.values, bias, M, C, OC, { ...options, lora: loraCpu });

  const tInp = engine.fromArray(inp, [nInp]);
  const tBias = bias ? engine.fromArray(bias, [OC]) : null;
  const tOut = engine.fromArray(out0, [nOut]);
  const tXa = xa ? engine.fromArray(xa, [xa.length]) : null;
  const tB = b ? engine.fromArray(b, [b.length]) : null;
  const loraGpu = lora ? { xa: tXa!, b: tB!, R: lora.R, bOffset: lora.bOffset } : null;
  matmulForward(engine, tOut, tInp, w.t, tBias, M, C, OC, { ...options, ...w.options, variant, lora: loraGpu });
  const what = `forward ${variant ?? 'safe'} ${path} M=${M} C=${C} OC=${OC} bias=${withBias} lora=${JSON.stringify(lora)} ${JSON.stringify(options)}`;
  const K = C + 1 + (lora?.R ?? 0);
  expectClose(await engine.readF32(tOut), want, { ...(variant === 'f16' ? tolF16Math(K) : tol(K)), what });
  engine.release(tInp, tBias, tOut, w.t, tXa, tB);
}

interface BackwardCase {
  path?: WeightPath;
  options?: MatmulOptions;
  want?: { dinp?: boolean; dweight?: boolean; dbias?: boolean };
  seed?: number;
  dinpVariant?: string;
  dweightVariant?: string;
  /** A fused LoRA dinp term of this rank (one batch), masked with this dropout. */
  lora?: { R: number; dropout: LoraDropout | null };
  /**
   * dout (and the LoRA g) times this: training gradients are ~1e-6 .. 1e-9, far below f16's
   * normal range (6.1e-5), which an f16-arithmetic variant must survive. Default 1.
   */
  gradScale?: number;
}

async function checkBackward([M, C, OC]: [number, number, number], c: BackwardCase = {}): Promise<void> {
  const engine = await testEngine();
  const { path = 'f32', options = {}, seed = 11, lora, gradScale = 1 } = c;
  const wantGrad = { dinp: true, dweight: true, dbias: true, ...c.want };
  const batch = options.batch ?? 1;
  const inpStride = options.inpStride ?? M * C;
  const outStride = options.outStride ?? M * OC;
  const weightStride = options.weightStride ?? 0;
  const nInp = (batch - 1) * inpStride + M * C;
  const nOut = (batch - 1) * outStride + M * OC;
  const nW = (batch - 1) * weightStride + OC * C;
  const dout = randn(nOut, seed).map((x) => x * gradScale);
  const inp = randn(nInp, seed + 1);
  const w = makeWeight(engine, nW, seed + 2, path);
  // Random initial gradients: dweight and dbias accumulate, dinp assigns unless asked to add.
  // Scaled with dout, so that they do not dwarf what is added to them.
  const [dinp0, dweight0, dbias0] = [randn(nInp, seed + 3), randn(nW, seed + 4), randn(OC, seed + 5)].map((v) => v.map((x) => x * gradScale)) as [Float32Array, Float32Array, Float32Array];

  const wantDinp = wantGrad.dinp ? dinp0.slice() : null;
  const wantDweight = wantGrad.dweight ? dweight0.slice() : null;
  const wantDbias = wantGrad.dbias ? dbias0.slice() : null;
  const g = lora ? randn(M * lora.R, seed + 6).map((x) => x * gradScale) : null;
  const a = lora ? randn(lora.R * C, seed + 7) : null;
  const loraCpu = lora ? { g: g!, a: a!, R: lora.R, dropout: lora.dropout } : null;
  matmulBackwardCpu(wantDinp, wantDweight, wantDbias, dout, inp, w.values, M, C, OC, { ...options, lora: loraCpu });

  const tDout = engine.fromArray(dout, [nOut]);
  const tInp = engine.fromArray(inp, [nInp]);
  const tDinp = wantGrad.dinp ? engine.fromArray(dinp0, [nInp]) : null;
  const tDweight = wantGrad.dweight ? engine.fromArray(dweight0, [nW]) : null;
  const tDbias = wantGrad.dbias ? engine.fromArray(dbias0, [OC]) : null;
  const tG = g ? engine.fromArray(g, [g.length]) : null;
  const tA = a ? engine.fromArray(a, [a.length]) : null;
  const loraGpu = lora ? { g: tG!, a: tA!, R: lora.R, dropout: lora.dropout } : null;
  matmulBackward(engine, tDinp, tDweight, tDbias, tDout, tInp, w.t, M, C, OC, {
    ...options, ...w.options, dinpVariant: c.dinpVariant, dweightVariant: c.dweightVariant, lora: loraGpu,
  });
  const what = `backward ${c.dinpVariant ?? 'safe'}/${c.dweightVariant ?? 'safe'} ${path} M=${M} C=${C} OC=${OC} ${JSON.stringify(options)} lora=${JSON.stringify(lora)} gradScale=${gradScale}`;
  const sharedBatches = weightStride === 0 ? batch : 1;
  // Every gradient scales with dout, and so does the absolute tolerance.
  const tolOf = (variant: string | undefined, K: number) => {
    const t = variant === 'f16' ? tolF16Math(K) : tol(K);
    return { atol: t.atol * gradScale, rtol: t.rtol };
  };
  if (tDinp) expectClose(await engine.readF32(tDinp), wantDinp!, { ...tolOf(c.dinpVariant, OC + (lora?.R ?? 0) + 1), what: `dinp ${what}` });
  if (tDweight) expectClose(await engine.readF32(tDweight), wantDweight!, { ...tolOf(c.dweightVariant, M * sharedBatches + 1), what: `dweight ${what}` });
  if (tDbias) expectClose(await engine.readF32(tDbias), wantDbias!, { ...tolOf(undefined, M * batch + 1), what: `dbias ${what}` });
  engine.release(tDout, tInp, tDinp, tDweight, tDbias, w.t, tG, tA);
}

describe('matmul forward', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(SHAPES)('matches CPU with bias, M=%i C=%i OC=%i', (M, C, OC) => checkForward([M, C, OC]));

  it.each(SHAPES)('matches CPU without bias, M=%i C=%i OC=%i', (M, C, OC) =>
    checkForward([M, C, OC], { withBias: false, seed: 5 }),
  );

  it.each([
    [[7, 13, 5], false],
    [[65, 64, 70], true],
  ] as const)('accumulates into out, (M, C, OC)=%j bias=%s', (shape, withBias) =>
    checkForward([...shape], { withBias, options: { accumulate: true } }),
  );

  it('batched with a shared weight', async () => {
    await checkForward([33, 20, 17], { options: { batch: 3 } });
    await checkForward([9, 11, 70], { options: { batch: 2 }, withBias: false });
  });

  it('batched with per-batch weights and padded strides', async () => {
    const [M, C, OC] = [33, 20, 17];
    await checkForward([M, C, OC], { options: { batch: 3, weightStride: OC * C, inpStride: M * C + 4, outStride: M * OC + 3 } });
    await checkForward([10, 13, 9], { options: { batch: 2, weightStride: 9 * 13 + 1, accumulate: true } });
  });

  it.each(SHAPES.slice(1))('f16 weights, packed path, M=%i C=%i OC=%i', (M, C, OC) =>
    checkForward([M, C, OC], { path: 'f16-packed', seed: 21 }),
  );

  it('f16 weights, packed path, batched per-batch weights (odd stride)', () =>
    checkForward([9, 11, 7], { path: 'f16-packed', options: { batch: 2, weightStride: 7 * 11 } }),
  );

  itF16?.each(SHAPES.slice(1))('f16 weights, native path (needs shader-f16), M=%i C=%i OC=%i', (M, C, OC) =>
    checkForward([M, C, OC], { path: 'f16-native', seed: 31 }),
  );
});

describe('matmul backward', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(SHAPES)('dinp, dweight, dbias match CPU, M=%i C=%i OC=%i', (M, C, OC) => checkBackward([M, C, OC]));

  it('dinp accumulates when asked', async () => {
    await checkBackward([7, 13, 5], { options: { accumulate: true } });
    await checkBackward([65, 64, 68], { options: { accumulate: true }, want: { dweight: false, dbias: false } });
  });

  it('skips null gradients', async () => {
    await checkBackward([65, 33, 70], { want: { dweight: false, dbias: false } });
    await checkBackward([65, 33, 70], { want: { dinp: false, dbias: false } });
    await checkBackward([65, 33, 70], { want: { dinp: false, dweight: false } });
  });

  it('batched with a shared weight: dweight and dbias sum over batches', async () => {
    await checkBackward([33, 20, 17], { options: { batch: 3 } });
    await checkBackward([16, 64, 8], { options: { batch: 2 } });
  });

  it('batched with per-batch weights and padded strides', async () => {
    const [M, C, OC] = [33, 20, 17];
    await checkBackward([M, C, OC], { options: { batch: 3, weightStride: OC * C + 2, inpStride: M * C + 1, outStride: M * OC + 5 } });
    await checkBackward([20, 8, 12], { options: { batch: 2, weightStride: 12 * 8 } });
  });

  it.each([
    [7, 13, 5],
    [65, 64, 68],
    [130, 257, 67],
  ])('dinp with f16 weights, packed path, M=%i C=%i OC=%i', (M, C, OC) =>
    checkBackward([M, C, OC], { path: 'f16-packed', want: { dweight: false, dbias: false } }),
  );

  itF16?.each([
    [7, 13, 5],
    [65, 64, 68],
    [130, 257, 67],
  ])('dinp with f16 weights, native path (needs shader-f16), M=%i C=%i OC=%i', (M, C, OC) =>
    checkBackward([M, C, OC], { path: 'f16-native', want: { dweight: false, dbias: false } }),
  );

  it.each([
    [[3, 4, 5], {}],
    [[4, 3, 2], { batch: 2 }],
    [[2, 3, 2], { batch: 2, weightStride: 6, inpStride: 7, outStride: 5 }],
  ] as const)('CPU backward equals finite differences of the CPU forward, (M, C, OC)=%j %j', ([M, C, OC], opts) => {
    const options: MatmulOptions = { ...opts };
    const batch = options.batch ?? 1;
    const nInp = (batch - 1) * (options.inpStride ?? M * C) + M * C;
    const nOut = (batch - 1) * (options.outStride ?? M * OC) + M * OC;
    const nW = (batch - 1) * (options.weightStride ?? 0) + OC * C;
    // float64 throughout; the loss is linear in every single entry, so central differences
    // are exact up to rounding (~1e-13 here).
    const inp = Float64Array.from(randn(nInp, 41));
    const weight = Float64Array.from(randn(nW, 42));
    const bias = Float64Array.from(randn(OC, 43));
    const proj = randn(nOut, 44);
    const out = new Float64Array(nOut);
    const loss = () => (out.fill(0), matmulForwardCpu(out, inp, weight, bias, M, C, OC, options), dot(out, proj));
    const dinp = new Float64Array(nInp), dweight = new Float64Array(nW), dbias = new Float64Array(OC);
    matmulBackwardCpu(dinp, dweight, dbias, Float64Array.from(proj), inp, weight, M, C, OC, options);
    const t = { atol: 1e-8, rtol: 1e-8 };
    expectClose(dinp, finiteDifferences(inp, loss), { ...t, what: 'd inp' });
    expectClose(dweight, finiteDifferences(weight, loss), { ...t, what: 'd weight' });
    expectClose(dbias, finiteDifferences(bias, loss), { ...t, what: 'd bias' });
  });
});

// The variants (src/engine/tuning/variants.ts) against the same CPU twin, at the same shapes (none
// a multiple of the 128 x 128 tile of tiled8, nor of its K slice of 8), with each option they must
// honour: bias, accumulate, batches with shared and per-batch weights and padded strides, f16
// weights (packed and native), and the fused LoRA term. The backward twin itself is checked
// against finite differences above.
describe.each(FORWARD_VARIANTS)('matmul forward, variant %s', (variant) => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(SHAPES)('matches CPU with bias, M=%i C=%i OC=%i', (M, C, OC) => checkForward([M, C, OC], { variant }));

  it('without bias, accumulating, batched (shared and per-batch weights, padded strides)', async () => {
    await checkForward([65, 33, 70], { variant, withBias: false, seed: 5 });
    // Several column tiles of every variant (the SHAPES fit in one column of the larger tiles).
    await checkForward([40, 36, 300], { variant, seed: 7 });
    await checkForward([65, 64, 70], { variant, options: { accumulate: true } });
    await checkForward([33, 20, 17], { variant, options: { batch: 3 } });
    await checkForward([33, 20, 17], { variant, options: { batch: 3, weightStride: 17 * 20, inpStride: 33 * 20 + 4, outStride: 33 * 17 + 3 } });
    await checkForward([10, 13, 9], { variant, options: { batch: 2, weightStride: 9 * 13 + 1, accumulate: true } });
  });

  it('with a LoRA term (ranks 3 and 16, offset rows of b)', async () => {
    await checkForward([7, 13, 5], { variant, lora: { R: 3, bOffset: 0 } });
    await checkForward([130, 64, 67], { variant, lora: { R: 16, bOffset: 2 * 16 } });
  });

  // One shape each (compiling a specialization is what costs time on software adapters): the
  // packed path with vec4 loads, the native path with scalar loads.
  it('f16 weights, packed path, M=128 C=64 OC=96', () => checkForward([128, 64, 96], { variant, path: 'f16-packed', seed: 21 }));

  itF16?.('f16 weights, native path (needs shader-f16), M=130 C=257 OC=67', () =>
    checkForward([130, 257, 67], { variant, path: 'f16-native', seed: 31 }),
  );
});

describe.each(DINP_VARIANTS)('matmul backward dinp, variant %s', (dinpVariant) => {
  afterAll(async () => (await testEngine()).pool.trim());
  const only = { dweight: false, dbias: false };

  it.each(SHAPES)('matches CPU, M=%i C=%i OC=%i', (M, C, OC) => checkBackward([M, C, OC], { dinpVariant, want: only }));

  it('accumulating, batched (shared and per-batch weights, padded strides), f16 weights', async () => {
    await checkBackward([65, 64, 68], { dinpVariant, want: only, options: { accumulate: true } });
    await checkBackward([33, 20, 17], { dinpVariant, want: only, options: { batch: 3, weightStride: 17 * 20 + 2, inpStride: 33 * 20 + 1, outStride: 33 * 17 + 5 } });
    await checkBackward([130, 257, 67], { dinpVariant, want: only, path: 'f16-packed' });
  });

  itF16?.('f16 weights, native path (needs shader-f16)', () =>
    checkBackward([130, 257, 67], { dinpVariant, want: only, path: 'f16-native' }),
  );

  it('with the fused LoRA term (ranks 3 and 16, dropout mask, accumulating, f16 weights)', async () => {
    await checkBackward([7, 13, 5], { dinpVariant, want: only, lora: { R: 3, dropout: null } });
    await checkBackward([130, 64, 67], { dinpVariant, want: only, lora: { R: 16, dropout: DROP }, options: { accumulate: true }, path: 'f16-packed' });
  });

  it('training-sized gradients (dout and g x 1e-7) keep their precision', () =>
    checkBackward([65, 33, 70], { dinpVariant, want: only, lora: { R: 5, dropout: DROP }, gradScale: 1e-7 }),
  );
});

describe.each(DWEIGHT_VARIANTS)('matmul backward dweight, variant %s', (dweightVariant) => {
  afterAll(async () => (await testEngine()).pool.trim());
  const only = { dinp: false, dbias: false };

  it.each(SHAPES)('matches CPU, M=%i C=%i OC=%i', (M, C, OC) => checkBackward([M, C, OC], { dweightVariant, want: only }));

  it('batched: a shared weight sums over batches; per-batch weights with padded strides', async () => {
    await checkBackward([33, 20, 17], { dweightVariant, want: only, options: { batch: 3 } });
    await checkBackward([16, 64, 8], { dweightVariant, want: only, options: { batch: 2 } });
    await checkBackward([33, 20, 17], { dweightVariant, want: only, options: { batch: 3, weightStride: 17 * 20 + 2, inpStride: 33 * 20 + 1, outStride: 33 * 17 + 5 } });
  });

  // A weight's gradient sums every row of the batch: K in the thousands at training shapes.
  it('many rows (a shared weight over 2 x 777 rows), training-sized gradients (dout x 1e-7)', async () => {
    await checkBackward([777, 20, 17], { dweightVariant, want: only, options: { batch: 2 } });
    await checkBackward([130, 33, 70], { dweightVariant, want: only, gradScale: 1e-7 });
  });
});

describe('matmul variants: the engine dispatches what it chose', () => {
  it('a forced variant the adapter cannot run is refused naming what it lacks', async () => {
    const engine = await testEngine();
    const t = engine.zeros([16]);
    const missing = applicableVariants('matmul_forward', { ...caps, features: { ...caps.features, shaderF16: false, subgroups: false } });
    expect(missing.map((v) => v.name)).toEqual(['safe', 'tiled8']);
    if (!caps.features.shaderF16) {
      expect(() => matmulForward(engine, t, t, t, null, 4, 4, 4, { variant: 'f16' })).toThrow(/variant "f16" of matmul_forward needs shader-f16/);
    }
    expect(() => matmulForward(engine, t, t, t, null, 4, 4, 4, { variant: 'nope' })).toThrow(/"nope" of matmul_forward does not exist/);
    engine.release(t);
  });

  it('engine.choices routes a product to its shape class variant (same result as the safe kernel)', async () => {
    const engine = await testEngine();
    const [M, C, OC] = [65, 33, 70];
    engine.choices.set({ kernel: 'matmul_forward', shapeClass: 'm256:33x70', variant: 'tiled8', why: 'test', measured: {} });
    try {
      expect(engine.choices.name('matmul_forward', M, C, OC)).toBe('tiled8');
      const spy = vi.spyOn(engine, 'dispatch');
      await checkForward([M, C, OC]);
      expect(spy.mock.calls.map((c) => c[0].shader)).toEqual(['matmul_forward_tiled8']);
      // Another shape class has no choice: the safe kernel.
      spy.mockClear();
      await checkForward([7, 13, 5]);
      expect(spy.mock.calls.map((c) => c[0].shader)).toEqual(['matmul_forward']);
      spy.mockRestore();
    } finally {
      engine.choices.clear();
    }
  });
});
