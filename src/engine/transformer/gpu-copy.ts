// Copies between parts of GPU tensors (KV-cache writes, gathering rows for the LM head).
//
// Engine.copy copies whole tensors from offset 0 and kernels bind whole buffers, so a copy at an
// offset is recorded here in a command encoder of our own, submitted right after the engine's
// pending work: queue submissions run in order, so program order is kept. It costs one extra
// submit per batch of copies. TODO(engine): an `Engine.copyRange(dst, dstOffset, src, srcOffset,
// count)` recording into the engine's own encoder would remove that submit.

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

const BYTES = 4;

/** Runs the copies, in order, after all work recorded so far. 32-bit dtypes only. */
export function copyRegions(engine: Engine, copies: readonly RegionCopy[]): void {
  if (copies.length === 0) return;
  for (const c of copies) {
    for (const t of [c.dst, c.src]) {
      if (t.dtype === 'f16') throw new Error(`copyRegions: ${t.label} is f16 (32-bit dtypes only)`);
    }
    if (c.srcOffset < 0 || c.dstOffset < 0 || c.srcOffset + c.count > c.src.size || c.dstOffset + c.count > c.dst.size) {
      throw new Error(
        `copyRegions: ${c.count} values from ${c.src.label}[${c.srcOffset}] (size ${c.src.size}) ` +
          `to ${c.dst.label}[${c.dstOffset}] (size ${c.dst.size}) is out of bounds`,
      );
    }
  }
  engine.submit();
  const encoder = engine.device.createCommandEncoder({ label: 'transformer.copyRegions' });
  for (const c of copies) {
    if (c.count === 0) continue;
    encoder.copyBufferToBuffer(c.src.buffer, c.srcOffset * BYTES, c.dst.buffer, c.dstOffset * BYTES, c.count * BYTES);
  }
  engine.device.queue.submit([encoder.finish()]);
}

/** The first `shape` elements of t's buffer as a tensor (a prefix view; nothing is copied). */
export function prefixView(t: Tensor, shape: readonly number[], label = `${t.label}[prefix]`): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > t.size) throw new Error(`prefixView: ${label} needs ${size} values, ${t.label} holds ${t.size}`);
  return { buffer: t.buffer, dtype: t.dtype, shape: [...shape], size, label };
}
