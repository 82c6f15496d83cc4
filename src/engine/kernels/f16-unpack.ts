import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// out (N) f32 = inp (N) f16 (packed two per word)
export function f16UnpackForward(engine: Engine, out: Tensor, inp: Tensor, N: number): void {
  if (inp.dtype !== 'f16') throw new Error(`f16Unpack: ${inp.label} is ${inp.dtype}, not f16`);
  engine.dispatch({ shader: 'f16_unpack_forward' }, { out, inp }, { N }, grid1d(N, 256));
}
