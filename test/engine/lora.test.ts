// LoRA kernels: the small passes (xa, g = s·dY·B, the A/B gradients) and the LoRA terms fused into
// the matmul forward and dinp, against their CPU twins on several shapes (ranks below, at and past
// the 16-wide K slice; xa and g at every rank tile; rows and columns not multiples of the tiles),
// with dropout, B row offsets (GPT-2 c_attn parts), accumulation and f16 base weights; the CPU
// backward of a whole LoRA linear layer against finite differences of its CPU forward.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { matmulBackward, matmulForward } from '../../src/engine/kernels/matmul.js';
import { loraDyB, loraGrad, loraXa, rankTile } from '../../src/engine/kernels/lora.js';
import { matmulBackwardCpu, matmulForwardCpu } from '../../src/engine/cpu/matmul.js';
import { dropoutFactorCpu, loraDyBCpu, loraGradCpu, loraXaCpu, type LoraDropout } from '../../src/engine/cpu/lora.js';
import { fromF16Array, toF16Array } from '../../src/engine/f16.js';
import { dot, expectClose, finiteDifferences, randn } from '../support/numeric.js';
import { itWithF16 } from '../support/f16.js';
import { applicableVariants, type TunedKernel } from '../../src/engine/tuning/variants.js';

// Native f16 tests exist only where the adapter has shader-f16 (the node project on lavapipe).
const itF16 = await itWithF16();

// The small passes run in every variant the test adapter can run (src/engine/tuning/variants.ts;
// "subgroup" of xa and g where the adapter has subgroups), the safe kernel first.
const report = (await testEngine()).report;
const variantsOf = (kernel: TunedKernel) => applicableVariants(kernel, report).map((v) => v.name);
const XA = variantsOf('lora_xa'), DYB = variantsOf('lora_dyb'), GRAD = variantsOf('lora_grad');
/** Every (variant, ...shape) pair. */
const cross = <T extends readonly unknown[]>(variants: string[], shapes: T[]) => variants.flatMap((v) => shapes.map((sh) => [v, ...sh] as const));

// f32 sums of unit normals over K terms (see matmul.test.ts for the reasoning).
const tol = (K: number) => ({ atol: 2e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-5 });

// (M, C, OC, R)
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [7, 13, 5, 3],
  [65, 33, 70, 16],
  [70, 64, 96, 20],
  [130, 36, 67, 33],
];

const DROP: LoraDropout = { p: 0.3, seed: 12345 };

// The rank-tiled kernels (xa, g) pick a tile per rank: RT = R rounded up to a power of two (4 to
// 16; larger R in chunks of 16) and 256 / RT rows per workgroup. Each rank below gets rows
// spilling 5 past the second workgroup and C (= OC) not a multiple of the 8 lanes along it.
const RANKS = [1, 4, 8, 16, 32, 64];
const rowsPerWorkgroup = (R: number) => 256 / rankTile(R).RT;

describe('lora kernels', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(cross(XA, SHAPES))('xa = s·dropout(x)·Aᵀ (%s) matches CPU, M=%i C=%i OC=%i R=%i', async (variant, M, C, _OC, R) => {
    const engine = await testEngine();
    const x = randn(M * C, 1), a = randn(R * C, 2);
    for (const dropout of [null, DROP]) {
      const want = new Float32Array(M * R);
      loraXaCpu(want, x, a, M, C, R, { scale: 0.7, dropout });
      const tx = engine.fromArray(x, [M, C]), ta = engine.fromArray(a, [R, C]), txa = engine.tensor([M, R]);
      loraXa(engine, txa, tx, ta, M, C, R, { scale: 0.7, dropout, variant });
      expectClose(await engine.readF32(txa), want, { ...tol(C), what: `xa ${variant} dropout=${!!dropout}` });
      engine.release(tx, ta, txa);
    }
  });

  it.each(cross(XA, RANKS.map((R) => [R] as const)))('rank tiles (%s): xa and g match CPU at R=%i, M past a workgroup edge', async (variant, R) => {
    const engine = await testEngine();
    const M = 2 * rowsPerWorkgroup(R) + 5, C = 37;
    const x = randn(M * C, 12), a = randn(R * C, 13), b = randn(C * R, 14), g0 = randn(M * R, 15);
    const wantXa = new Float32Array(M * R), wantG = g0.slice();
    loraXaCpu(wantXa, x, a, M, C, R, { scale: 0.5, dropout: DROP });
    loraDyBCpu(wantG, x, b, M, C, R, { scale: 1.5, accumulate: true });
    const tx = engine.fromArray(x, [M, C]), ta = engine.fromArray(a, [R, C]), tb = engine.fromArray(b, [C, R]);
    const txa = engine.tensor([M, R]), tg = engine.fromArray(g0, [M, R]);
    // The same variant name for g (lora_dyb has the same variants as lora_xa).
    loraXa(engine, txa, tx, ta, M, C, R, { scale: 0.5, dropout: DROP, variant });
    loraDyB(engine, tg, tx, tb, M, C, R, { scale: 1.5, accumulate: true, variant });
    expectClose(await engine.readF32(txa), wantXa, { ...tol(C), what: `xa ${variant} R=${R} M=${M}` });
    expectClose(await engine.readF32(tg), wantG, { ...tol(C), what: `g ${variant} R=${R} M=${M}` });
    engine.release(tx, ta, tb, txa, tg);
  });

  it.each(cross(DYB, SHAPES))('g = s·dY·B (%s, offset rows, accumulate) matches CPU, M=%i C=%i OC=%i R=%i', async (variant, M, _C, OC, R) => {
    const engine = await testEngine();
    const bOffset = 2 * R; // B holds two more rows before this layer's
    const dy = randn(M * OC, 3), b = randn(bOffset + OC * R + R, 4), g0 = randn(M * R, 5);
    for (const accumulate of [false, true]) {
      const want = g0.slice();
      loraDyBCpu(want, dy, b, M, OC, R, { scale: 1.5, bOffset, accumulate });
      const tdy = engine.fromArray(dy, [M, OC]), tb = engine.fromArray(b, [b.length]), tg = engine.fromArray(g0, [M, R]);
      loraDyB(engine, tg, tdy, tb, M, OC, R, { scale: 1.5, bOffset, accumulate, variant });
      expectClose(await engine.readF32(tg), want, { ...tol(OC), what: `g ${variant} accumulate=${accumulate}` });
      engine.release(tdy, tb, tg);
    }
  });

  it.each(cross(GRAD, SHAPES))('dB += dYᵀ·xa and dA += gᵀ·dropout(x) (%s) match CPU, M=%i C=%i OC=%i R=%i', async (variant, M, C, OC, R) => {
    const engine = await testEngine();
    const dy = randn(M * OC, 6), xa = randn(M * R, 7), g = randn(M * R, 8), x = randn(M * C, 9);
    // dB into rows R.. of a bigger tensor (offset), accumulating; dA assigned with dropout.
    const outOffset = 3 * R;
    const dB0 = randn(outOffset + OC * R, 10), dA0 = randn(R * C, 11);
    const wantB = dB0.slice(), wantA = dA0.slice();
    loraGradCpu(wantB, dy, xa, M, OC, R, { outOffset });
    loraGradCpu(wantA, g, x, M, R, C, { accumulate: false, dropout: DROP });
    const t = (d: Float32Array) => engine.fromArray(d, [d.length]);
    const [tdy, txa, tg, tx, tdB, tdA] = [dy, xa, g, x, dB0, dA0].map(t) as [ReturnType<typeof t>, ReturnType<typeof t>, ReturnType<typeof t>, ReturnType<typeof t>, ReturnType<typeof t>, ReturnType<typeof t>];
    loraGrad(engine, tdB, tdy, txa, M, OC, R, { outOffset, variant });
    loraGrad(engine, tdA, tg, tx, M, R, C, { accumulate: false, dropout: DROP, variant });
    expectClose(await engine.readF32(tdB), wantB, { ...tol(M), what: `dB ${variant}` });
    expectClose(await engine.readF32(tdA), wantA, { ...tol(M), what: `dA ${variant}` });
    engine.release(tdy, txa, tg, tx, tdB, tdA);
  });

  itF16?.each(SHAPES.slice(1))('native f16 base weights: fused LoRA forward and dinp match CPU, M=%i C=%i OC=%i R=%i', async (M, C, OC, R) => {
    const engine = await testEngine();
    const inp = randn(M * C, 61), w = randn(OC * C, 62), xa = randn(M * R, 63), b = randn(OC * R, 64);
    const dout = randn(M * OC, 65), g = randn(M * R, 66), a = randn(R * C, 67);
    const wValues = fromF16Array(toF16Array(w));
    const wantOut = new Float32Array(M * OC);
    matmulForwardCpu(wantOut, inp, wValues, null, M, C, OC, { lora: { xa, b, R } });
    const wantDinp = new Float32Array(M * C);
    matmulBackwardCpu(wantDinp, null, null, dout, inp, wValues, M, C, OC, { lora: { g, a, R, dropout: DROP } });
    const t = (d: Float32Array, shape: number[]) => engine.fromArray(d, shape);
    const tW = engine.fromArray(toF16Array(w), [OC, C], 'f16');
    const [tInp, tXa, tB, tDout, tG, tA] = [t(inp, [M, C]), t(xa, [M, R]), t(b, [OC, R]), t(dout, [M, OC]), t(g, [M, R]), t(a, [R, C])];
    const tOut = engine.tensor([M, OC]), tDinp = engine.tensor([M, C]);
    matmulForward(engine, tOut, tInp!, tW, null, M, C, OC, { lora: { xa: tXa!, b: tB!, R }, nativeF16: true });
    matmulBackward(engine, tDinp, null, null, tDout!, tInp!, tW, M, C, OC, { lora: { g: tG!, a: tA!, R, dropout: DROP }, nativeF16: true });
    expectClose(await engine.readF32(tOut), wantOut, { ...tol(C + R), what: 'native f16 forward' });
    expectClose(await engine.readF32(tDinp), wantDinp, { ...tol(OC + R), what: 'native f16 dinp' });
    engine.release(tW, tInp, tXa, tB, tDout, tG, tA, tOut, tDinp);
  });

  it.each(SHAPES)('matmul forward with the fused LoRA term matches CPU, M=%i C=%i OC=%i R=%i', async (M, C, OC, R) => {
    const engine = await testEngine();
    const inp = randn(M * C, 21), w = randn(OC * C, 22), bias = randn(OC, 23), xa = randn(M * R, 24);
    const bOffset = R; // one row of another part before this layer's
    const b = randn(bOffset + OC * R, 25);
    const out0 = randn(M * OC, 26);
    for (const [accumulate, withBias, f16] of [[false, true, false], [true, false, false], [false, true, true]] as const) {
      const wValues = f16 ? fromF16Array(toF16Array(w)) : w;
      const want = out0.slice();
      matmulForwardCpu(want, inp, wValues, withBias ? bias : null, M, C, OC, { accumulate, lora: { xa, b, R, bOffset } });
      const tInp = engine.fromArray(inp, [M, C]);
      const tW = f16 ? engine.fromArray(toF16Array(w), [OC, C], 'f16') : engine.fromArray(w, [OC, C]);
      const tBias = withBias ? engine.fromArray(bias, [OC]) : null;
      const tXa = engine.fromArray(xa, [M, R]), tB = engine.fromArray(b, [b.length]), tOut = engine.fromArray(out0, [M, OC]);
      matmulForward(engine, tOut, tInp, tW, tBias, M, C, OC, { accumulate, lora: { xa: tXa, b: tB, R, bOffset }, nativeF16: false });
      expectClose(await engine.readF32(tOut), want, { ...tol(C + R), what: `forward accumulate=${accumulate} bias=${withBias} f16=${f16}` });
      engine.release(tInp, tW, tBias, tXa, tB, tOut);
    }
  });

  it.each(SHAPES)('matmul dinp with the fused, masked LoRA term matches CPU, M=%i C=%i OC=%i R=%i', async (M, C, OC, R) => {
    const engine = await testEngine();
    const dout = randn(M * OC, 31), w = randn(OC * C, 32), g = randn(M * R, 33), a = randn(R * C, 34), dinp0 = randn(M * C, 35);
    for (const [accumulate, dropout, f16] of [[false, null, false], [true, DROP, false], [false, DROP, true]] as const) {
      const wValues = f16 ? fromF16Array(toF16Array(w)) : w;
      const want = dinp0.slice();
      matmulBackwardCpu(want, null, null, dout, new Float32Array(M * C), wValues, M, C, OC, { accumulate, lora: { g, a, R, dropout } });
      const tDout = engine.fromArray(dout, [M, OC]);
      const tW = f16 ? engine.fromArray(toF16Array(w), [OC, C], 'f16') : engine.fromArray(w, [OC, C]);
      const tG = engine.fromArray(g, [M, R]), tA = engine.fromArray(a, [R, C]), tDinp = engine.fromArray(dinp0, [M, C]);
      matmulBackward(engine, tDinp, null, null, tDout, tDout, tW, M, C, OC, { accumulate, lora: { g: tG, a: tA, R, dropout }, nativeF16: false });
      expectClose(await engine.readF32(tDinp), want, { ...tol(OC + R), what: `dinp accumulate=${accumulate} dropout=${!!dropout} f16=${f16}` });
      engine.release(tDout, tW, tG, tA, tDinp);
    }
  });

  it('without a LoRA term the matmul kernels are unchanged (lora: null)', async () => {
    const engine = await testEngine();
    const [M, C, OC] = [9, 12, 10];
    const inp = randn(M * C, 41), w = randn(OC * C, 42);
    const want = new Float32Array(M * OC);
    matmulForwardCpu(want, inp, w, null, M, C, OC);
    const tInp = engine.fromArray(inp, [M, C]), tW = engine.fromArray(w, [OC, C]), tOut = engine.tensor([M, OC]);
    matmulForward(engine, tOut, tInp, tW, null, M, C, OC, { lora: null });
    expectClose(await engine.readF32(tOut), want, { ...tol(C), what: 'plain forward' });
    engine.release(tInp, tW, tOut);
  });

  it('rejects bad LoRA arguments with what and where', async () => {
    const engine = await testEngine();
    const t = engine.tensor([4, 4]);
    const xa = engine.tensor([4, 5]);
    expect(() => matmulForward(engine, t, t, t, null, 4, 4, 4, { lora: { xa: t, b: t, R: 0 } })).toThrow(/rank R = 0/);
    expect(() => matmulForward(engine, t, t, t, null, 4, 4, 4, { lora: { xa, b: t, R: 5 } })).toThrow(/lora.b .* needs 0 \+ 4·5/);
    expect(() => loraXa(engine, t, t, t, 4, 4, 2, { scale: 1, dropout: { p: 1, seed: 1 } })).toThrow(/p = 1 must be in \[0, 1\)/);
    engine.release(t, xa);
  });
});

describe('lora dropout mask', () => {
  it('drops about p of the elements and scales the rest by 1 / (1 - p)', () => {
    let dropped = 0;
    const n = 200 * 100;
    for (let m = 0; m < 200; m++) {
      for (let c = 0; c < 100; c++) {
        const f = dropoutFactorCpu(DROP, m, c);
        if (f === 0) dropped++;
        else expect(f).toBeCloseTo(1 / 0.7, 12);
      }
    }
    // Binomial(20000, 0.3): sd ≈ 65, so ±400 is > 6 sd.
    expect(Math.abs(dropped - 0.3 * n)).toBeLessThan(400);
    // Another seed gives another mask; no dropout keeps everything.
    let same = 0;
    for (let c = 0; c < 1000; c++) if ((dropoutFactorCpu(DROP, 3, c) === 0) === (dropoutFactorCpu({ ...DROP, seed: 99 }, 3, c) === 0)) same++;
    expect(same).toBeLessThan(700);
    expect(dropoutFactorCpu(null, 5, 5)).toBe(1);
    expect(dropoutFactorCpu({ p: 0, seed: 3 }, 5, 5)).toBe(1);
  });
});

describe('lora linear backward (CPU) vs finite differences', () => {
  it.each([
    [3, 4, 5, 2, null],
    [4, 3, 6, 3, 0],
    [5, 6, 4, 2, 0.4],
  ] as const)('M=%i C=%i OC=%i R=%i dropout=%s: dx, dA, dB', (M, C, OC, R, p) => {
    // y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ; loss = Σ proj ∘ y; float64 throughout.
    const dropout = p === null ? null : { p, seed: 77 };
    const s = 0.8;
    const x = Float64Array.from(randn(M * C, 51));
    const W = Float64Array.from(randn(OC * C, 52));
    const bias = Float64Array.from(randn(OC, 53));
    const A = Float64Array.from(randn(R * C, 54));
    const B = Float64Array.from(randn(OC * R, 55));
    const proj = Float64Array.from(randn(M * OC, 56));
    const loss = () => {
      const xa = new Float64Array(M * R);
      loraXaCpu(xa, x, A, M, C, R, { scale: s, dropout });
      const y = new Float64Array(M * OC);
      matmulForwardCpu(y, x, W, bias, M, C, OC, { lora: { xa, b: B, R } });
      return dot(y, proj);
    };
    const xa = new Float64Array(M * R);
    loraXaCpu(xa, x, A, M, C, R, { scale: s, dropout });
    const g = new Float64Array(M * R);
    loraDyBCpu(g, proj, B, M, OC, R, { scale: s });
    const dx = new Float64Array(M * C), dA = new Float64Array(R * C), dB = new Float64Array(OC * R);
    matmulBackwardCpu(dx, null, null, proj, x, W, M, C, OC, { lora: { g, a: A, R, dropout } });
    loraGradCpu(dB, proj, xa, M, OC, R);
    loraGradCpu(dA, g, x, M, R, C, { dropout });
    // The loss is bilinear in (A, B) and linear in x for a fixed mask: central differences are exact up to rounding.
    const t = { atol: 1e-7, rtol: 1e-7 };
    expectClose(dx, finiteDifferences(x, loss), { ...t, what: 'dx' });
    expectClose(dA, finiteDifferences(A, loss), { ...t, what: 'dA' });
    expectClose(dB, finiteDifferences(B, loss), { ...t, what: 'dB' });
  });
});
