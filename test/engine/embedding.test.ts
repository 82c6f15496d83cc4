import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { checkIds, embeddingBackward, embeddingForward, groupRowsById } from '../../src/engine/kernels/embedding.js';
import { embeddingBackwardCpu, embeddingForwardCpu } from '../../src/engine/cpu/embedding.js';
import { fromF16Array, toF16Array } from '../../src/engine/f16.js';
import type { Engine } from '../../src/engine/gpu/engine.js';
import type { Tensor } from '../../src/engine/gpu/tensor.js';
import { diff, expectClose, finiteDifferences, dot, randInts, randn } from '../support/numeric.js';
import { itWithF16 } from '../support/f16.js';

// Collection needs to know whether the native f16 tests exist, so the engine is made up front.
const itF16 = await itWithF16();

// (N, C, V): one value; a row length that straddles packed f16 words (33) with repeated ids; GPT-2's
// C = 768; and more rows than ids (every id repeated ~12 times) at an odd C past 256.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 5],
  [64, 768, 50],
  [130, 257, 11],
];
/** Rows of the position table (GPT-2's wpe) in these tests. */
const P = 9;

// Forward is a copy (plus one f32 addition of the position row, correctly rounded on both sides),
// so GPU and CPU agree exactly. Backward: the GPU sums an id's rows in f32 then adds once to
// dweight; the CPU twin adds row by row into its Float32Array: both are f32 sums of the same terms
// in different association, a few roundings of partial sums of size ~sqrt(count) ≤ ~5 here.
// Worst measured (PREFSTUDIO_REPORT_ERRORS=1) 2.9e-6; atol 2e-5 leaves 7x room and a missing
// or doubled row (~1) fails.
const BWD_TOL = { atol: 2e-5, rtol: 1e-6 };

type Table = 'f32' | 'f16-packed' | 'f16-native';

/** The table on the GPU and the values it holds (f16-rounded for the f16 tables). */
function makeTable(engine: Engine, V: number, C: number, seed: number, kind: Table): { t: Tensor; values: Float32Array } {
  const w = randn(V * C, seed);
  if (kind === 'f32') return { t: engine.fromArray(w, [V, C]), values: w };
  const bits = toF16Array(w);
  return { t: engine.fromArray(bits, [V, C], 'f16'), values: fromF16Array(bits) };
}

/** Ids with repeats that never use the last two ids (when V > 2), plus positions in [0, P). */
function makeIds(N: number, V: number, seed: number): { ids: Int32Array; positions: Int32Array } {
  return { ids: randInts(N, Math.max(1, V - 2), seed), positions: randInts(N, P, seed + 1) };
}

async function checkForward(N: number, C: number, V: number, kind: Table, withWpe: boolean, outOfRange: boolean): Promise<void> {
  const engine = await testEngine();
  const wte = makeTable(engine, V, C, 1 + C, kind);
  const wpe = randn(P * C, 2 + C);
  const { ids, positions } = makeIds(N, V, 3 + N);
  if (outOfRange) {
    // Given as tensors, bad ids and positions are not checked: they must read as zeros.
    ids[0] = -1;
    ids[N - 1] = V;
    positions[0] = P;
    positions[N - 1] = -7;
  }
  const want = new Float32Array(N * C);
  embeddingForwardCpu(want, ids, positions, wte.values, withWpe ? wpe : null, N, C, V);
  const tIds = engine.fromArray(ids, [N], 'i32'), tPos = engine.fromArray(positions, [N], 'i32');
  const tWpe = engine.fromArray(wpe, [P, C]);
  const out = engine.fromArray(randn(N * C, 4), [N, C]); // stale values must be overwritten
  embeddingForward(engine, out, tIds, withWpe ? tPos : null, wte.t, withWpe ? tWpe : null, N, C, V, {
    nativeF16: kind === 'f16-native',
  });
  const what = `${kind} N=${N} C=${C} V=${V} wpe=${withWpe} outOfRange=${outOfRange}`;
  expectClose(await engine.readF32(out), want, { atol: 0, rtol: 0, what });
  engine.release(wte.t, tIds, tPos, tWpe, out);
}

describe('embedding', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it('groups rows by id (CSR, ascending ids, rows in order) and checks ids', () => {
    const g = groupRowsById([3, 1, 3, 0, 3, 1], 6);
    expect(Array.from(g.uniq)).toEqual([0, 1, 3]);
    expect(Array.from(g.offsets)).toEqual([0, 1, 3, 6]);
    expect(Array.from(g.rows)).toEqual([3, 1, 5, 0, 2, 4]);
    expect(() => checkIds([0, 5], 5)).toThrow(/5 at \[1\]/);
    expect(() => checkIds([-1], 5)).toThrow(/outside/);
    expect(() => checkIds([1.5], 5)).toThrow(/outside/);
  });

  it.each(SHAPES)('forward matches CPU for N=%i C=%i V=%i (f32, with and without positions)', async (N, C, V) => {
    for (const withWpe of [false, true]) await checkForward(N, C, V, 'f32', withWpe, false);
  });

  it.each(SHAPES)('forward writes zeros for out-of-range ids and positions, N=%i C=%i V=%i', async (N, C, V) => {
    await checkForward(N, C, V, 'f32', true, true);
  });

  it.each(SHAPES)('forward from f16 packed words matches CPU for N=%i C=%i V=%i', async (N, C, V) => {
    await checkForward(N, C, V, 'f16-packed', true, N > 1);
  });

  itF16?.each(SHAPES)('forward from native f16 (needs shader-f16) matches CPU for N=%i C=%i V=%i', async (N, C, V) => {
    await checkForward(N, C, V, 'f16-native', true, N > 1);
  });

  it('forward checks and uploads host ids and positions', async () => {
    const engine = await testEngine();
    const N = 5, C = 6, V = 4;
    const wte = makeTable(engine, V, C, 5, 'f32');
    const wpe = randn(P * C, 6), tWpe = engine.fromArray(wpe, [P, C]);
    const ids = Int32Array.of(3, 0, 3, 2, 1), positions = Int32Array.of(0, 1, 2, 8, 4);
    const want = new Float32Array(N * C);
    embeddingForwardCpu(want, ids, positions, wte.values, wpe, N, C, V);
    const out = engine.tensor([N, C]);
    embeddingForward(engine, out, ids, positions, wte.t, tWpe, N, C, V);
    expectClose(await engine.readF32(out), want, { atol: 0, rtol: 0, what: 'host ids' });
    expect(() => embeddingForward(engine, out, Int32Array.of(0, 1, 4, 0, 0), positions, wte.t, tWpe, N, C, V)).toThrow(/id 4 at \[2\]/);
    expect(() => embeddingForward(engine, out, ids, Int32Array.of(0, 1, 2, 9, 0), wte.t, tWpe, N, C, V)).toThrow(/position 9/);
    engine.release(wte.t, tWpe, out);
  });

  it.each(SHAPES)('scaled forward (Gemma\'s sqrt(hidden)) and backward match CPU for N=%i C=%i V=%i', async (N, C, V) => {
    const engine = await testEngine();
    const scale = Math.fround(Math.sqrt(640));
    for (const kind of ['f32', 'f16-packed'] as const) {
      const wte = makeTable(engine, V, C, 40 + C, kind);
      const { ids, positions } = makeIds(N, V, 41 + N);
      const want = new Float32Array(N * C);
      embeddingForwardCpu(want, ids, positions, wte.values, null, N, C, V, scale);
      const out = engine.tensor([N, C]);
      embeddingForward(engine, out, ids, null, wte.t, null, N, C, V, { scale });
      // One correctly rounded product per value on both sides: exact.
      expectClose(await engine.readF32(out), want, { atol: 0, rtol: 0, what: `scaled ${kind} N=${N}` });
      // and the scale is applied (not 1)
      const plain = new Float32Array(N * C);
      embeddingForwardCpu(plain, ids, positions, wte.values, null, N, C, V);
      expect(Math.max(...want.map((x, i) => Math.abs(x - plain[i]!)))).toBeGreaterThan(0.1);
      engine.release(wte.t, out);
    }
    const { ids } = makeIds(N, V, 43 + N);
    const dout = randn(N * C, 44);
    const wantW = new Float32Array(V * C);
    embeddingBackwardCpu(wantW, null, dout, ids, null, N, C, V, scale);
    const tDout = engine.fromArray(dout, [N, C]), dwte = engine.zeros([V, C]);
    embeddingBackward(engine, dwte, null, tDout, ids, null, N, C, V, { scale });
    expectClose(await engine.readF32(dwte), wantW, { ...BWD_TOL, what: `scaled dwte N=${N}` });
    engine.release(tDout, dwte);
  });

  it('CPU backward equals finite differences of the CPU forward (float64)', () => {
    const N = 6, C = 3, V = 5;
    const ids = Int32Array.of(1, 3, 1, 0, 1, 3); // repeats; id 2 and 4 never occur
    const positions = Int32Array.of(0, 1, 2, 0, 1, 2);
    const wte = Float64Array.from(randn(V * C, 7)), wpe = Float64Array.from(randn(P * C, 8));
    const w = Float64Array.from(randn(N * C, 9));
    const out = new Float64Array(N * C);
    const loss = () => (embeddingForwardCpu(out, ids, positions, wte, wpe, N, C, V), dot(out, w));
    const dwte = new Float64Array(V * C), dwpe = new Float64Array(P * C);
    embeddingBackwardCpu(dwte, dwpe, w, ids, positions, N, C, V);
    // The loss is linear in both tables: central differences are exact up to float64 rounding.
    expectClose(dwte, finiteDifferences(wte, loss), { atol: 1e-9, rtol: 1e-9, what: 'dwte' });
    expectClose(dwpe, finiteDifferences(wpe, loss), { atol: 1e-9, rtol: 1e-9, what: 'dwpe' });
    // With a token-row scale (Gemma), only dwte is scaled.
    const scaledLoss = () => (embeddingForwardCpu(out, ids, positions, wte, wpe, N, C, V, 3.5), dot(out, w));
    const sWte = new Float64Array(V * C), sWpe = new Float64Array(P * C);
    embeddingBackwardCpu(sWte, sWpe, w, ids, positions, N, C, V, 3.5);
    expectClose(sWte, finiteDifferences(wte, scaledLoss), { atol: 1e-9, rtol: 1e-9, what: 'scaled dwte' });
    expectClose(sWpe, finiteDifferences(wpe, scaledLoss), { atol: 1e-9, rtol: 1e-9, what: 'scaled dwpe' });
  });

  it.each(SHAPES)('GPU backward matches CPU for N=%i C=%i V=%i (repeated and absent ids)', async (N, C, V) => {
    const engine = await testEngine();
    const { ids, positions } = makeIds(N, V, 10 + N);
    const dout = randn(N * C, 11 + C);
    // Random starting gradients: every row must accumulate, rows of absent ids stay as they were.
    const dwte0 = randn(V * C, 12), dwpe0 = randn(P * C, 13);
    const wantWte = dwte0.slice(), wantWpe = dwpe0.slice();
    embeddingBackwardCpu(wantWte, wantWpe, dout, ids, positions, N, C, V);
    const tDout = engine.fromArray(dout, [N, C]);
    const dwte = engine.fromArray(dwte0, [V, C]), dwpe = engine.fromArray(dwpe0, [P, C]);
    embeddingBackward(engine, dwte, dwpe, tDout, ids, positions, N, C, V);
    const gotWte = await engine.readF32(dwte), gotWpe = await engine.readF32(dwpe);
    const what = `N=${N} C=${C} V=${V}`;
    expectClose(gotWte, wantWte, { ...BWD_TOL, what: `dwte ${what}` });
    expectClose(gotWpe, wantWpe, { ...BWD_TOL, what: `dwpe ${what}` });
    const used = new Set(ids);
    for (let v = 0; v < V; v++) {
      if (used.has(v)) continue;
      expect(Array.from(gotWte.subarray(v * C, (v + 1) * C)), `row of absent id ${v}`).toEqual(Array.from(dwte0.subarray(v * C, (v + 1) * C)));
    }
    engine.release(tDout, dwte, dwpe);
  });

  it('backward is deterministic, skips a null gradient and rejects bad ids', async () => {
    const engine = await testEngine();
    const N = 40, C = 70, V = 6;
    const { ids, positions } = makeIds(N, V, 20);
    const tDout = engine.fromArray(randn(N * C, 21), [N, C]);
    const a = engine.zeros([V, C]), b = engine.zeros([V, C]);
    embeddingBackward(engine, a, null, tDout, ids, positions, N, C, V);
    embeddingBackward(engine, b, null, tDout, ids, null, N, C, V);
    expect(Array.from(await engine.readF32(b))).toEqual(Array.from(await engine.readF32(a)));
    const bad = ids.slice();
    bad[7] = V;
    expect(() => embeddingBackward(engine, a, null, tDout, bad, null, N, C, V)).toThrow(/id 6 at \[7\]/);
    const dwpe = engine.zeros([P, C]);
    const badPos = positions.slice();
    badPos[3] = -1;
    expect(() => embeddingBackward(engine, null, dwpe, tDout, ids, badPos, N, C, V)).toThrow(/position -1 at \[3\]/);
    engine.release(tDout, a, b, dwpe);
  });

  it('backward over more than 65535 workgroups (2-D grid): 70000 distinct ids', async () => {
    const engine = await testEngine();
    const N = 70000, C = 1, V = 70001;
    const ids = Int32Array.from({ length: N }, (_, i) => (i * 7919) % V); // a permutation: each id once
    const dout = randn(N, 30);
    const want = new Float32Array(V);
    embeddingBackwardCpu(want, null, dout, ids, null, N, C, V);
    const tDout = engine.fromArray(dout, [N, C]), dwte = engine.zeros([V, C]);
    embeddingBackward(engine, dwte, null, tDout, ids, null, N, C, V);
    // One row per id added to zero: exact.
    expectClose(await engine.readF32(dwte), want, { atol: 0, rtol: 0, what: 'dwte' });
    engine.release(tDout, dwte);
  });
});
