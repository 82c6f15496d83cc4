import { describe, expect, it, afterAll } from 'vitest';
import { testEngine } from '#test-engine';
import { codeAt, dequantize, quantizeBlockwise, type BlockQuantized, type QuantBits } from '../../src/engine/blockq.js';
import { embeddingNBitsForwardCpu, matmulNBitsBackwardCpu, matmulNBitsForwardCpu } from '../../src/engine/cpu/matmul-nbits.js';
import { embeddingForward } from '../../src/engine/kernels/embedding.js';
import { matmulBackward, matmulForward } from '../../src/engine/kernels/matmul.js';
import { matmulNBitsBackward, releaseQuantTensor, uploadBlockQuantized } from '../../src/engine/kernels/matmul-nbits.js';
import { applicableVariants } from '../../src/engine/tuning/variants.js';
import { expectClose, randInts, randn } from '../support/numeric.js';

// The block-quantized matmul (QLoRA's frozen base) against its CPU twin: forward (with bias, LoRA,
// accumulate) and the input gradient (with LoRA and its dropout), 4 and 8 bits, block sizes 16 to
// 256, K not a multiple of the block (a padded last block), shapes across the 64 x 64 tile and
// the 16-wide K slice; the quantized embedding gather. The forward runs in every variant of
// matmul_nbits_forward the test adapter can run (src/engine/tuning/variants.ts).

// As test/engine/matmul.test.ts: a length-K dot product of O(1) terms, f32 sums on the GPU.
const tol = (K: number) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)), rtol: 1e-6 });

// (M, K, N, bits, blockSize, symmetric)
const CASES: [number, number, number, QuantBits, number, boolean][] = [
  [1, 16, 1, 4, 16, true],
  [7, 40, 5, 4, 16, false], // K = 2.5 blocks
  [65, 96, 70, 8, 32, false], // K = 3 blocks, N and M past one tile
  [33, 100, 67, 4, 64, true], // last block 36 of 64
  [130, 260, 9, 8, 128, true],
  [5, 300, 66, 4, 256, false],
  [3, 36, 20, 8, 16, false], // K = 4.5 octets of 8-bit codes
  [17, 72, 260, 4, 32, true], // N past 256 columns (the wide variant's tile), M past 16 rows
  [9, 600, 12, 4, 32, false], // K past 512 (the input gradient's shuffle tile), M past 8 rows
];

// The test adapter's variants of the forward, the safe kernel first; probed once (top-level await).
const FORWARD_VARIANTS = applicableVariants('matmul_nbits_forward', (await testEngine()).report).map((v) => v.name);
const DINP_VARIANTS = applicableVariants('matmul_nbits_dinp', (await testEngine()).report).map((v) => v.name);

function makeQ(N: number, K: number, bits: QuantBits, bs: number, symmetric: boolean, seed: number): BlockQuantized {
  return quantizeBlockwise(randn(N * K, seed), N, K, bits, bs, symmetric);
}

describe('block-quantized format', () => {
  it('packs 4-bit codes low nibble first along K, one blob per block', () => {
    // Row 0, K = 20 in blocks of 16: block 0 then block 1 (4 codes, padded to 8 bytes).
    const codes = new Uint8Array(2 * 8);
    codes[0] = 0x21; // k = 0 → 1, k = 1 → 2
    codes[8] = 0x0f; // k = 16 → 15, k = 17 → 0
    const q: BlockQuantized = { bits: 4, blockSize: 16, rows: 1, cols: 20, codes, scales: Float32Array.of(0.5, 2), zeros: Float32Array.of(8, 1) };
    expect([codeAt(q, 0, 0), codeAt(q, 0, 1), codeAt(q, 0, 16), codeAt(q, 0, 17)]).toEqual([1, 2, 15, 0]);
    const w = dequantize(q);
    expect([w[0], w[1], w[2], w[16], w[17]]).toEqual([(1 - 8) * 0.5, (2 - 8) * 0.5, (0 - 8) * 0.5, (15 - 1) * 2, (0 - 1) * 2]);
  });

  it('quantizes within one step of each block', () => {
    for (const [bits, bs, sym] of [[4, 32, true], [4, 16, false], [8, 64, false], [8, 128, true]] as const) {
      const K = 70, N = 3;
      const w = randn(N * K, 9);
      const q = quantizeBlockwise(w, N, K, bits, bs, sym);
      const d = dequantize(q);
      for (let i = 0; i < N * K; i++) {
        const s = q.scales[Math.floor(i / K) * Math.ceil(K / bs) + Math.floor((i % K) / bs)]!;
        expect(Math.abs(d[i]! - w[i]!)).toBeLessThanOrEqual(Math.abs(s) * (1 + 1e-6));
      }
    }
  });
});

describe('matmul nbits', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(FORWARD_VARIANTS.flatMap((variant) => CASES.map((c) => [variant, ...c] as const)))('forward %s matches CPU, M=%i K=%i N=%i bits=%i block=%i symmetric=%s', async (variant, M, K, N, bits, bs, sym) => {
    const engine = await testEngine();
    const q = makeQ(N, K, bits, bs, sym, M + K);
    const inp = randn(M * K, 2), bias = randn(N, 3), out0 = randn(M * N, 4);
    const R = 3;
    const xa = randn(M * R, 5), b = randn(N * R, 6);
    for (const [withBias, accumulate, lora] of [[true, false, false], [false, true, true]] as const) {
      const want = out0.slice();
      matmulNBitsForwardCpu(want, inp, q, withBias ? bias : null, M, { accumulate, lora: lora ? { xa, b, R } : null });
      const w = uploadBlockQuantized(engine, q, 'w');
      const tInp = engine.fromArray(inp, [M * K]), tOut = engine.fromArray(out0, [M * N]);
      const tBias = engine.fromArray(bias, [N]), tXa = engine.fromArray(xa, [M * R]), tB = engine.fromArray(b, [N * R]);
      matmulForward(engine, tOut, tInp, w, withBias ? tBias : null, M, K, N, { accumulate, lora: lora ? { xa: tXa, b: tB, R } : null, nbitsVariant: variant });
      expectClose(await engine.readF32(tOut), want, { ...tol(K + R + 1), what: `forward ${variant} M=${M} K=${K} N=${N} bits=${bits} bs=${bs} bias=${withBias} acc=${accumulate} lora=${lora}` });
      releaseQuantTensor(engine, w);
      engine.release(tInp, tOut, tBias, tXa, tB);
    }
  });

  it.each(DINP_VARIANTS.flatMap((variant) => CASES.map((c) => [variant, ...c] as const)))('input gradient %s matches CPU, M=%i K=%i N=%i bits=%i block=%i symmetric=%s', async (variant, M, K, N, bits, bs, sym) => {
    const engine = await testEngine();
    const q = makeQ(N, K, bits, bs, sym, M + K + 1);
    const dout = randn(M * N, 7), dinp0 = randn(M * K, 8);
    const R = 5;
    const g = randn(M * R, 9), a = randn(R * K, 10);
    for (const [accumulate, lora] of [[false, false], [true, true]] as const) {
      const dropout = lora ? { p: 0.25, seed: 1234 } : null;
      const want = dinp0.slice();
      matmulNBitsBackwardCpu(want, dout, q, M, { accumulate, lora: lora ? { g, a, R, dropout } : null });
      const w = uploadBlockQuantized(engine, q, 'w');
      const tDout = engine.fromArray(dout, [M * N]), tDinp = engine.fromArray(dinp0, [M * K]);
      const tG = engine.fromArray(g, [M * R]), tA = engine.fromArray(a, [R * K]);
      const loraDinp = lora ? { g: tG, a: tA, R, dropout } : null;
      // The safe kernel through the matmul host (as the model calls it), the others by name.
      if (variant === 'safe') matmulBackward(engine, tDinp, null, null, tDout, tDout, w, M, K, N, { accumulate, lora: loraDinp });
      else matmulNBitsBackward(engine, tDinp, tDout, w, M, { accumulate, lora: loraDinp, variant });
      expectClose(await engine.readF32(tDinp), want, { ...tol(N + R + 1), what: `dinp ${variant} M=${M} K=${K} N=${N} bits=${bits} bs=${bs} acc=${accumulate} lora=${lora}` });
      releaseQuantTensor(engine, w);
      engine.release(tDout, tDinp, tG, tA);
    }
  });

  it('the frozen base refuses a weight or bias gradient, and batches', async () => {
    const engine = await testEngine();
    const w = uploadBlockQuantized(engine, makeQ(4, 16, 4, 16, true, 1), 'base');
    const t = engine.fromArray(randn(64, 1), [64]);
    expect(() => matmulBackward(engine, t, t, null, t, t, w, 2, 16, 4)).toThrow(/base is frozen; no dweight or dbias/);
    expect(() => matmulForward(engine, t, t, w, null, 2, 16, 4, { batch: 2 })).toThrow(/one product/);
    expect(() => matmulForward(engine, t, t, w, null, 2, 12, 4)).toThrow(/is \[4, 16\], needs \[4, 12\]/);
    releaseQuantTensor(engine, w);
    engine.release(t);
  });

  it.each([
    [9, 40, 37, 4, 16, false, 1],
    [70, 300, 5, 8, 64, true, 2.5],
    [3, 64, 1000, 4, 32, true, 1],
  ] as const)('embedding gather matches CPU, N=%i C=%i V=%i bits=%i block=%i', async (N, C, V, bits, bs, sym, scale) => {
    const engine = await testEngine();
    const q = makeQ(V, C, bits, bs, sym, N + C);
    const ids = randInts(N, V, 3);
    const want = new Float32Array(N * C);
    embeddingNBitsForwardCpu(want, ids, q, N, { scale });
    const w = uploadBlockQuantized(engine, q, 'wte');
    const out = engine.fromArray(new Float32Array(N * C), [N * C]);
    embeddingForward(engine, out, ids, null, w, null, N, C, V, { scale });
    expectClose(await engine.readF32(out), want, { atol: 1e-6, rtol: 1e-6, what: `embedding N=${N} C=${C} V=${V}` });
    // With GPT-2's learned positions added.
    const P = 11, wpe = randn(P * C, 4), pos = randInts(N, P, 5);
    const want2 = new Float32Array(N * C);
    embeddingNBitsForwardCpu(want2, ids, q, N, { scale, positions: pos, wpe, P });
    const tWpe = engine.fromArray(wpe, [P * C]);
    embeddingForward(engine, out, ids, pos, w, tWpe, N, C, V, { scale });
    expectClose(await engine.readF32(out), want2, { atol: 1e-6, rtol: 1e-6, what: `embedding+wpe N=${N} C=${C} V=${V}` });
    releaseQuantTensor(engine, w);
    engine.release(out, tWpe);
  });
});
