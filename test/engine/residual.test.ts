import { describe, it, afterAll } from 'vitest';
import { testEngine } from '#test-engine';
import { residualBackward, residualForward } from '../../src/engine/kernels/residual.js';
import { residualBackwardCpu, residualForwardCpu } from '../../src/engine/cpu/residual.js';
import { expectClose, finiteDifferences, dot, randn } from '../support/numeric.js';

const SHAPES = [1, 255, 1000, 4097];

describe('residual', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(SHAPES)('forward matches CPU for N=%i', async (N) => {
    const engine = await testEngine();
    const a = randn(N, 1), b = randn(N, 2);
    const want = new Float32Array(N);
    residualForwardCpu(want, a, b, N);
    const ta = engine.fromArray(a, [N]), tb = engine.fromArray(b, [N]), out = engine.tensor([N]);
    residualForward(engine, out, ta, tb, N);
    expectClose(await engine.readF32(out), want, { atol: 0, rtol: 0, what: `residual forward N=${N}` });
    engine.release(ta, tb, out);
  });

  it.each(SHAPES)('backward accumulates like the CPU for N=%i', async (N) => {
    const engine = await testEngine();
    const d1 = randn(N, 3), d2 = randn(N, 4), dout = randn(N, 5);
    const want1 = d1.slice(), want2 = d2.slice();
    residualBackwardCpu(want1, want2, dout, N);
    const t1 = engine.fromArray(d1, [N]), t2 = engine.fromArray(d2, [N]), td = engine.fromArray(dout, [N]);
    residualBackward(engine, t1, t2, td, N);
    expectClose(await engine.readF32(t1), want1, { atol: 0, rtol: 0, what: 'dinp1' });
    expectClose(await engine.readF32(t2), want2, { atol: 0, rtol: 0, what: 'dinp2' });
    engine.release(t1, t2, td);
  });

  it('backward equals finite differences of the CPU forward', () => {
    const N = 37;
    const a = Float32Array.from(randn(N, 6)), b = Float32Array.from(randn(N, 7)), w = randn(N, 8);
    const out = new Float32Array(N);
    const loss = () => (residualForwardCpu(out, a, b, N), dot(out, w));
    const da = new Float32Array(N), db = new Float32Array(N);
    residualBackwardCpu(da, db, w, N);
    expectClose(da, finiteDifferences(a, loss), { atol: 1e-3, rtol: 1e-3, what: 'd inp1' });
    expectClose(db, finiteDifferences(b, loss), { atol: 1e-3, rtol: 1e-3, what: 'd inp2' });
  });
});
