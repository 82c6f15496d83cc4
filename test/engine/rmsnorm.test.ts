import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { rmsnormBackward, rmsnormForward, rmsnormResidualForward } from '../../src/engine/kernels/rmsnorm.js';
import { rmsnormBackwardCpu, rmsnormForwardCpu, rmsnormResidualForwardCpu } from '../../src/engine/cpu/rmsnorm.js';
import { diff, expectClose, finiteDifferences, dot, randn } from '../support/numeric.js';

// (N, C): one value; fewer rows than a workgroup holds (8 rows of 32 threads); rows not a
// multiple of the rows per workgroup at 64 and 128 threads per row; C = 768 with two gradient
// row blocks; and 130 rows = 5 blocks (the last partial) at C = 257.
const SHAPES: [number, number][] = [
  [1, 1],
  [7, 33],
  [37, 130],
  [64, 768],
  [130, 257],
];
const OFFSETS = [0, 1];
const EPS = 1e-6;

// Inputs and weights unit normals, so outputs are a few units. Forward: the GPU sums C squares in
// f32 (strided run per thread, then a tree), the CPU in float64: rstd differs by a few f32
// roundings, each output x·rstd·(w + offset) by a few more. Worst measured on these shapes
// (PREFSTUDIO_REPORT_ERRORS=1): out 1.9e-6, rstd 1.2e-7. atol 1e-5 + rtol 1e-5 leaves 5x room,
// while a missing weight offset, a mean over C - 1 or a missing eps is off by 1e-3 or more.
const FWD_TOL = { atol: 1e-5, rtol: 1e-5 };
// Backward: dinp from one row sum like the forward (measured <= 1.9e-6); dweight sums N rows of
// unit-size products, error ~ sqrt(N)·2^-24·|partial sums| on the GPU plus one f32 rounding per
// row in the CPU twin's Float32Array (measured <= 1.14e-5 at N = 130). atol 5e-5 + rtol 1e-5 still
// catches a missing or doubled row (~1).
const BWD_TOL = { atol: 5e-5, rtol: 1e-5 };

describe('rmsnorm', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(SHAPES)('forward matches CPU for N=%i C=%i (weight offset 0 and 1)', async (N, C) => {
    const engine = await testEngine();
    const inp = randn(N * C, 10 + C), weight = randn(C, 11 + C);
    const tInp = engine.fromArray(inp, [N, C]), tW = engine.fromArray(weight, [C]);
    for (const weightOffset of OFFSETS) {
      const want = new Float32Array(N * C), wantRstd = new Float32Array(N);
      rmsnormForwardCpu(want, wantRstd, inp, weight, N, C, EPS, { weightOffset });
      const out = engine.tensor([N, C]), rstd = engine.tensor([N]);
      rmsnormForward(engine, out, rstd, tInp, tW, N, C, EPS, { weightOffset });
      const what = `N=${N} C=${C} offset=${weightOffset}`;
      expectClose(await engine.readF32(out), want, { ...FWD_TOL, what: `out ${what}` });
      expectClose(await engine.readF32(rstd), wantRstd, { ...FWD_TOL, what: `rstd ${what}` });
      engine.release(out, rstd);
    }
    engine.release(tInp, tW);
  });

  it.each([[1, 1], [7, 33], [130, 257]])('fused residual forward matches CPU for N=%i C=%i', async (N, C) => {
    const engine = await testEngine();
    const inp = randn(N * C, 20 + C), skip = randn(N * C, 21 + C), weight = randn(C, 22 + C);
    const wantRes = new Float32Array(N * C), want = new Float32Array(N * C), wantRstd = new Float32Array(N);
    rmsnormResidualForwardCpu(wantRes, want, wantRstd, inp, skip, weight, N, C, EPS, { weightOffset: 1 });
    const tInp = engine.fromArray(inp, [N, C]), tSkip = engine.fromArray(skip, [N, C]), tW = engine.fromArray(weight, [C]);
    const res = engine.tensor([N, C]), out = engine.tensor([N, C]), rstd = engine.tensor([N]);
    rmsnormResidualForward(engine, res, out, rstd, tInp, tSkip, tW, N, C, EPS, { weightOffset: 1 });
    // The residual is one f32 addition on both sides: exact.
    expectClose(await engine.readF32(res), wantRes, { atol: 0, rtol: 0, what: 'residual' });
    expectClose(await engine.readF32(out), want, { ...FWD_TOL, what: 'out' });
    expectClose(await engine.readF32(rstd), wantRstd, { ...FWD_TOL, what: 'rstd' });
    engine.release(tInp, tSkip, tW, res, out, rstd);
  });

  it('CPU backward equals finite differences of the CPU forward (float64)', () => {
    for (const [N, C] of [[1, 1], [3, 7], [4, 16]] as const) {
      for (const weightOffset of OFFSETS) {
        const inp = Float64Array.from(randn(N * C, 31 + C)), weight = Float64Array.from(randn(C, 32));
        const w = Float64Array.from(randn(N * C, 34));
        const out = new Float64Array(N * C), rstd = new Float64Array(N);
        const loss = () => (rmsnormForwardCpu(out, rstd, inp, weight, N, C, EPS, { weightOffset }), dot(out, w));
        loss();
        const dinp = new Float64Array(N * C), dweight = new Float64Array(C);
        rmsnormBackwardCpu(dinp, dweight, w, inp, weight, rstd, N, C, { weightOffset });
        // Central differences in float64 with h = 1e-3: truncation error ~h²·|f'''| ~ 1e-6 here.
        const tol = { atol: 1e-5, rtol: 1e-5 };
        const what = `N=${N} C=${C} offset=${weightOffset}`;
        expectClose(dinp, finiteDifferences(inp, loss), { ...tol, what: `dinp ${what}` });
        expectClose(dweight, finiteDifferences(weight, loss), { ...tol, what: `dweight ${what}` });
      }
    }
  });

  it.each(SHAPES)('GPU backward matches CPU for N=%i C=%i', async (N, C) => {
    const engine = await testEngine();
    const inp = randn(N * C, 40 + C), weight = randn(C, 41 + C), dout = randn(N * C, 43 + C);
    const rstd = new Float32Array(N);
    rmsnormForwardCpu(new Float32Array(N * C), rstd, inp, weight, N, C, EPS);
    // Random starting gradients: dweight must accumulate, dinp assign (or accumulate).
    const dinp0 = randn(N * C, 44), dw0 = randn(C, 45);
    const tInp = engine.fromArray(inp, [N, C]), tW = engine.fromArray(weight, [C]), tDout = engine.fromArray(dout, [N, C]);
    const tRstd = engine.fromArray(rstd, [N]);
    for (const [accumulate, weightOffset] of [[false, 0], [true, 1]] as const) {
      const wantDinp = dinp0.slice(), wantDw = dw0.slice();
      rmsnormBackwardCpu(wantDinp, wantDw, dout, inp, weight, rstd, N, C, { accumulate, weightOffset });
      const tDinp = engine.fromArray(dinp0, [N, C]), tDw = engine.fromArray(dw0, [C]);
      rmsnormBackward(engine, tDinp, tDw, tDout, tInp, tW, tRstd, N, C, { accumulate, weightOffset });
      const what = `N=${N} C=${C} accumulate=${accumulate} offset=${weightOffset}`;
      expectClose(await engine.readF32(tDinp), wantDinp, { ...BWD_TOL, what: `dinp ${what}` });
      expectClose(await engine.readF32(tDw), wantDw, { ...BWD_TOL, what: `dweight ${what}` });
      engine.release(tDinp, tDw);
    }
    engine.release(tInp, tW, tDout, tRstd);
  });

  it('backward skips a null gradient and is deterministic', async () => {
    const engine = await testEngine();
    const N = 70, C = 48;
    const inp = randn(N * C, 50), weight = randn(C, 51), dout = randn(N * C, 52);
    const rstd = new Float32Array(N);
    rmsnormForwardCpu(new Float32Array(N * C), rstd, inp, weight, N, C, EPS);
    const tInp = engine.fromArray(inp, [N, C]), tW = engine.fromArray(weight, [C]), tDout = engine.fromArray(dout, [N, C]);
    const tRstd = engine.fromArray(rstd, [N]);
    const dinp0 = randn(N * C, 53);
    const tDinp = engine.fromArray(dinp0, [N, C]);
    const dw = engine.zeros([C]), dw2 = engine.zeros([C]);
    rmsnormBackward(engine, null, dw, tDout, tInp, tW, tRstd, N, C);
    rmsnormBackward(engine, null, dw2, tDout, tInp, tW, tRstd, N, C);
    const first = await engine.readF32(dw);
    expect(Array.from(await engine.readF32(dw2))).toEqual(Array.from(first));
    expect(Array.from(await engine.readF32(tDinp))).toEqual(Array.from(dinp0));
    const wantDw = new Float32Array(C);
    rmsnormBackwardCpu(null, wantDw, dout, inp, weight, rstd, N, C);
    expectClose(first, wantDw, { ...BWD_TOL, what: 'dweight only' });
    engine.release(tInp, tW, tDout, tRstd, tDinp, dw, dw2);
  });
});
