import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// Rotary position embedding of queries (B, T, NH, HS) or keys (B, T, NKV, HS), in place or not
// (shaders/rope_{forward,backward}.wgsl; CPU twin src/engine/cpu/rope.ts). Positions come from
// an i32 (B, T) tensor, so a KV-cache step or left-padded rows need no special case; the
// frequencies from a host-computed inv_freq (R / 2) tensor, so every Hugging Face rope scaling
// is a host-side computation (ropeInvFreq below).

export type RopeStyle = 'rotate_half' | 'interleaved';

export interface RopeOptions {
  /** 'rotate_half' (Llama / HF: pairs (i, i + R/2), default) or 'interleaved' (GPT-J: (2i, 2i + 1)). */
  style?: RopeStyle;
  /** Leading dims R that rotate (even, <= HS; default HS); the rest pass through. */
  rotaryDim?: number;
  /** Multiplies the rotated dims (YaRN / LongRoPE attention factor; default 1). */
  attentionFactor?: number;
}

function check(what: string, t: Tensor, size: number, dtype: 'f32' | 'i32' = 'f32'): void {
  if (t.size !== size) throw new Error(`rope: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== dtype) throw new Error(`rope: ${what} (${t.label}) is ${t.dtype}, expected ${dtype}`);
}

function dispatchRope(
  engine: Engine,
  shader: 'rope_forward' | 'rope_backward',
  dst: Tensor,
  src: Tensor,
  positions: Tensor,
  invFreq: Tensor,
  B: number,
  T: number,
  NH: number,
  HS: number,
  options: RopeOptions,
): void {
  const R = options.rotaryDim ?? HS;
  if (HS % 2 !== 0 || R % 2 !== 0 || R < 2 || R > HS) {
    throw new Error(`rope: head size ${HS} and rotary dims ${R} must be even with 2 <= rotary dims <= head size`);
  }
  check('output', dst, B * T * NH * HS);
  check('input', src, B * T * NH * HS);
  check('positions', positions, B * T, 'i32');
  check('inv_freq', invFreq, R / 2);
  const constants = { INTERLEAVED: (options.style ?? 'rotate_half') === 'interleaved' };
  const params = { BT: B * T, NH, HS, R, attn_factor: options.attentionFactor ?? 1 };
  const dstName = shader === 'rope_forward' ? 'out' : 'dinp';
  const srcName = shader === 'rope_forward' ? 'inp' : 'dout';
  if (dst.buffer === src.buffer) {
    engine.dispatch({ shader, entry: 'inplace', constants }, { [dstName]: dst, positions, inv_freq: invFreq }, params, grid1d((B * T * R) / 2, 256));
  } else {
    engine.dispatch({ shader, constants }, { [dstName]: dst, [srcName]: src, positions, inv_freq: invFreq }, params, grid1d((B * T * HS) / 2, 256));
  }
}

/** out = RoPE(inp); out may be inp (in place). */
export function ropeForward(
  engine: Engine,
  out: Tensor, // (B, T, NH, HS)
  inp: Tensor, // (B, T, NH, HS)
  positions: Tensor, // (B, T) i32
  invFreq: Tensor, // (R / 2)
  B: number,
  T: number,
  NH: number,
  HS: number,
  options: RopeOptions = {},
): void {
  dispatchRope(engine, 'rope_forward', out, inp, positions, invFreq, B, T, NH, HS, options);
}

/** dinp = Rᵀ · dout (assigned); dinp may be dout (in place). */
export function ropeBackward(
  engine: Engine,
  dinp: Tensor, // (B, T, NH, HS)
  dout: Tensor, // (B, T, NH, HS)
  positions: Tensor, // (B, T) i32
  invFreq: Tensor, // (R / 2)
  B: number,
  T: number,
  NH: number,
  HS: number,
  options: RopeOptions = {},
): void {
  dispatchRope(engine, 'rope_backward', dinp, dout, positions, invFreq, B, T, NH, HS, options);
}

// ---- frequencies: Hugging Face's rope_scaling on the host ----

/**
 * A model config's `rope_scaling` (or `rope_parameters`) as Hugging Face writes it, plus
 * `max_position_embeddings` from the top level of the config where a scheme needs it and the
 * current `seq_len` for the schemes that depend on it (dynamic, longrope).
 */
export interface RopeScaling {
  rope_type?: 'default' | 'linear' | 'dynamic' | 'llama3' | 'yarn' | 'longrope';
  /** Older configs name the scheme `type`. */
  type?: RopeScaling['rope_type'];
  factor?: number;
  max_position_embeddings?: number;
  original_max_position_embeddings?: number;
  /** Longest sequence seen so far (dynamic NTK; longrope picks long_factor past the original length). */
  seq_len?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  beta_fast?: number;
  beta_slow?: number;
  attention_factor?: number;
  mscale?: number;
  mscale_all_dim?: number;
  truncate?: boolean;
  short_factor?: number[];
  long_factor?: number[];
}

function required(s: RopeScaling, key: keyof RopeScaling): number {
  const v = s[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`rope_scaling ${ropeType(s)}: ${key} is required`);
  return v;
}

function ropeType(s: RopeScaling | undefined): NonNullable<RopeScaling['rope_type']> {
  return s?.rope_type ?? s?.type ?? 'default';
}

/** theta^(-2i / dim) for i < dim / 2: the default RoPE frequencies. */
function defaultInvFreq(dim: number, theta: number): Float64Array {
  const f = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) f[i] = 1 / theta ** ((2 * i) / dim);
  return f;
}

/** YaRN's original length and factor (current HF: factor wins, else max / original). */
function yarnLengths(s: RopeScaling): { original: number; factor: number } {
  const original = s.original_max_position_embeddings ?? s.max_position_embeddings;
  if (original === undefined) throw new Error('rope_scaling yarn: original_max_position_embeddings (or max_position_embeddings) is required');
  const factor = s.factor ?? (s.max_position_embeddings !== undefined ? s.max_position_embeddings / original : undefined);
  if (factor === undefined) throw new Error('rope_scaling yarn: factor is required');
  return { original, factor };
}

function longropeLengths(s: RopeScaling): { original: number; factor: number } {
  const original = required(s, 'original_max_position_embeddings');
  const factor = s.factor ?? required(s, 'max_position_embeddings') / original;
  return { original, factor };
}

/**
 * inv_freq (rotaryDim / 2) for a head of headDim dims whose first rotaryDim rotate, following
 * transformers' modeling_rope_utils: default, linear, dynamic (NTK), llama3, yarn, longrope.
 * HF configs give rotaryDim as int(head_dim · partial_rotary_factor) (GPT-J: rotary_dim).
 * Computed in float64 and rounded once to float32 (HF computes in float32, so values may differ
 * from HF's by an ulp or two).
 */
export function ropeInvFreq(headDim: number, rotaryDim: number, theta: number, scaling?: RopeScaling): Float32Array {
  const dim = rotaryDim;
  if (dim % 2 !== 0 || dim < 2 || dim > headDim) throw new Error(`rope: rotary dims ${dim} must be even and at most the head size ${headDim}`);
  const s = scaling ?? {};
  const type = ropeType(scaling);
  let f: Float64Array;
  switch (type) {
    case 'default':
      f = defaultInvFreq(dim, theta);
      break;
    case 'linear': {
      // Dividing the frequencies is dividing the positions by factor.
      const factor = required(s, 'factor');
      f = defaultInvFreq(dim, theta).map((x) => x / factor);
      break;
    }
    case 'dynamic': {
      // NTK-aware: a larger base once the sequence outgrows the trained length.
      const factor = required(s, 'factor');
      const max = required(s, 'max_position_embeddings');
      const seqLen = Math.max(s.seq_len ?? max, max);
      const base = theta * ((factor * seqLen) / max - (factor - 1)) ** (dim / (dim - 2));
      f = defaultInvFreq(dim, base);
      break;
    }
    case 'llama3': {
      // Long wavelengths are divided by factor, short ones kept, the band between interpolated.
      const factor = required(s, 'factor');
      const low = required(s, 'low_freq_factor');
      const high = required(s, 'high_freq_factor');
      const oldLen = required(s, 'original_max_position_embeddings');
      const lowFreqWavelen = oldLen / low;
      const highFreqWavelen = oldLen / high;
      f = defaultInvFreq(dim, theta).map((x) => {
        const wavelen = (2 * Math.PI) / x;
        if (wavelen < highFreqWavelen) return x;
        if (wavelen > lowFreqWavelen) return x / factor;
        const smooth = (oldLen / wavelen - low) / (high - low);
        return (1 - smooth) * (x / factor) + smooth * x;
      });
      break;
    }
    case 'yarn': {
      // Interpolated (x / factor) below the ramp, extrapolated (x) above, linear in between.
      const { original, factor } = yarnLengths(s);
      const betaFast = s.beta_fast || 32;
      const betaSlow = s.beta_slow || 1;
      const correctionDim = (rotations: number) =>
        (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
      let lo = correctionDim(betaFast);
      let hi = correctionDim(betaSlow);
      if (s.truncate ?? true) {
        lo = Math.floor(lo);
        hi = Math.ceil(hi);
      }
      lo = Math.max(lo, 0);
      hi = Math.min(hi, dim - 1);
      if (lo === hi) hi += 0.001;
      f = defaultInvFreq(dim, theta).map((x, i) => {
        const ramp = Math.min(Math.max((i - lo) / (hi - lo), 0), 1);
        const extrapolation = 1 - ramp;
        return (x / factor) * (1 - extrapolation) + x * extrapolation;
      });
      break;
    }
    case 'longrope': {
      const { original } = longropeLengths(s);
      const ext = s.seq_len !== undefined && s.seq_len > original ? s.long_factor : s.short_factor;
      if (!ext || ext.length !== dim / 2) throw new Error(`rope_scaling longrope: short_factor and long_factor must hold ${dim / 2} values`);
      f = defaultInvFreq(dim, theta).map((x, i) => x / ext[i]!);
      break;
    }
    default:
      throw new Error(`rope_scaling: unknown rope_type "${String(type)}"`);
  }
  return Float32Array.from(f);
}

/** The multiplier of cos and sin (RopeOptions.attentionFactor): 1 except for yarn and longrope. */
export function ropeAttentionFactor(scaling?: RopeScaling): number {
  const s = scaling ?? {};
  const type = ropeType(scaling);
  if (s.attention_factor !== undefined && (type === 'yarn' || type === 'longrope')) return s.attention_factor;
  if (type === 'yarn') {
    const { factor } = yarnLengths(s);
    const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
    if (s.mscale && s.mscale_all_dim) return mscale(factor, s.mscale) / mscale(factor, s.mscale_all_dim);
    return mscale(factor);
  }
  if (type === 'longrope') {
    const { original, factor } = longropeLengths(s);
    return factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  }
  return 1;
}
