// CPU twin of shaders/rope_{forward,backward}.wgsl: rotary position embedding of a (B, T, NH, HS)
// tensor, one rotation pair at a time. Takes Float32Array or Float64Array (finite differences).
//
// Rotary dims d < R (R = rotaryDim, even, <= HS) are rotated in pairs (a, b) by the angle
// pos · invFreq[i], where pair i is (i, i + R/2) for 'rotate_half' (Llama / Hugging Face) and
// (2i, 2i + 1) for 'interleaved' (GPT-J, onnxruntime interleaved=1):
//   out[a] = f · (x[a]·cos − x[b]·sin),  out[b] = f · (x[b]·cos + x[a]·sin)
// with f the attention factor (YaRN; 1 otherwise). Dims d >= R pass through unscaled.
// The angle is rounded to float32 as Hugging Face computes it (f32 inv_freq times f32 position).
// out may be inp (in place).

export type FloatArray = Float32Array | Float64Array;
export type RopeStyle = 'rotate_half' | 'interleaved';

export interface RopeCpuOptions {
  /** 'rotate_half' (default) or 'interleaved'. */
  style?: RopeStyle;
  /** Leading dims that rotate (even, <= HS; default HS); the rest pass through. */
  rotaryDim?: number;
  /** Multiplies the rotated dims (YaRN's attention factor; default 1). */
  attentionFactor?: number;
}

/** Head dims (a, b) of rotation pair i when R dims rotate. */
export function ropePair(style: RopeStyle, i: number, R: number): [number, number] {
  return style === 'interleaved' ? [2 * i, 2 * i + 1] : [i, i + R / 2];
}

function rotate(
  out: FloatArray,
  inp: FloatArray,
  positions: Int32Array,
  invFreq: Float32Array,
  B: number,
  T: number,
  NH: number,
  HS: number,
  options: RopeCpuOptions,
  transpose: boolean,
): void {
  const style = options.style ?? 'rotate_half';
  const R = options.rotaryDim ?? HS;
  const f = options.attentionFactor ?? 1;
  // The transpose of a rotation by theta is the rotation by -theta.
  const sign = transpose ? -1 : 1;
  for (let bt = 0; bt < B * T; bt++) {
    const pos = positions[bt]!;
    for (let i = 0; i < R / 2; i++) {
      const theta = Math.fround(pos * invFreq[i]!);
      const c = f * Math.cos(theta);
      const s = sign * f * Math.sin(theta);
      const [a, b] = ropePair(style, i, R);
      for (let h = 0; h < NH; h++) {
        const o = (bt * NH + h) * HS;
        const x = inp[o + a]!;
        const y = inp[o + b]!;
        out[o + a] = x * c - y * s;
        out[o + b] = y * c + x * s;
      }
    }
    for (let h = 0; h < NH; h++) {
      const o = (bt * NH + h) * HS;
      for (let d = R; d < HS; d++) out[o + d] = inp[o + d]!;
    }
  }
}

export function ropeForwardCpu(
  out: FloatArray, // (B, T, NH, HS)
  inp: FloatArray, // (B, T, NH, HS)
  positions: Int32Array, // (B, T)
  invFreq: Float32Array, // (R / 2)
  B: number,
  T: number,
  NH: number,
  HS: number,
  options: RopeCpuOptions = {},
): void {
  rotate(out, inp, positions, invFreq, B, T, NH, HS, options, false);
}

/** dinp = Rᵀ · dout (assigned); the pass-through dims copy dout. dinp may be dout. */
export function ropeBackwardCpu(
  dinp: FloatArray, // (B, T, NH, HS)
  dout: FloatArray, // (B, T, NH, HS)
  positions: Int32Array, // (B, T)
  invFreq: Float32Array, // (R / 2)
  B: number,
  T: number,
  NH: number,
  HS: number,
  options: RopeCpuOptions = {},
): void {
  rotate(dinp, dout, positions, invFreq, B, T, NH, HS, options, true);
}
