import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// out[outOffset / 2 ..] (N) f16, packed two per word = inp[inpOffset ..] (N) f32; offsets in values.
export function f16PackForward(engine: Engine, out: Tensor, inp: Tensor, N: number, outOffset = 0, inpOffset = 0): void {
  if (out.dtype !== 'f16') throw new Error(`f16Pack: ${out.label} is ${out.dtype}, not f16`);
  if (N % 2 !== 0 || outOffset % 2 !== 0 || inpOffset % 2 !== 0) throw new Error(`f16Pack: N ${N}, outOffset ${outOffset} and inpOffset ${inpOffset} must be even (whole u32 words)`);
  engine.dispatch({ shader: 'f16_pack_forward' }, { out, inp }, { N, outOffset: outOffset / 2, inpOffset }, grid1d(N / 2, 256));
}
