import type { Engine } from '../gpu/engine.js';
import { numel, type Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// Row r of `rows` rows of N f32 values, inp[inpOffset + r·N ..], to f16 at out's u32 word dst[r]
// (two halves a word); one dispatch for them all. N and inpOffset are even.
export function f16PackForward(engine: Engine, out: Tensor, inp: Tensor, dst: Tensor, N: number, rows: number, inpOffset = 0): void {
  if (out.dtype !== 'f16') throw new Error(`f16Pack: ${out.label} is ${out.dtype}, not f16`);
  if (dst.dtype !== 'u32' || numel(dst.shape) < rows) throw new Error(`f16Pack: ${dst.label} must hold ${rows} u32 word offsets`);
  if (N % 2 !== 0 || inpOffset % 2 !== 0) throw new Error(`f16Pack: N ${N} and inpOffset ${inpOffset} must be even (whole u32 words)`);
  engine.dispatch({ shader: 'f16_pack_forward' }, { out, inp, dst }, { N, rows, inpOffset }, grid1d((rows * N) / 2, 256));
}
