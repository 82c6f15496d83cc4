// Copies between parts of GPU tensors (KV-cache writes, gathering rows for the LM head), recorded
// in the engine's stream like any kernel.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';

export interface RegionCopy {
  dst: Tensor;
  /** In elements of dst. */
  dstOffset: number;
  src: Tensor;
  /** In elements of src. */
  srcOffset: number;
  /** Elements. */
  count: number;
}

/** Runs the copies, in order, after all work recorded so far. 32-bit dtypes only. */
export function copyRegions(engine: Engine, copies: readonly RegionCopy[]): void {
  for (const c of copies) engine.copyRange(c.dst, c.dstOffset, c.src, c.srcOffset, c.count);
}

/** The first `shape` elements of t's buffer as a tensor (a prefix view; nothing is copied). */
export function prefixView(t: Tensor, shape: readonly number[], label = `${t.label}[prefix]`): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > t.size) throw new Error(`prefixView: ${label} needs ${size} values, ${t.label} holds ${t.size}`);
  return { buffer: t.buffer, dtype: t.dtype, shape: [...shape], size, label };
}
