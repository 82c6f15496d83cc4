import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import {
  layernormBackward,
  layernormForward,
  layernormResidualForward,
  rowBlocks,
  threadsPerRow,
} from '../../src/engine/kernels/layernorm.js';
import { layernormBackwardCpu, layernormForwardCpu, layernormResidualForwardCpu } from '../../src/engine/cpu/layernorm.js';
import { diff, expectClose, finiteDifferences, dot, randn } from '../support/numeric.js';

// (N, C): one value; fewer rows than a workgroup holds (8 rows of 32 threads); rows not a
// multiple of the rows per workgroup at 64 and 128 threads per row; GPT-2's C = 768 with two
// gradient row blocks; and 130 rows = 5 blocks (the last partial) at C = 257.
const SHAPES: [number, number][] = [
  [1, 1],
  [7, 33],
  [37, 130],
  [64, 768],
  [130, 257],
];

// Inputs: unit normals shifted by 2 (so centring matters), weights and biases unit normals; the
// outputs are then a few units in size. Forward: the GPU sums C values in f32 (a strided run per
// thread, then a tree), the CPU in float64, so mean and variance differ by a few f32 roundings and
// each output (x - mean)·rstd·w + b by a few roundings of values up to ~10. Worst measured on
// these shapes (PREFSTUDIO_REPORT_ERRORS=1): out 1.9e-6, mean 2.4e-7, rstd 1.2e-7 (3e-5 = 1e-7
// relative at C = 1, where rstd = 1/sqrt(eps) = 316). atol 2e-5 leaves 10x room, while a wrong
// mean, a variance over C - 1 or a missing bias is off by 1e-3 or more.
const FWD_TOL = { atol: 2e-5, rtol: 1e-5 };
const STAT_TOL = { atol: 1e-6, rtol: 1e-5 };
// Backward: dinp comes from two row sums like the forward (measured <= 1.4e-6); dweight and dbias
// sum N rows of unit-size products, error growing like sqrt(N)·2^-24·|partial sums| on the GPU
// and with one f32 rounding per row in the CPU twin's Float32Array (measured <= 1.05e-5 for dbias
// ~ 11 at N = 130). atol 5e-5 + rtol 1e-5 still catches a missing or doubled row (~1).
const BWD_TOL = { atol: 5e-5, rtol: 1e-5 };

interface Data {
  inp: Float32Array;
  weight: Float32Array;
  bias: Float32Array;
}

function makeData(N: number, C: number, seed: number): Data {
  const inp = randn(N * C, seed).map((x) => x + 2);
  return { inp, weight: randn(C, seed + 1), bias: randn(C, seed + 2) };
}

describe('layernorm', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it('picks 32..256 threads per row and bounded row blocks', () => {
    expect([1, 33, 128, 130, 257, 768, 4096].map(threadsPerRow)).toEqual([32, 32, 32, 64, 128, 256, 256]);
    expect(rowBlocks(1)).toEqual({ rowsPerBlock: 32, nblocks: 1 });
    expect(rowBlocks(130)).toEqual({ rowsPerBlock: 32, nblocks: 5 });
    expect(rowBlocks(1_000_000).nblocks).toBeLessThanOrEqual(1024);
  });

  it.each(SHAPES)('forward matches CPU for N=%i C=%i', async (N, C) => {
    const engine = await testEngine();
    const { inp, weight, bias } = makeData(N, C, 10 + C);
    for (const withBias of [true, false]) {
      const want = new Float32Array(N * C), wantMean = new Float32Array(N), wantRstd = new Float32Array(N);
      layernormForwardCpu(want, wantMean, wantRstd, inp, weight, withBias ? bias : null, N, C, 1e-5);
      const tInp = engine.fromArray(inp, [N, C]), tW = engine.fromArray(weight, [C]), tB = engine.fromArray(bias, [C]);
      const out = engine.tensor([N, C]), mean = engine.tensor([N]), rstd = engine.tensor([N]);
      layernormForward(engine, out, mean, rstd, tInp, tW, withBias ? tB : null, N, C, 1e-5);
      const what = `N=${N} C=${C} bias=${withBias}`;
      expectClose(await engine.readF32(out), want, { ...FWD_TOL, what: `out ${what}` });
      expectClose(await engine.readF32(mean), wantMean, { ...STAT_TOL, what: `mean ${what}` });
      expectClose(await engine.readF32(rstd), wantRstd, { ...STAT_TOL, what: `rstd ${what}` });
      engine.release(tInp, tW, tB, out, mean, rstd);
    }
  });

  it.each([[1, 1], [7, 33], [130, 257]])('fused residual forward matches CPU for N=%i C=%i', async (N, C) => {
    const engine = await testEngine();
    const { inp, weight, bias } = makeData(N, C, 20 + C);
    const skip = randn(N * C, 23 + C);
    const wantRes = new Float32Array(N * C), want = new Float32Array(N * C), wantMean = new Float32Array(N), wantRstd = new Float32Array(N);
    layernormResidualForwardCpu(wantRes, want, wantMean, wantRstd, inp, skip, weight, bias, N, C, 1e-5);
    const tInp = engine.fromArray(inp, [N, C]), tSkip = engine.fromArray(skip, [N, C]);
    const tW = engine.fromArray(weight, [C]), tB = engine.fromArray(bias, [C]);
    const res = engine.tensor([N, C]), out = engine.tensor([N, C]), mean = engine.tensor([N]), rstd = engine.tensor([N]);
    layernormResidualForward(engine, res, out, mean, rstd, tInp, tSkip, tW, tB, N, C, 1e-5);
    // The residual is one f32 addition on both sides: exact.
    expectClose(await engine.readF32(res), wantRes, { atol: 0, rtol: 0, what: 'residual' });
    expectClose(await engine.readF32(out), want, { ...FWD_TOL, what: 'out' });
    expectClose(await engine.readF32(mean), wantMean, { ...STAT_TOL, what: 'mean' });
    expectClose(await engine.readF32(rstd), wantRstd, { ...STAT_TOL, what: 'rstd' });
    engine.release(tInp, tSkip, tW, tB, res, out, mean, rstd);
  });

  it('CPU backward equals finite differences of the CPU forward (float64)', () => {
    for (const [N, C] of [[1, 1], [3, 7], [4, 16]] as const) {
      const inp = Float64Array.from(randn(N * C, 31 + C)), weight = Float64Array.from(randn(C, 32));
      const bias = Float64Array.from(randn(C, 33)), w = Float64Array.from(randn(N * C, 34));
      const out = new Float64Array(N * C), mean = new Float64Array(N), rstd = new Float64Array(N);
      const loss = () => (layernormForwardCpu(out, mean, rstd, inp, weight, bias, N, C, 1e-5), dot(out, w));
      loss();
      const dinp = new Float64Array(N * C), dweight = new Float64Array(C), dbias = new Float64Array(C);
      layernormBackwardCpu(dinp, dweight, dbias, w, inp, weight, mean, rstd, N, C);
      // Central differences in float64 with h = 1e-3: truncation error ~h²·|f'''| ~ 1e-6 here.
      const tol = { atol: 1e-5, rtol: 1e-5 };
      expectClose(dinp, finiteDifferences(inp, loss), { ...tol, what: `dinp N=${N} C=${C}` });
      expectClose(dweight, finiteDifferences(weight, loss), { ...tol, what: `dweight N=${N} C=${C}` });
      expectClose(dbias, finiteDifferences(bias, loss), { ...tol, what: `dbias N=${N} C=${C}` });
    }
  });

  it.each(SHAPES)('GPU backward matches CPU for N=%i C=%i', async (N, C) => {
    const engine = await testEngine();
    const { inp, weight } = makeData(N, C, 40 + C);
    const dout = randn(N * C, 43 + C);
    const mean = new Float32Array(N), rstd = new Float32Array(N);
    layernormForwardCpu(new Float32Array(N * C), mean, rstd, inp, weight, null, N, C, 1e-5);
    // Random starting gradients: dweight/dbias must accumulate, dinp assign (or accumulate).
    const dinp0 = randn(N * C, 44), dw0 = randn(C, 45), db0 = randn(C, 46);
    const tInp = engine.fromArray(inp, [N, C]), tW = engine.fromArray(weight, [C]), tDout = engine.fromArray(dout, [N, C]);
    const tMean = engine.fromArray(mean, [N]), tRstd = engine.fromArray(rstd, [N]);
    for (const accumulate of [false, true]) {
      const wantDinp = dinp0.slice(), wantDw = dw0.slice(), wantDb = db0.slice();
      layernormBackwardCpu(wantDinp, wantDw, wantDb, dout, inp, weight, mean, rstd, N, C, { accumulate });
      const tDinp = engine.fromArray(dinp0, [N, C]), tDw = engine.fromArray(dw0, [C]), tDb = engine.fromArray(db0, [C]);
      layernormBackward(engine, tDinp, tDw, tDb, tDout, tInp, tW, tMean, tRstd, N, C, { accumulate });
      const what = `N=${N} C=${C} accumulate=${accumulate}`;
      expectClose(await engine.readF32(tDinp), wantDinp, { ...BWD_TOL, what: `dinp ${what}` });
      expectClose(await engine.readF32(tDw), wantDw, { ...BWD_TOL, what: `dweight ${what}` });
      expectClose(await engine.readF32(tDb), wantDb, { ...BWD_TOL, what: `dbias ${what}` });
      engine.release(tDinp, tDw, tDb);
    }
    engine.release(tInp, tW, tDout, tMean, tRstd);
  });

  it('backward skips null gradients and is deterministic', async () => {
    const engine = await testEngine();
    const N = 70, C = 48;
    const { inp, weight } = makeData(N, C, 50);
    const dout = randn(N * C, 51);
    const mean = new Float32Array(N), rstd = new Float32Array(N);
    layernormForwardCpu(new Float32Array(N * C), mean, rstd, inp, weight, null, N, C, 1e-5);
    const tInp = engine.fromArray(inp, [N, C]), tW = engine.fromArray(weight, [C]), tDout = engine.fromArray(dout, [N, C]);
    const tMean = engine.fromArray(mean, [N]), tRstd = engine.fromArray(rstd, [N]);
    // dbias only: dweight stays untouched.
    const dw = engine.zeros([C]), db = engine.zeros([C]);
    layernormBackward(engine, null, null, db, tDout, tInp, tW, tMean, tRstd, N, C);
    const first = await engine.readF32(db);
    expect(Array.from(await engine.readF32(dw))).toEqual(new Array(C).fill(0));
    // Twice more into a zeroed buffer: bit-identical.
    const db2 = engine.zeros([C]);
    layernormBackward(engine, null, null, db2, tDout, tInp, tW, tMean, tRstd, N, C);
    expect(Array.from(await engine.readF32(db2))).toEqual(Array.from(first));
    const wantDb = new Float32Array(C);
    layernormBackwardCpu(null, null, wantDb, dout, inp, weight, mean, rstd, N, C);
    expectClose(first, wantDb, { ...BWD_TOL, what: 'dbias only' });
    engine.release(tInp, tW, tDout, tMean, tRstd, dw, db, db2);
  });
});
