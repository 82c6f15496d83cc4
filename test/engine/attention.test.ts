import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import {
  attentionBackward,
  attentionForward,
  attentionSplits,
  attentionTiles,
  attentionVariantFits,
  flashTiles,
  type AttentionTiles,
  type FlashTiles,
} from '../../src/engine/kernels/attention.js';
import {
  attentionBackwardCpu,
  attentionForwardCpu,
  ATTENTION_NO_KEY,
  type AttentionCpuOptions,
  type KeyMask,
} from '../../src/engine/cpu/attention.js';
import { dot, expectClose, finiteDifferences, randn } from '../support/numeric.js';
import { fromF16Array, toF16Array } from '../../src/engine/f16.js';
import type { AttentionShape } from '../../src/engine/tuning/attention-runner.js';

/** (B, Tk) right-padded mask: row b has lengths[b] real tokens; null lengths = no mask. */
function keyMask(lengths: number[] | null, Tk: number, dtype: 'u32' | 'i32' = 'u32'): KeyMask {
  if (!lengths) return null;
  const m = dtype === 'u32' ? new Uint32Array(lengths.length * Tk) : new Int32Array(lengths.length * Tk);
  lengths.forEach((n, b) => m.fill(1, b * Tk, b * Tk + n));
  return m;
}

interface Case extends AttentionShape {
  lengths: number[] | null;
  maskType?: 'u32' | 'i32';
  options?: AttentionCpuOptions;
  tiles?: AttentionTiles;
  /** The kernel variant (src/engine/tuning/variants.ts); default safe. */
  variant?: 'safe' | 'flash' | 'split';
  flash?: FlashTiles;
  /** Key ranges per query block of the "split" variant. */
  splits?: number;
}

function name(c: Case): string {
  const extra = [
    c.lengths ? `lengths=[${c.lengths.join(',')}]` : 'no mask',
    c.options ? JSON.stringify(c.options) : '',
    c.tiles ? `tiles=${JSON.stringify(c.tiles)}` : '',
    c.flash ? `flash tiles=${JSON.stringify(c.flash)}` : '',
    c.splits ? `splits=${c.splits}` : '',
  ].filter(Boolean);
  return `${c.variant ?? 'safe'} B=${c.B} Tq=${c.Tq} Tk=${c.Tk} NH=${c.NH} NKV=${c.NKV} HS=${c.HS} ${extra.join(' ')}`;
}

function inputs(c: Case, seed: number) {
  const { B, Tq, Tk, NH, NKV, HS } = c;
  return {
    q: randn(B * Tq * NH * HS, seed),
    k: randn(B * Tk * NKV * HS, seed + 1),
    v: randn(B * Tk * NKV * HS, seed + 2),
    mask: keyMask(c.lengths, Tk, c.maskType),
  };
}

function cpuForward(c: Case, x: ReturnType<typeof inputs>) {
  const { B, Tq, Tk, NH, NKV, HS } = c;
  const out = new Float32Array(B * Tq * NH * HS);
  const lse = new Float32Array(B * NH * Tq);
  attentionForwardCpu(out, lse, x.q, x.k, x.v, x.mask, B, Tq, Tk, NH, NKV, HS, c.options);
  return { out, lse };
}

// ---- shapes ----
// Each tile configuration and head size is a pipeline of its own, and compiling one is what this
// file spends its time on: lavapipe's LLVM unrolls the loops over a small head size (HS 16 or
// 32: 10-45 s per pipeline with an empty shader cache, as on a fresh CI machine; HS 64 to 256:
// 3-9 s), and Dawn zero-fills workgroup memory, which costs SwiftShader ~0.6 ms of compile per
// float of it. So most cases share SmolLM2's head size, 64, with the default tiles (what models
// run); a head size that is not a power of two (Phi-3's 96), the large ones (128, Gemma's 256)
// and the BQ != BK orders run small explicit tiles; the kernels are the same code for every tile.
const TILES_64: AttentionTiles = { BQ: 4, BK: 2, TPR: 16 };
const TILES_64_WIDE: AttentionTiles = { BQ: 2, BK: 4, TPR: 16 };
const TILES_96: AttentionTiles = { BQ: 2, BK: 4, TPR: 8 };
const TILES_128: AttentionTiles = { BQ: 2, BK: 2, TPR: 16 };

// Training shapes both passes run, at the default tiles: T = 1, odd T, grouped heads, u32 and i32
// masks, a sequence with no real token (every row sees no key: zeros, no NaN).
const COMMON_CASES: Case[] = [
  { B: 1, Tq: 1, Tk: 1, NH: 1, NKV: 1, HS: 64, lengths: null },
  { B: 2, Tq: 7, Tk: 7, NH: 4, NKV: 2, HS: 64, lengths: [7, 1] },
  { B: 2, Tq: 33, Tk: 33, NH: 4, NKV: 1, HS: 64, lengths: [20, 33], maskType: 'i32' },
  { B: 1, Tq: 70, Tk: 70, NH: 2, NKV: 2, HS: 64, lengths: null },
  { B: 3, Tq: 17, Tk: 17, NH: 6, NKV: 3, HS: 64, lengths: [17, 9, 1] },
  { B: 2, Tq: 5, Tk: 5, NH: 2, NKV: 1, HS: 64, lengths: [0, 5] },
];

const FORWARD_CASES: Case[] = [
  ...COMMON_CASES,
  // KV cache: the last Tq of Tk positions.
  { B: 2, Tq: 1, Tk: 9, NH: 4, NKV: 2, HS: 64, lengths: [9, 6] },
  { B: 2, Tq: 3, Tk: 9, NH: 4, NKV: 2, HS: 64, lengths: [9, 6] },
  { B: 2, Tq: 3, Tk: 9, NH: 4, NKV: 2, HS: 64, lengths: [9, 6], tiles: TILES_64_WIDE },
  // A head size that is not a power of two, another scale and a softcap; the largest head size.
  { B: 1, Tq: 9, Tk: 9, NH: 3, NKV: 3, HS: 96, lengths: [7], options: { scale: 0.3, softcap: 5 }, tiles: TILES_96 },
  { B: 1, Tq: 5, Tk: 5, NH: 2, NKV: 1, HS: 128, lengths: null, tiles: TILES_128 },
  { B: 1, Tq: 6, Tk: 13, NH: 2, NKV: 1, HS: 128, lengths: [11], tiles: TILES_128 },
  // Small tiles: many blocks, partial last blocks, fewer threads per row than the default.
  { B: 2, Tq: 33, Tk: 33, NH: 4, NKV: 1, HS: 64, lengths: [20, 33], tiles: TILES_64 },
  // Sliding windows: narrower than a tile, across several skipped key blocks, with a KV cache,
  // with a softcap and scale (Gemma 2's local layers), Gemma's head size 256.
  { B: 2, Tq: 33, Tk: 33, NH: 4, NKV: 2, HS: 64, lengths: [20, 33], options: { window: 5 }, tiles: TILES_64_WIDE },
  { B: 1, Tq: 70, Tk: 70, NH: 2, NKV: 1, HS: 64, lengths: null, options: { window: 17 } },
  { B: 2, Tq: 3, Tk: 9, NH: 4, NKV: 2, HS: 64, lengths: [9, 6], options: { window: 4 }, tiles: TILES_64 },
  { B: 1, Tq: 9, Tk: 9, NH: 3, NKV: 3, HS: 96, lengths: [7], options: { scale: 0.3, softcap: 5, window: 3 }, tiles: TILES_96 },
  { B: 1, Tq: 7, Tk: 7, NH: 2, NKV: 1, HS: 256, lengths: [6], options: { scale: 1 / 16, window: 3 }, tiles: { BQ: 2, BK: 2, TPR: 16 } },
];

const BACKWARD_CASES: Case[] = [
  ...COMMON_CASES,
  { B: 1, Tq: 9, Tk: 9, NH: 3, NKV: 3, HS: 96, lengths: [7], options: { scale: 0.3, softcap: 5 }, tiles: TILES_96 },
  { B: 1, Tq: 6, Tk: 6, NH: 2, NKV: 1, HS: 128, lengths: [5], tiles: TILES_128 },
  // BQ != BK both ways: the dk/dv pass starts at query block floor(k0 / BQ).
  { B: 2, Tq: 33, Tk: 33, NH: 4, NKV: 1, HS: 64, lengths: [20, 33], tiles: TILES_64_WIDE },
  { B: 2, Tq: 33, Tk: 33, NH: 6, NKV: 2, HS: 64, lengths: [1, 30], tiles: TILES_64 },
  // Sliding windows: the dq pass skips key blocks, the dk/dv pass stops query blocks early.
  { B: 2, Tq: 33, Tk: 33, NH: 4, NKV: 2, HS: 64, lengths: [20, 33], options: { window: 5 }, tiles: TILES_64_WIDE },
  { B: 2, Tq: 33, Tk: 33, NH: 6, NKV: 2, HS: 64, lengths: [1, 30], options: { window: 9 }, tiles: TILES_64 },
  { B: 1, Tq: 9, Tk: 9, NH: 3, NKV: 3, HS: 96, lengths: [7], options: { scale: 0.3, softcap: 5, window: 2 }, tiles: TILES_96 },
  { B: 1, Tq: 7, Tk: 7, NH: 2, NKV: 1, HS: 256, lengths: [6], options: { scale: 1 / 16, window: 3 }, tiles: { BQ: 2, BK: 2, TPR: 16 } },
];

// The "flash" variant (shaders/attention_{forward,backward}_flash.wgsl) on shapes that are not
// multiples of its tiles: T = 1, odd T, a head size that is not a multiple of 4 (its vec4 rows are
// zero-padded), 3 heads per kv head (a query tile of 2 x 3 rows is not a whole number of its
// 4-row groups), padding masks (u32, i32, an empty row), the KV cache (Tq < Tk), scale, softcap,
// windows. Most cases share one shape of heads and one small tile (two vec4 slots per thread, more
// keys than positions per tile; BQ > BK once in the backward), so that SwiftShader compiles each
// pass once: a pipeline there takes about a second. T = 1 and decoding run the default tiles
// (one configuration: both have one query row).
const FLASH_HEADS = { NH: 6, NKV: 2, HS: 6 };
const FLASH_TILES: FlashTiles = { BQ: 2, BK: 4, TPQ: 1, TPK: 1 };
const FLASH_FORWARD_CASES: Case[] = [
  { B: 1, Tq: 1, Tk: 1, ...FLASH_HEADS, lengths: null },
  { B: 2, Tq: 1, Tk: 9, ...FLASH_HEADS, lengths: [9, 6] },
  { B: 3, Tq: 17, Tk: 17, ...FLASH_HEADS, lengths: [17, 9, 1], flash: FLASH_TILES },
  { B: 2, Tq: 33, Tk: 33, ...FLASH_HEADS, lengths: [20, 33], maskType: 'i32' as const, flash: FLASH_TILES },
  { B: 2, Tq: 5, Tk: 5, ...FLASH_HEADS, lengths: [0, 5], flash: FLASH_TILES },
  { B: 2, Tq: 3, Tk: 9, ...FLASH_HEADS, lengths: [9, 6], flash: FLASH_TILES },
  { B: 1, Tq: 9, Tk: 9, ...FLASH_HEADS, lengths: [7], options: { scale: 0.3, softcap: 5, window: 3 }, flash: FLASH_TILES },
  { B: 1, Tq: 70, Tk: 70, ...FLASH_HEADS, lengths: null, options: { window: 17 }, flash: FLASH_TILES },
].map((c) => ({ ...c, variant: 'flash' as const }));

// The "split" variant (decoding: each query block's key blocks split over several workgroups,
// merged by a second pass): uneven ranges (10 key blocks in 3), a window that starts the keys
// past 0 with softcap, more ranges than key blocks (empty ranges), a row with no real key, and the
// default split of a long cache at the default tiles (the flash decoding cases' pipeline).
const SPLIT_FORWARD_CASES: Case[] = [
  { B: 2, Tq: 1, Tk: 40, ...FLASH_HEADS, lengths: [40, 23], flash: FLASH_TILES, splits: 3 },
  { B: 1, Tq: 3, Tk: 37, ...FLASH_HEADS, lengths: [30], options: { softcap: 5, window: 9 }, flash: FLASH_TILES, splits: 4 },
  { B: 2, Tq: 1, Tk: 9, ...FLASH_HEADS, lengths: [9, 0], flash: FLASH_TILES, splits: 8 },
  { B: 1, Tq: 1, Tk: 200, ...FLASH_HEADS, lengths: null },
].map((c) => ({ ...c, variant: 'split' as const }));

const FLASH_BACKWARD_CASES: Case[] = [
  { B: 1, Tq: 1, Tk: 1, NH: 1, NKV: 1, HS: 4, lengths: null },
  { B: 3, Tq: 17, Tk: 17, ...FLASH_HEADS, lengths: [17, 9, 1], flash: FLASH_TILES },
  { B: 2, Tq: 33, Tk: 33, ...FLASH_HEADS, lengths: [20, 33], maskType: 'i32' as const, flash: FLASH_TILES },
  { B: 2, Tq: 5, Tk: 5, ...FLASH_HEADS, lengths: [0, 5], flash: FLASH_TILES },
  { B: 1, Tq: 9, Tk: 9, ...FLASH_HEADS, lengths: [7], options: { scale: 0.3, softcap: 5, window: 2 }, flash: FLASH_TILES },
  // A window that ends the dk/dv pass's query blocks early; query tiles larger than key tiles.
  { B: 2, Tq: 33, Tk: 33, ...FLASH_HEADS, lengths: [1, 30], options: { window: 9 }, flash: FLASH_TILES },
  { B: 2, Tq: 33, Tk: 33, ...FLASH_HEADS, lengths: [20, 33], flash: { BQ: 4, BK: 2, TPQ: 2, TPK: 2 } },
].map((c) => ({ ...c, variant: 'flash' as const }));

// Decoding against an f16 KV cache: one query and three, padded rows, both variants.
const KV_F16_CASES: Case[] = [
  { B: 2, Tq: 1, Tk: 9, NH: 4, NKV: 2, HS: 64, lengths: [9, 6] },
  { B: 2, Tq: 3, Tk: 9, NH: 4, NKV: 2, HS: 64, lengths: [9, 6] },
  { B: 2, Tq: 1, Tk: 9, ...FLASH_HEADS, lengths: [9, 6], variant: 'flash' },
  { B: 2, Tq: 1, Tk: 9, ...FLASH_HEADS, lengths: [9, 6], variant: 'split', flash: FLASH_TILES, splits: 2 },
];

// ---- tolerances ----
// GPU vs CPU, both fp32 storage: the CPU twin accumulates in float64, the GPU in fp32 in another
// order (blockwise online softmax rescaled by exp(m_old - m_new), WGSL exp/log within a few ulps).
// Outputs are convex combinations of unit-normal values, so the error is a few fp32 ulps: the
// largest measured on these cases was 7e-7 (out and lse); 5e-6 leaves room for other GPUs' exp,
// while a wrong mask, index or head is O(0.1).
const FWD_TOL = { atol: 5e-6, rtol: 5e-5 };
// Gradients sum up to T·NH/NKV products of O(1..10) terms, so their rounding grows with T and
// the group size: largest measured 6e-6 (dv, T=33, three heads per kv head); 5e-5 abs.
const BWD_TOL = { atol: 5e-5, rtol: 5e-4 };

describe('attention CPU twin', () => {
  it('KV-cache rows equal the last rows of the full causal forward', () => {
    const B = 2, Tk = 9, NH = 4, NKV = 2, HS = 8;
    const full: Case = { B, Tq: Tk, Tk, NH, NKV, HS, lengths: [9, 6] };
    const x = inputs(full, 11);
    const want = cpuForward(full, x);
    for (const Tq of [1, 3]) {
      const c: Case = { ...full, Tq };
      // The queries of the cached case are the last Tq rows of each batch row.
      const q = new Float32Array(B * Tq * NH * HS);
      for (let b = 0; b < B; b++) q.set(x.q.subarray((b * Tk + Tk - Tq) * NH * HS, (b + 1) * Tk * NH * HS), b * Tq * NH * HS);
      const got = cpuForward(c, { ...x, q });
      for (let b = 0; b < B; b++) {
        const rows = (i0: number, T: number) => [(b * T + i0) * NH * HS, (b + 1) * T * NH * HS] as const;
        expectClose(got.out.subarray(...rows(0, Tq)), want.out.subarray(...rows(Tk - Tq, Tk)), { atol: 0, rtol: 0, what: `out Tq=${Tq} b=${b}` });
        for (let h = 0; h < NH; h++) {
          const l0 = (b * NH + h) * Tq, w0 = (b * NH + h) * Tk + Tk - Tq;
          expectClose(got.lse.subarray(l0, l0 + Tq), want.lse.subarray(w0, w0 + Tq), { atol: 0, rtol: 0, what: `lse Tq=${Tq}` });
        }
      }
    }
  });

  it('grouped-query heads equal multi-head attention with each kv head repeated', () => {
    const B = 2, T = 6, NH = 6, NKV = 2, HS = 4, G = NH / NKV;
    const gqa: Case = { B, Tq: T, Tk: T, NH, NKV, HS, lengths: [6, 4] };
    const x = inputs(gqa, 21);
    const rep = (a: Float32Array) => {
      const r = new Float32Array(B * T * NH * HS);
      for (let bt = 0; bt < B * T; bt++)
        for (let h = 0; h < NH; h++) r.set(a.subarray((bt * NKV + Math.floor(h / G)) * HS, (bt * NKV + Math.floor(h / G) + 1) * HS), (bt * NH + h) * HS);
      return r;
    };
    const got = cpuForward(gqa, x);
    const want = cpuForward({ ...gqa, NKV: NH }, { ...x, k: rep(x.k), v: rep(x.v) });
    expectClose(got.out, want.out, { atol: 0, rtol: 0, what: 'out' });
  });

  it('padding: real rows match the unpadded sequence, length 1 copies v0, length 0 gives zeros', () => {
    const T = 7, NH = 2, NKV = 1, HS = 4;
    const padded: Case = { B: 3, Tq: T, Tk: T, NH, NKV, HS, lengths: [4, 1, 0] };
    const x = inputs(padded, 31);
    const got = cpuForward(padded, x);
    // Row 0 alone, length 4, no padding.
    const n = 4;
    const alone = cpuForward(
      { B: 1, Tq: n, Tk: n, NH, NKV, HS, lengths: null },
      { q: x.q.slice(0, n * NH * HS), k: x.k.slice(0, n * NKV * HS), v: x.v.slice(0, n * NKV * HS), mask: null },
    );
    expectClose(got.out.subarray(0, n * NH * HS), alone.out, { atol: 1e-7, rtol: 1e-6, what: 'real rows of b=0' });
    // Padded query positions of row 0 still see only the 4 real keys: same as the last real row's keys.
    for (let i = 0; i < T; i++) {
      for (let h = 0; h < NH; h++) {
        const o = ((1 * T + i) * NH + h) * HS;
        expectClose(got.out.subarray(o, o + HS), x.v.subarray(1 * T * NKV * HS, 1 * T * NKV * HS + HS), { atol: 1e-6, rtol: 1e-6, what: `length-1 row, query ${i}` });
      }
    }
    const empty = got.out.subarray(2 * T * NH * HS);
    expect(Array.from(empty).every((y) => y === 0)).toBe(true);
    expect(Array.from(got.lse.subarray(2 * NH * T)).every((y) => y === Math.fround(ATTENTION_NO_KEY))).toBe(true);
  });

  it('a sliding window of W: each query equals full attention over its last W positions alone', () => {
    const B = 1, T = 11, NH = 2, NKV = 1, HS = 4, W = 4;
    const c: Case = { B, Tq: T, Tk: T, NH, NKV, HS, lengths: null, options: { window: W } };
    const x = inputs(c, 51);
    const got = cpuForward(c, x);
    for (let i = 0; i < T; i++) {
      const j0 = Math.max(0, i - W + 1), n = i - j0 + 1;
      const sub = cpuForward(
        { B: 1, Tq: n, Tk: n, NH, NKV, HS, lengths: null },
        { q: x.q.slice(j0 * NH * HS, (i + 1) * NH * HS), k: x.k.slice(j0 * NKV * HS, (i + 1) * NKV * HS), v: x.v.slice(j0 * NKV * HS, (i + 1) * NKV * HS), mask: null },
      );
      expectClose(got.out.subarray(i * NH * HS, (i + 1) * NH * HS), sub.out.subarray((n - 1) * NH * HS), { atol: 1e-7, rtol: 1e-6, what: `query ${i}` });
    }
    // and the window changes the later rows (it is not a no-op)
    const full = cpuForward({ ...c, options: {} }, x);
    expect(Math.abs(full.out[(T - 1) * NH * HS]! - got.out[(T - 1) * NH * HS]!)).toBeGreaterThan(1e-3);
  });

  // float64 throughout so the central difference (h = 1e-4, truncation error ~h²·f''' ~ 1e-8,
  // rounding ~1e-16/h ~ 1e-12) is far below the 1e-6 tolerance; a wrong term is O(0.01..1).
  it.each([
    [{}],
    [{ scale: 0.7, softcap: 2 }],
    [{ window: 2 }],
  ] as [AttentionCpuOptions][])('backward equals finite differences of the forward (float64) %j', (options) => {
    const B = 2, T = 5, NH = 4, NKV = 2, HS = 3;
    const mask = keyMask([5, 3], T);
    const q = Float64Array.from(randn(B * T * NH * HS, 41));
    const k = Float64Array.from(randn(B * T * NKV * HS, 42));
    const v = Float64Array.from(randn(B * T * NKV * HS, 43));
    const w = Float64Array.from(randn(B * T * NH * HS, 44));
    const out = new Float64Array(B * T * NH * HS);
    const lse = new Float64Array(B * NH * T);
    const loss = () => (attentionForwardCpu(out, lse, q, k, v, mask, B, T, T, NH, NKV, HS, options), dot(out, w));
    loss();
    const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
    attentionBackwardCpu(dq, dk, dv, w, q, k, v, out, lse, mask, B, T, NH, NKV, HS, options);
    const tol = { atol: 1e-6, rtol: 1e-5 };
    expectClose(dq, finiteDifferences(q, loss, 1e-4), { ...tol, what: 'dq' });
    expectClose(dk, finiteDifferences(k, loss, 1e-4), { ...tol, what: 'dk' });
    expectClose(dv, finiteDifferences(v, loss, 1e-4), { ...tol, what: 'dv' });
    // Padded keys (b = 1, positions 3, 4) are never attended: exactly zero gradient.
    const pad = dk.subarray((1 * T + 3) * NKV * HS, 2 * T * NKV * HS);
    expect(Array.from(pad).every((y) => y === 0)).toBe(true);
    expect(Array.from(dv.subarray((1 * T + 3) * NKV * HS, 2 * T * NKV * HS)).every((y) => y === 0)).toBe(true);
    // and the gradients are not trivially zero elsewhere
    expect(Math.max(...Array.from(dk).map(Math.abs))).toBeGreaterThan(1e-2);
  });
});

describe('attention GPU', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it('picks tiles that fit 16 KiB and 32 KiB of workgroup memory for every head size up to 256', () => {
    for (const HS of [4, 8, 16, 24, 32, 64, 80, 96, 128, 256]) {
      for (const bytes of [16384, 32768]) {
        for (const pass of ['forward', 'backward'] as const) {
          const t = attentionTiles(pass, HS, bytes);
          expect(HS % t.TPR).toBe(0);
          // Gemma's 256-wide heads leave room for 4 x 4 tiles in 16 KiB.
          expect(t.BQ * t.BK).toBeGreaterThanOrEqual(HS === 256 && bytes === 16384 ? 8 : 32);
        }
      }
    }
  });

  it('flash tiles: fit 16 KiB and 32 KiB for head sizes up to 128 and groups up to 8; too large a head is declared unfit', async () => {
    for (const HS of [4, 6, 24, 32, 64, 80, 128]) {
      for (const G of [1, 2, 3, 4, 8]) {
        for (const bytes of [16384, 32768]) {
          for (const pass of ['forward', 'backward'] as const) {
            const t = flashTiles(pass, HS, G, 256, bytes);
            expect(t, `${pass} HS=${HS} G=${G} ${bytes} B`).not.toBeNull();
            expect(t!.BQ * G).toBeLessThanOrEqual(64);
            // A query tile no larger than the rows need (decoding: one position).
            expect(flashTiles(pass, HS, G, 1, bytes)!.BQ).toBe(1);
          }
        }
      }
    }
    const engine = await testEngine();
    expect(attentionVariantFits(engine, 'attention_forward', 'flash', 256, 9, 3, 64)).toBeNull();
    expect(attentionVariantFits(engine, 'attention_backward', 'flash', 256, 9, 3, 64)).toBeNull();
    expect(attentionVariantFits(engine, 'attention_forward', 'flash', 256, 64, 1, 2048)).toMatch(/does not fit HS=2048/);
    expect(attentionVariantFits(engine, 'attention_forward', 'split', 1, 9, 3, 64)).toBeNull();
  });

  it('split keys: enough workgroups to fill a GPU when the query blocks are few, two key blocks per range at least', () => {
    // SmolLM2 decoding one row: 3 kv heads, 512 cached keys in blocks of 32.
    expect(attentionSplits(3, 16)).toBe(8);
    expect(attentionSplits(3, 1000)).toBe(86); // ceil(256 / 3)
    expect(attentionSplits(256, 100)).toBe(1); // enough workgroups already
    expect(attentionSplits(2, 1)).toBe(1); // one key block: nothing to split
  });

  // The flash backward against central differences of the flash forward itself, both on the GPU
  // in fp32: h = 1e-2 keeps the rounding of the loss (~1e-6 / 2h ~ 1e-4) and the truncation
  // (h^2 f''' ~ 1e-4) well under the 2e-3 tolerance, while a wrong term is O(0.1). Every
  // perturbed copy of the inputs is one batch row of a single forward call.
  it('flash backward equals finite differences of the flash forward (GPU, head size 6, G = 3, mask, softcap, window)', async () => {
    const engine = await testEngine();
    const T = 5, { NH, NKV, HS } = FLASH_HEADS;
    const options = { softcap: 3, window: 3, variant: 'flash', flashTiles: FLASH_TILES };
    const x = { q: randn(T * NH * HS, 61), k: randn(T * NKV * HS, 62), v: randn(T * NKV * HS, 63) };
    const w = randn(T * NH * HS, 64);
    const mask1 = keyMask([4], T)!;
    const release: Parameters<typeof engine.release> = [];
    const up = (a: Float32Array | Uint32Array, dtype: 'f32' | 'u32' = 'f32') => {
      const t = engine.fromArray(a, [a.length], dtype);
      release.push(t);
      return t;
    };
    const zeros = (n: number) => {
      const t = engine.tensor([n], 'f32');
      release.push(t);
      return t;
    };
    // The gradients at x.
    const out = zeros(w.length), lse = zeros(NH * T);
    const [tq, tk, tv, tm] = [up(x.q), up(x.k), up(x.v), up(mask1 as Uint32Array, 'u32')];
    attentionForward(engine, out, lse, tq, tk, tv, tm, 1, T, T, NH, NKV, HS, options);
    const grads = { q: zeros(x.q.length), k: zeros(x.k.length), v: zeros(x.v.length) };
    attentionBackward(engine, grads.q, grads.k, grads.v, up(w), tq, tk, tv, out, lse, tm, 1, T, NH, NKV, HS, options);
    const got = { q: await engine.readF32(grads.q), k: await engine.readF32(grads.k), v: await engine.readF32(grads.v) };
    // Batch row 2n: coordinate n of every input moved by +h; row 2n + 1: by -h.
    const h = 1e-2;
    const coords = (['q', 'k', 'v'] as const).flatMap((key) => Array.from(x[key], (_, n) => [key, n] as const));
    const B = 2 * coords.length;
    const rep = (a: Float32Array) => {
      const r = new Float32Array(B * a.length);
      for (let b = 0; b < B; b++) r.set(a, b * a.length);
      return r;
    };
    const big = { q: rep(x.q), k: rep(x.k), v: rep(x.v) };
    coords.forEach(([key, n], c) => {
      big[key][2 * c * x[key].length + n]! += h;
      big[key][(2 * c + 1) * x[key].length + n]! -= h;
    });
    const mask = new Uint32Array(B * T);
    for (let b = 0; b < B; b++) mask.set(mask1 as Uint32Array, b * T);
    const bigOut = zeros(B * w.length), bigLse = zeros(B * NH * T);
    attentionForward(engine, bigOut, bigLse, up(big.q), up(big.k), up(big.v), up(mask, 'u32'), B, T, T, NH, NKV, HS, options);
    const o = await engine.readF32(bigOut);
    const loss = (b: number) => dot(o.subarray(b * w.length, (b + 1) * w.length), w);
    const fd = { q: new Float32Array(x.q.length), k: new Float32Array(x.k.length), v: new Float32Array(x.v.length) };
    coords.forEach(([key, n], c) => (fd[key][n] = (loss(2 * c) - loss(2 * c + 1)) / (2 * h)));
    for (const key of ['q', 'k', 'v'] as const) expectClose(got[key], fd[key], { atol: 2e-3, rtol: 1e-2, what: `d${key}` });
    expect(Math.max(...Array.from(got.k).map(Math.abs))).toBeGreaterThan(1e-2);
    // The padded key (position 4) gets no gradient.
    expect(Array.from(got.k.subarray(4 * NKV * HS)).every((y) => y === 0)).toBe(true);
    engine.release(...release);
  });

  it.each([...FORWARD_CASES, ...FLASH_FORWARD_CASES, ...SPLIT_FORWARD_CASES].map((c) => [name(c), c] as const))('forward matches CPU: %s', async (_, c) => {
    const engine = await testEngine();
    const { B, Tq, Tk, NH, NKV, HS } = c;
    const x = inputs(c, 100 + Tq + HS);
    const want = cpuForward(c, x);
    const tq = engine.fromArray(x.q, [B, Tq, NH, HS]);
    const tk = engine.fromArray(x.k, [B, Tk, NKV, HS]);
    const tv = engine.fromArray(x.v, [B, Tk, NKV, HS]);
    const tm = x.mask ? engine.fromArray(x.mask, [B, Tk], c.maskType ?? 'u32') : null;
    // Stale values in the outputs must be overwritten, not added to.
    const out = engine.fromArray(randn(B * Tq * NH * HS, 7), [B, Tq, NH, HS]);
    const lse = engine.fromArray(randn(B * NH * Tq, 8), [B, NH, Tq]);
    attentionForward(engine, out, lse, tq, tk, tv, tm, B, Tq, Tk, NH, NKV, HS, { ...c.options, tiles: c.tiles, variant: c.variant ?? 'safe', flashTiles: c.flash, splits: c.splits });
    const gotOut = await engine.readF32(out);
    const gotLse = await engine.readF32(lse);
    expectClose(gotOut, want.out, { ...FWD_TOL, what: `out ${name(c)}` });
    expectClose(gotLse, want.lse, { ...FWD_TOL, what: `lse ${name(c)}` });
    engine.release(tq, tk, tv, tm, out, lse);
  });

  // A KV cache kept in halves (generate.ts): keys and values bound as f16, read natively where the
  // device has shader-f16; the CPU twin gets the same halves as f32. Decoding shapes of both variants.
  it.each(KV_F16_CASES.map((c) => [name(c), c] as const))('forward with f16 keys and values matches CPU on the halves: %s', async (_, c) => {
    const engine = await testEngine();
    const { B, Tq, Tk, NH, NKV, HS } = c;
    const x = inputs(c, 300 + Tq + HS);
    const kBits = toF16Array(x.k);
    const vBits = toF16Array(x.v);
    const want = cpuForward(c, { ...x, k: fromF16Array(kBits), v: fromF16Array(vBits) });
    const tq = engine.fromArray(x.q, [B, Tq, NH, HS]);
    const tk = engine.fromArray(kBits, [B, Tk, NKV, HS], 'f16');
    const tv = engine.fromArray(vBits, [B, Tk, NKV, HS], 'f16');
    const tm = x.mask ? engine.fromArray(x.mask, [B, Tk], 'u32') : null;
    const out = engine.tensor([B, Tq, NH, HS]);
    const lse = engine.tensor([B, NH, Tq]);
    const run = () => attentionForward(engine, out, lse, tq, tk, tv, tm, B, Tq, Tk, NH, NKV, HS, { variant: c.variant ?? 'safe', flashTiles: c.flash, splits: c.splits });
    if (!engine.hasF16) {
      expect(run).toThrow(/k \(.*\) is f16, expected f32/);
    } else {
      run();
      expectClose(await engine.readF32(out), want.out, { ...FWD_TOL, what: `out ${name(c)}` });
      expectClose(await engine.readF32(lse), want.lse, { ...FWD_TOL, what: `lse ${name(c)}` });
    }
    engine.release(tq, tk, tv, tm, out, lse);
  });

  it.each([...BACKWARD_CASES, ...FLASH_BACKWARD_CASES].map((c) => [name(c), c] as const))('backward matches CPU: %s', async (_, c) => {
    const engine = await testEngine();
    const { B, Tq: T, NH, NKV, HS } = c;
    const x = inputs(c, 200 + T + HS);
    const { out, lse } = cpuForward(c, x);
    const dout = randn(B * T * NH * HS, 9);
    const want = {
      dq: new Float32Array(B * T * NH * HS),
      dk: new Float32Array(B * T * NKV * HS),
      dv: new Float32Array(B * T * NKV * HS),
    };
    attentionBackwardCpu(want.dq, want.dk, want.dv, dout, x.q, x.k, x.v, out, lse, x.mask, B, T, NH, NKV, HS, c.options);
    const q4 = [B, T, NH, HS], kv4 = [B, T, NKV, HS];
    const tq = engine.fromArray(x.q, q4), tk = engine.fromArray(x.k, kv4), tv = engine.fromArray(x.v, kv4);
    const tout = engine.fromArray(out, q4), tdout = engine.fromArray(dout, q4);
    const tlse = engine.fromArray(lse, [B, NH, T]);
    const tm = x.mask ? engine.fromArray(x.mask, [B, T], c.maskType ?? 'u32') : null;
    // Activation gradients are assigned: start from garbage.
    const dq = engine.fromArray(randn(want.dq.length, 1), q4);
    const dk = engine.fromArray(randn(want.dk.length, 2), kv4);
    const dv = engine.fromArray(randn(want.dv.length, 3), kv4);
    attentionBackward(engine, dq, dk, dv, tdout, tq, tk, tv, tout, tlse, tm, B, T, NH, NKV, HS, { ...c.options, tiles: c.tiles, variant: c.variant ?? 'safe', flashTiles: c.flash });
    for (const [what, t] of [['dq', dq], ['dk', dk], ['dv', dv]] as const) {
      const got = await engine.readF32(t);
      expectClose(got, want[what], { ...BWD_TOL, what: `${what} ${name(c)}` });
    }
    // Padded keys get exactly zero dk and dv.
    if (c.lengths) {
      const dkGot = await engine.readF32(dk);
      const dvGot = await engine.readF32(dv);
      c.lengths.forEach((n, b) => {
        const pad = [(b * T + n) * NKV * HS, (b + 1) * T * NKV * HS] as const;
        expect(Array.from(dkGot.subarray(...pad)).every((y) => y === 0), `dk of padded keys, b=${b}`).toBe(true);
        expect(Array.from(dvGot.subarray(...pad)).every((y) => y === 0), `dv of padded keys, b=${b}`).toBe(true);
      });
    }
    engine.release(tq, tk, tv, tout, tdout, tlse, tm, dq, dk, dv);
  });
});
