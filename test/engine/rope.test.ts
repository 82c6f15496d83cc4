import { describe, it, afterAll, expect } from 'vitest';
import { testEngine } from '#test-engine';
import { ropeAttentionFactor, ropeBackward, ropeForward, ropeInvFreq } from '../../src/engine/kernels/rope.js';
import { ropeBackwardCpu, ropeForwardCpu, ropePair, type RopeCpuOptions } from '../../src/engine/cpu/rope.js';
import { dot, expectClose, finiteDifferences, randn } from '../support/numeric.js';

interface Case {
  B: number;
  T: number;
  NH: number;
  HS: number;
  /** (B, T) positions, row by row. */
  positions: number[];
  theta?: number;
  options?: RopeCpuOptions;
}

function name(c: Case): string {
  const pos = c.positions.length > 8 ? `${c.positions.slice(0, 6).join(',')},...` : c.positions.join(',');
  return `B=${c.B} T=${c.T} NH=${c.NH} HS=${c.HS} pos=[${pos}] ${JSON.stringify(c.options ?? {})}`;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

// Left padding as HF writes it: pad positions are 1, real tokens count from 0.
const leftPadded = (T: number, pad: number) => [...Array(pad).fill(1), ...range(0, T - pad)];

const CASES: Case[] = [
  { B: 1, T: 1, NH: 1, HS: 2, positions: [7] },
  { B: 2, T: 5, NH: 3, HS: 8, positions: [...range(5, 5), ...range(11, 5)], options: { style: 'interleaved' } },
  // B·T·HS/2 = 2368 threads: not a multiple of 256.
  { B: 2, T: 37, NH: 4, HS: 64, positions: [...range(0, 37), ...leftPadded(37, 9)] },
  // Partial rotary (GPT-NeoX / Phi style) with a YaRN-like attention factor, both conventions.
  { B: 3, T: 7, NH: 2, HS: 24, positions: range(3, 21), options: { rotaryDim: 8, attentionFactor: 1.25 } },
  { B: 3, T: 7, NH: 2, HS: 24, positions: range(3, 21), options: { style: 'interleaved', rotaryDim: 16 } },
  // One KV-cache step: each row at its own position.
  { B: 2, T: 1, NH: 2, HS: 16, positions: [100, 37] },
  // 128k-context positions (Llama 3.1 theta): the kernel's own range reduction of the angle.
  { B: 1, T: 5, NH: 1, HS: 128, positions: [0, 65535, 100000, 123457, 131071], theta: 500000 },
];

function inputs(c: Case, seed: number) {
  const R = c.options?.rotaryDim ?? c.HS;
  return {
    x: randn(c.B * c.T * c.NH * c.HS, seed),
    positions: Int32Array.from(c.positions),
    invFreq: ropeInvFreq(c.HS, R, c.theta ?? 10000),
  };
}

// ---- tolerances ----
// GPU vs CPU: the angle is the same f32 product on both; the CPU takes Math.cos/sin of it in
// float64, the GPU its own range reduction and polynomials (~8e-8 absolute up to |angle| 2.5e5
// in an f32 emulation). Outputs are sums of two products of unit-normal values with such cos/sin:
// largest error measured here 4.8e-7 (a few f32 ulps of values ~3); 2e-6 leaves room, while a
// wrong pair, sign or position is O(0.1..1). SwiftShader's builtin sin/cos alone would miss by
// up to 7e-4 on these cases. Pass-through dims are copies and are checked for equality.
const TOL = { atol: 2e-6, rtol: 1e-5 };

describe('rope frequencies (ropeInvFreq, ropeAttentionFactor)', () => {
  const close = (got: ArrayLike<number>, want: number[], what: string) =>
    expectClose(got, want, { atol: 0, rtol: 2e-7, what }); // float32 rounding of float64 values

  it('default: theta^(-2i/dim), partial rotary uses the rotary dims', () => {
    close(ropeInvFreq(8, 8, 10000), [1, 0.1, 0.01, 0.001], 'default HS=8');
    close(ropeInvFreq(8, 4, 10000), [1, 0.01], 'rotaryDim=4 of 8');
    close(ropeInvFreq(8, 8, 10000, { rope_type: 'default' }), [1, 0.1, 0.01, 0.001], 'explicit default');
  });

  it('linear divides by factor (legacy "type" key too)', () => {
    close(ropeInvFreq(8, 8, 10000, { rope_type: 'linear', factor: 4 }), [0.25, 0.025, 0.0025, 0.00025], 'linear');
    close(ropeInvFreq(8, 8, 10000, { type: 'linear', factor: 2 }), [0.5, 0.05, 0.005, 0.0005], 'legacy type');
  });

  it('dynamic NTK: base grows once seq_len exceeds max_position_embeddings', () => {
    const s = { rope_type: 'dynamic' as const, factor: 2, max_position_embeddings: 2048 };
    // At or below the trained length: the default frequencies.
    close(ropeInvFreq(8, 8, 10000, { ...s, seq_len: 1000 }), [1, 0.1, 0.01, 0.001], 'short sequence');
    // seq_len 4096: base = 10000 · (2·4096/2048 − 1)^(8/6) = 10000 · 3^(4/3).
    const base = 10000 * 3 ** (4 / 3);
    close(ropeInvFreq(8, 8, 10000, { ...s, seq_len: 4096 }), [1, base ** -0.25, base ** -0.5, base ** -0.75], 'seq_len 4096');
  });

  it('llama3: keeps high frequencies, divides low ones, interpolates the band between', () => {
    // Wavelengths 2π/[1, 0.1, 0.01, 0.001] = 6.28, 62.8, 628.3, 6283; with original length 2048,
    // low_freq_factor 1, high_freq_factor 4 the band is [512, 2048].
    const s = { rope_type: 'llama3' as const, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 2048 };
    const smooth = (2048 / (2 * Math.PI * 100) - 1) / (4 - 1); // 0.7532 for wavelength 628.3
    close(ropeInvFreq(8, 8, 10000, s), [1, 0.1, (1 - smooth) * (0.01 / 8) + smooth * 0.01, 0.001 / 8], 'llama3');
    expect(smooth).toBeGreaterThan(0.75);
    expect(smooth).toBeLessThan(0.76);
  });

  it('yarn: interpolation ramp between the correction dims, attention factor 0.1·ln(factor) + 1', () => {
    // dim 8, theta 1e4, original 2048: correction dims 8·ln(2048/(2π·32))/(2·ln 1e4) = 1.008 -> 1
    // and 8·ln(2048/(2π·1))/(2·ln 1e4) = 2.513 -> 3; ramp (i − 1)/2 clamped: 0, 0, 0.5, 1.
    const s = { rope_type: 'yarn' as const, factor: 4, original_max_position_embeddings: 2048 };
    close(ropeInvFreq(8, 8, 10000, s), [1, 0.1, 0.5 * 0.01 + 0.5 * (0.01 / 4), 0.001 / 4], 'yarn');
    expect(ropeAttentionFactor(s)).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    expect(ropeAttentionFactor({ ...s, attention_factor: 0.9 })).toBe(0.9);
    expect(ropeAttentionFactor({ ...s, mscale: 2, mscale_all_dim: 1 })).toBeCloseTo((0.2 * Math.log(4) + 1) / (0.1 * Math.log(4) + 1), 12);
  });

  it('longrope: short or long factors by sequence length, attention factor from the length ratio', () => {
    const s = {
      rope_type: 'longrope' as const,
      short_factor: [1, 2, 4, 8],
      long_factor: [2, 4, 8, 16],
      original_max_position_embeddings: 4096,
      max_position_embeddings: 131072,
    };
    close(ropeInvFreq(8, 8, 10000, s), [1, 0.05, 0.0025, 0.000125], 'short');
    close(ropeInvFreq(8, 8, 10000, { ...s, seq_len: 5000 }), [0.5, 0.025, 0.00125, 0.0000625], 'long');
    expect(ropeAttentionFactor(s)).toBeCloseTo(Math.sqrt(1 + Math.log(32) / Math.log(4096)), 12);
    expect(ropeAttentionFactor({ rope_type: 'llama3' })).toBe(1);
  });

  it('rejects odd or oversized rotary dims and unknown types', () => {
    expect(() => ropeInvFreq(8, 7, 10000)).toThrow();
    expect(() => ropeInvFreq(8, 10, 10000)).toThrow();
    expect(() => ropeInvFreq(8, 8, 10000, { rope_type: 'linear' })).toThrow(/factor/);
    expect(() => ropeInvFreq(8, 8, 10000, { rope_type: 'nope' as never })).toThrow(/unknown/);
  });
});

describe('rope CPU twin', () => {
  it('matches the rotation written out by hand (rotate_half and interleaved)', () => {
    const x = Float32Array.from([0.3, -1.2, 0.7, 2.0]);
    const invFreq = Float32Array.from([1, 0.01]);
    const p = 3;
    const [c0, s0] = [Math.cos(p), Math.sin(p)];
    const a1 = Math.fround(p * Math.fround(0.01)); // the angle is f32(p · f32(0.01))
    const got = new Float32Array(4);
    ropeForwardCpu(got, x, Int32Array.from([p]), invFreq, 1, 1, 1, 4);
    // rotate_half pairs (0, 2) and (1, 3).
    const want = [0.3 * c0 - 0.7 * s0, -1.2 * Math.cos(a1) - 2.0 * Math.sin(a1), 0.7 * c0 + 0.3 * s0, 2.0 * Math.cos(a1) + -1.2 * Math.sin(a1)];
    expectClose(got, want, { atol: 1e-7, rtol: 1e-6, what: 'rotate_half' });
    ropeForwardCpu(got, x, Int32Array.from([p]), invFreq, 1, 1, 1, 4, { style: 'interleaved' });
    // interleaved pairs (0, 1) and (2, 3).
    const wantI = [0.3 * c0 + 1.2 * s0, -1.2 * c0 + 0.3 * s0, 0.7 * Math.cos(a1) - 2.0 * Math.sin(a1), 2.0 * Math.cos(a1) + 0.7 * Math.sin(a1)];
    expectClose(got, wantI, { atol: 1e-7, rtol: 1e-6, what: 'interleaved' });
  });

  it('preserves the norm of each pair, passes the other dims through, and is the identity at position 0', () => {
    for (const style of ['rotate_half', 'interleaved'] as const) {
      const B = 2, T = 6, NH = 3, HS = 20, R = 12;
      const x = randn(B * T * NH * HS, 5);
      const positions = Int32Array.from([...range(5, 6), 0, 0, 1, 2, 3, 4]);
      const invFreq = ropeInvFreq(HS, R, 10000);
      const out = new Float64Array(x.length);
      ropeForwardCpu(out, x, positions, invFreq, B, T, NH, HS, { style, rotaryDim: R });
      for (let bt = 0; bt < B * T; bt++) {
        for (let h = 0; h < NH; h++) {
          const o = (bt * NH + h) * HS;
          for (let i = 0; i < R / 2; i++) {
            const [a, b] = ropePair(style, i, R);
            const n0 = x[o + a]! ** 2 + x[o + b]! ** 2;
            const n1 = out[o + a]! ** 2 + out[o + b]! ** 2;
            expect(Math.abs(n1 - n0)).toBeLessThanOrEqual(1e-12 * Math.max(1, n0));
          }
          for (let d = R; d < HS; d++) expect(out[o + d]).toBe(x[o + d]);
          if (positions[bt] === 0) for (let d = 0; d < HS; d++) expect(out[o + d]).toBe(x[o + d]);
        }
      }
    }
  });

  it('interleaved equals rotate_half on dims permuted (2i, 2i+1) -> (i, i + R/2)', () => {
    const B = 1, T = 4, NH = 2, HS = 10, R = 8;
    const x = randn(B * T * NH * HS, 6);
    const positions = Int32Array.from([5, 6, 7, 8]);
    const invFreq = ropeInvFreq(HS, R, 10000);
    const perm = (v: Float32Array) => {
      const r = v.slice();
      for (let row = 0; row < B * T * NH; row++)
        for (let i = 0; i < R / 2; i++) {
          r[row * HS + i] = v[row * HS + 2 * i]!;
          r[row * HS + i + R / 2] = v[row * HS + 2 * i + 1]!;
        }
      return r;
    };
    const a = new Float32Array(x.length), b = new Float32Array(x.length);
    ropeForwardCpu(a, x, positions, invFreq, B, T, NH, HS, { style: 'interleaved', rotaryDim: R });
    ropeForwardCpu(b, perm(x), positions, invFreq, B, T, NH, HS, { rotaryDim: R });
    expectClose(perm(a), b, { atol: 0, rtol: 0, what: 'permuted' });
  });

  it('q·k after RoPE depends only on the relative position', () => {
    const HS = 16;
    const q = randn(HS, 7), k = randn(HS, 8);
    const invFreq = ropeInvFreq(HS, HS, 10000);
    const score = (m: number, n: number) => {
      const rq = new Float64Array(HS), rk = new Float64Array(HS);
      ropeForwardCpu(rq, q, Int32Array.from([m]), invFreq, 1, 1, 1, HS);
      ropeForwardCpu(rk, k, Int32Array.from([n]), invFreq, 1, 1, 1, HS);
      return dot(rq, rk);
    };
    // Small positions keep the f32 angles exact enough for 1e-5.
    expect(score(9, 4)).toBeCloseTo(score(5, 0), 5);
    expect(score(12, 3)).toBeCloseTo(score(19, 10), 5);
    expect(Math.abs(score(9, 4) - score(9, 5))).toBeGreaterThan(1e-3);
  });

  // RoPE is linear in its input, so central differences are exact up to float64 rounding.
  it.each([
    [{}],
    [{ style: 'interleaved', rotaryDim: 6, attentionFactor: 1.3 }],
  ] as [RopeCpuOptions][])('backward equals finite differences of the forward (float64) %j', (options) => {
    const B = 2, T = 3, NH = 2, HS = 10;
    const x = Float64Array.from(randn(B * T * NH * HS, 9));
    const w = Float64Array.from(randn(B * T * NH * HS, 10));
    const positions = Int32Array.from([5, 6, 7, 1, 0, 1]);
    const invFreq = ropeInvFreq(HS, options.rotaryDim ?? HS, 10000);
    const out = new Float64Array(x.length);
    const loss = () => (ropeForwardCpu(out, x, positions, invFreq, B, T, NH, HS, options), dot(out, w));
    const dx = new Float64Array(x.length);
    ropeBackwardCpu(dx, w, positions, invFreq, B, T, NH, HS, options);
    expectClose(dx, finiteDifferences(x, loss, 1e-3), { atol: 1e-9, rtol: 1e-9, what: 'dinp' });
  });
});

describe('rope GPU', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES.map((c) => [name(c), c] as const))('forward matches CPU, out of place and in place: %s', async (_, c) => {
    const engine = await testEngine();
    const { x, positions, invFreq } = inputs(c, 1);
    const { B, T, NH, HS } = c;
    const want = new Float32Array(x.length);
    ropeForwardCpu(want, x, positions, invFreq, B, T, NH, HS, c.options);
    const tx = engine.fromArray(x, [B, T, NH, HS]);
    const tp = engine.fromArray(positions, [B, T], 'i32');
    const tf = engine.fromArray(invFreq, [invFreq.length]);
    const out = engine.tensor([B, T, NH, HS]);
    ropeForward(engine, out, tx, tp, tf, B, T, NH, HS, c.options);
    const got = await engine.readF32(out);
    expectClose(got, want, { ...TOL, what: `forward ${name(c)}` });
    // Pass-through dims are copies.
    const R = c.options?.rotaryDim ?? HS;
    for (let row = 0; row < B * T * NH; row++) for (let d = R; d < HS; d++) expect(got[row * HS + d]).toBe(x[row * HS + d]);
    // Each pair keeps its norm (times the attention factor squared): f32 rounding only.
    const f2 = (c.options?.attentionFactor ?? 1) ** 2;
    for (let row = 0; row < B * T * NH; row++) {
      for (let i = 0; i < R / 2; i++) {
        const [a, b] = ropePair(c.options?.style ?? 'rotate_half', i, R);
        const n0 = f2 * (x[row * HS + a]! ** 2 + x[row * HS + b]! ** 2);
        const n1 = got[row * HS + a]! ** 2 + got[row * HS + b]! ** 2;
        expect(Math.abs(n1 - n0)).toBeLessThanOrEqual(1e-6 * Math.max(n0, 1));
      }
    }
    ropeForward(engine, tx, tx, tp, tf, B, T, NH, HS, c.options);
    expectClose(await engine.readF32(tx), want, { ...TOL, what: `in-place forward ${name(c)}` });
    engine.release(tx, tp, tf, out);
  });

  it.each(CASES.map((c) => [name(c), c] as const))('backward matches CPU, out of place and in place: %s', async (_, c) => {
    const engine = await testEngine();
    const { x: dout, positions, invFreq } = inputs(c, 2);
    const { B, T, NH, HS } = c;
    const want = new Float32Array(dout.length);
    ropeBackwardCpu(want, dout, positions, invFreq, B, T, NH, HS, c.options);
    const td = engine.fromArray(dout, [B, T, NH, HS]);
    const tp = engine.fromArray(positions, [B, T], 'i32');
    const tf = engine.fromArray(invFreq, [invFreq.length]);
    // Stale values in dinp must be overwritten, not accumulated.
    const dinp = engine.fromArray(randn(dout.length, 3), [B, T, NH, HS]);
    ropeBackward(engine, dinp, td, tp, tf, B, T, NH, HS, c.options);
    expectClose(await engine.readF32(dinp), want, { ...TOL, what: `backward ${name(c)}` });
    ropeBackward(engine, td, td, tp, tf, B, T, NH, HS, c.options);
    expectClose(await engine.readF32(td), want, { ...TOL, what: `in-place backward ${name(c)}` });
    engine.release(td, tp, tf, dinp);
  });

  it('backward undoes the forward (Rᵀ R = f² I)', async () => {
    const engine = await testEngine();
    const B = 2, T = 9, NH = 3, HS = 32;
    const options = { style: 'interleaved' as const, rotaryDim: 24, attentionFactor: 1.5 };
    const x = randn(B * T * NH * HS, 4);
    const tx = engine.fromArray(x, [B, T, NH, HS]);
    const tp = engine.fromArray(Int32Array.from(range(20, B * T)), [B, T], 'i32');
    const tf = engine.fromArray(ropeInvFreq(HS, 24, 10000), [12]);
    ropeForward(engine, tx, tx, tp, tf, B, T, NH, HS, options);
    ropeBackward(engine, tx, tx, tp, tf, B, T, NH, HS, options);
    const want = x.map((v, i) => ((i % HS) < 24 ? v * 2.25 : v));
    expectClose(await engine.readF32(tx), want, { atol: 2e-6, rtol: 1e-5, what: 'Rᵀ R x' });
    engine.release(tx, tp, tf);
  });

  it('rejects mismatched shapes and dtypes', async () => {
    const engine = await testEngine();
    const x = engine.tensor([1, 2, 1, 8]);
    const p32 = engine.tensor([1, 2], 'f32');
    const p = engine.tensor([1, 2], 'i32');
    const f = engine.tensor([4]);
    expect(() => ropeForward(engine, x, x, p32, f, 1, 2, 1, 8)).toThrow(/positions/);
    expect(() => ropeForward(engine, x, x, p, f, 1, 2, 1, 8, { rotaryDim: 6 })).toThrow(/inv_freq/);
    expect(() => ropeForward(engine, x, x, p, f, 1, 2, 1, 8, { rotaryDim: 10 })).toThrow(/even/);
    engine.release(x, p32, p, f);
  });
});
