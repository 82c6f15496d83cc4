// Which variant of a model folder to load when the caller names none, and the GPU memory each
// needs, told from the file sizes before any file is read.
//
// The order is layout.ts's (fp16, fp32, then the 4-bit and 8-bit exports): the first variant whose
// weights fit the GPU memory budget is chosen, so a quantized base is loaded only when nothing of
// better quality fits (or when the person asks for it).
//
// GPU bytes per file byte, by the formats the engine keeps on the GPU (memory.ts, blockq.ts) against
// the ones transformers.js's exports write, at their block size of 32 (a larger block needs less):
//   fp32, fp16   the weights as stored (norms and biases of an f16 file go to f32: a few KiB);
//   q4           MatMulNBits: 4-bit codes + an f32 scale per block in the file (0.625 B a weight),
//                codes + f32 scale + f32 zero point on the GPU (0.75 B): at most 1.2x;
//   q4f16        the same with f16 scales in the file (0.5625 B): at most 4/3;
//   int8, uint8  8-bit codes with a scale per row or tensor (1 B) become 8-bit blocks of 32 with an
//                f32 scale and zero point each (1.25 B): at most 1.25x.
// Unquantized tables in a quantized file (embeddings) stay as stored: below the factor.

import { formatBytes } from './errors.js';
import type { OnnxDtype, OnnxVariant } from './layout.js';

const BLOCK = 32;
const q4Gpu = 0.5 + 8 / BLOCK;

const GPU_PER_FILE_BYTE: Partial<Record<OnnxDtype, number>> = {
  fp32: 1,
  fp16: 1,
  q4: q4Gpu / (0.5 + 4 / BLOCK),
  q4f16: q4Gpu / (0.5 + 2 / BLOCK),
  int8: (1 + 8 / BLOCK) / 1,
  uint8: (1 + 8 / BLOCK) / 1,
  quantized: (1 + 8 / BLOCK) / 1,
};

/** About how much GPU memory the variant's weights take (an upper estimate); undefined when its size or format is unknown. */
export function variantGpuBytes(v: Pick<OnnxVariant, 'dtype' | 'bytes'>): number | undefined {
  const factor = v.dtype ? GPU_PER_FILE_BYTE[v.dtype] : undefined;
  return factor !== undefined && v.bytes !== undefined ? Math.ceil(v.bytes * factor) : undefined;
}

export interface VariantChoice {
  /** Path of the chosen .onnx file. */
  file: string;
  /** Why, in words. */
  reason: string;
  /** False when no variant fits the budget by the estimate (the smallest is chosen; loading it may still be refused). */
  fits: boolean;
}

const name = (v: OnnxVariant) => `${v.file} (${v.dtype ?? 'unknown precision'})`;

/**
 * The variant to load among `variants` (preferred first, as onnxVariants orders them) under a GPU
 * memory budget: the first that fits; when none does, the smallest. A variant of unknown size
 * counts as fitting (nothing says it does not).
 */
export function chooseVariant(variants: readonly OnnxVariant[], budgetBytes: number): VariantChoice {
  if (variants.length === 0) throw new Error('chooseVariant: no variants');
  const need = (v: OnnxVariant) => variantGpuBytes(v);
  const fitting = variants.findIndex((v) => (need(v) ?? 0) <= budgetBytes);
  const budget = formatBytes(budgetBytes);
  if (fitting === 0) return { file: variants[0]!.file, reason: variants.length > 1 ? `${variants[0]!.dtype ?? 'the first'}, the preferred variant, fits the ${budget} budget` : 'the only variant', fits: true };
  const over = (vs: readonly OnnxVariant[]) => vs.map((v) => `${v.dtype ?? v.file} needs about ${formatBytes(need(v)!)}`).join(', ');
  if (fitting > 0) {
    const v = variants[fitting]!;
    return { file: v.file, reason: `${name(v)}: the better ones do not fit the ${budget} GPU memory budget (${over(variants.slice(0, fitting))})`, fits: true };
  }
  const smallest = variants.reduce((a, b) => (need(b)! < need(a)! ? b : a));
  return { file: smallest.file, reason: `no variant fits the ${budget} GPU memory budget (${over(variants)}): the smallest, ${name(smallest)}, is tried`, fits: false };
}
