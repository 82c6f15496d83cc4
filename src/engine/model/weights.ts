// Canonical weights as arrays in Hugging Face layout, ready for the transformer
// (src/engine/transformer/config.ts WeightTensor). A weight stored in HF layout and in the dtype
// asked for is returned as a view of the file's bytes (no copy, when 4-byte aligned for f32);
// transposed ([in, out]) or packed (q|k|v) weights are rearranged into a new array once.

import { toF16Array } from '../f16.js';
import type { TransformerWeights, WeightTensor } from '../transformer/config.js';
import { decodeFloats, viewU16 } from './onnx.js';
import type { CanonicalWeight } from './recognize.js';

type Arr = Float32Array | Uint16Array;

/** Applies the weight's row range and transposition: stored layout → HF layout. */
function toHfLayout<T extends Arr>(w: CanonicalWeight, stored: T, make: (n: number) => T): T {
  const rows = w.rows;
  if (w.shape.length === 1) return rows ? (stored.subarray(rows.start, rows.start + rows.count) as T) : stored;
  if (!w.transposed) {
    if (!rows) return stored;
    const inF = w.shape[1]!;
    return stored.subarray(rows.start * inF, (rows.start + rows.count) * inF) as T;
  }
  // Stored [in, outTotal]; HF [out, in] takes columns start .. start + out.
  const [out, inF] = w.shape as [number, number];
  const outTotal = w.tensor.dims[1]!;
  const start = rows?.start ?? 0;
  const res = make(out * inF);
  for (let r = 0; r < out; r++) {
    for (let c = 0; c < inF; c++) res[r * inF + c] = stored[c * outTotal + start + r]!;
  }
  return res;
}

/** The weight as float32 values in HF layout (with the norm addend: Gemma's folded 1 + w, less 1). */
export function weightF32(w: CanonicalWeight, stored: Uint8Array): Float32Array {
  const v = toHfLayout(w, decodeFloats(w.tensor.dtype, stored), (n) => new Float32Array(n));
  return w.addend ? v.map((x) => x + w.addend!) : v;
}

/** The weight as IEEE half bits in HF layout (f32 and bf16 are rounded to nearest even). */
export function weightF16(w: CanonicalWeight, stored: Uint8Array): Uint16Array {
  if (w.dtype === 'f16' && !w.addend) return toHfLayout(w, viewU16(stored), (n) => new Uint16Array(n));
  return toF16Array(weightF32(w, stored));
}

export type WeightDTypeRequest = 'stored' | 'f32' | 'f16';

/**
 * A WeightTensor in HF layout. 'stored' keeps f16 as f16 and gives f32 for f32 and bf16 (the
 * engine has no bf16).
 */
export function toWeightTensor(w: CanonicalWeight, stored: Uint8Array, dtype: WeightDTypeRequest = 'stored'): WeightTensor {
  const f16 = dtype === 'f16' || (dtype === 'stored' && w.dtype === 'f16');
  return f16 ? { shape: w.shape.slice(), dtype: 'f16', data: weightF16(w, stored) } : { shape: w.shape.slice(), dtype: 'f32', data: weightF32(w, stored) };
}

/**
 * Every canonical weight as TransformerWeights. `linear` picks the dtype of the linear weights
 * and embeddings (the ones the engine keeps in f16 when given f16); norms and biases are f32.
 */
export function buildTransformerWeights(
  weights: Map<string, CanonicalWeight>,
  bytes: (w: CanonicalWeight) => Uint8Array,
  isLinear: (name: string) => boolean,
  linear: WeightDTypeRequest = 'stored',
): TransformerWeights {
  const out: TransformerWeights = new Map();
  for (const [name, w] of weights) out.set(name, toWeightTensor(w, bytes(w), isLinear(name) ? linear : 'f32'));
  return out;
}
