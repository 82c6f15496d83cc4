// Canonical weights as arrays in Hugging Face layout, ready for the transformer
// (src/engine/transformer/config.ts WeightTensor). A weight stored in HF layout and in the dtype
// asked for is returned as a view of the file's bytes (no copy, when 4-byte aligned for f32);
// transposed ([in, out]) or packed (q|k|v) weights are rearranged into a new array once.

import { dequantize, type BlockQuantized } from '../blockq.js';
import { toF16Array } from '../f16.js';
import type { FloatWeightTensor, TransformerWeights, WeightTensor } from '../transformer/config.js';
import { decodeFloats, viewU16, type OnnxTensor } from './onnx.js';
import { toBlockQuantized } from './quantized.js';
import type { CanonicalWeight } from './recognize.js';

/** The bytes of any tensor of the graph (a quantized weight's scales and zero points). */
export type TensorBytes = (t: OnnxTensor) => Uint8Array;

/** A block-quantized weight in the engine's format (its rows, for one part of a packed q|k|v). */
export function weightQuantized(w: CanonicalWeight, bytesOf: TensorBytes): BlockQuantized {
  if (!w.quant) throw new Error(`${w.name} is not quantized`);
  return toBlockQuantized(w.quant, bytesOf, w.rows);
}

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
export function weightF32(w: CanonicalWeight, stored: Uint8Array, bytesOf?: TensorBytes): Float32Array {
  if (w.quant) {
    if (!bytesOf) throw new Error(`${w.name} is quantized: its scales' bytes are needed`);
    return dequantize(weightQuantized(w, bytesOf));
  }
  const v = toHfLayout(w, decodeFloats(w.tensor.dtype, stored), (n) => new Float32Array(n));
  return w.addend ? v.map((x) => x + w.addend!) : v;
}

/** The weight as IEEE half bits in HF layout (f32 and bf16 are rounded to nearest even). */
export function weightF16(w: CanonicalWeight, stored: Uint8Array, bytesOf?: TensorBytes): Uint16Array {
  if (w.dtype === 'f16' && !w.addend) return toHfLayout(w, viewU16(stored), (n) => new Uint16Array(n));
  return toF16Array(weightF32(w, stored, bytesOf));
}

export type WeightDTypeRequest = 'stored' | 'f32' | 'f16';

/**
 * A float WeightTensor in HF layout. 'stored' keeps f16 as f16 and gives f32 for f32 and bf16 (the
 * engine has no bf16); a block-quantized weight is dequantized (to f32 for 'stored').
 */
export function toWeightTensor(w: CanonicalWeight, stored: Uint8Array, dtype: WeightDTypeRequest = 'stored', bytesOf?: TensorBytes): FloatWeightTensor {
  const f16 = dtype === 'f16' || (dtype === 'stored' && w.dtype === 'f16');
  return f16 ? { shape: w.shape.slice(), dtype: 'f16', data: weightF16(w, stored, bytesOf) } : { shape: w.shape.slice(), dtype: 'f32', data: weightF32(w, stored, bytesOf) };
}

/**
 * As toWeightTensor, but a block-quantized weight stays packed for 'stored' and 'f16' (the engine
 * reads it so; 'f16' converts the float weights only); 'f32' dequantizes it.
 */
export function toEngineWeight(w: CanonicalWeight, stored: Uint8Array, dtype: WeightDTypeRequest, bytesOf?: TensorBytes): WeightTensor {
  if (w.quant && dtype !== 'f32') return { shape: w.shape.slice(), dtype: 'blockq', data: weightQuantized(w, bytesOf ?? (() => { throw new Error(`${w.name} is quantized: its scales' bytes are needed`); })) };
  return toWeightTensor(w, stored, dtype, bytesOf);
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
  bytesOf?: TensorBytes,
): TransformerWeights {
  const out: TransformerWeights = new Map();
  for (const [name, w] of weights) out.set(name, toEngineWeight(w, bytes(w), isLinear(name) ? linear : 'f32', bytesOf));
  return out;
}
