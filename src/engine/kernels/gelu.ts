import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// GELU activation, tanh approximation or exact (erf)
// (shaders/gelu_{forward,backward}.wgsl; CPU twin src/engine/cpu/gelu.ts).

/** 'tanh': GPT-2 gelu_new / onnxruntime FastGelu / torch approximate='tanh'; 'erf': exact GELU. */
export type GeluVariant = 'tanh' | 'erf';

function check(what: string, t: Tensor, N: number): void {
  if (t.size !== N) throw new Error(`gelu: ${what} (${t.label}) holds ${t.size} values, expected ${N}`);
  if (t.dtype !== 'f32') throw new Error(`gelu: ${what} (${t.label}) is ${t.dtype}, expected f32`);
}

/** out = gelu(inp); out may be inp (in place, inference). */
export function geluForward(
  engine: Engine,
  out: Tensor, // (N)
  inp: Tensor, // (N)
  N: number,
  variant: GeluVariant,
): void {
  check('out', out, N);
  check('inp', inp, N);
  const constants = { TANH: variant === 'tanh' };
  if (out.buffer === inp.buffer) {
    engine.dispatch({ shader: 'gelu_forward', entry: 'inplace', constants }, { out }, { N }, grid1d(N, 256));
  } else {
    engine.dispatch({ shader: 'gelu_forward', constants }, { out, inp }, { N }, grid1d(N, 256));
  }
}

/** dinp = dout · gelu'(inp), assigned; dinp may be dout (in place). */
export function geluBackward(
  engine: Engine,
  dinp: Tensor, // (N)
  dout: Tensor, // (N)
  inp: Tensor, // (N)
  N: number,
  variant: GeluVariant,
): void {
  check('dinp', dinp, N);
  check('dout', dout, N);
  check('inp', inp, N);
  if (dinp.buffer === inp.buffer) throw new Error('gelu: dinp may not alias inp');
  const constants = { TANH: variant === 'tanh' };
  if (dinp.buffer === dout.buffer) {
    engine.dispatch({ shader: 'gelu_backward', entry: 'inplace', constants }, { dinp, inp }, { N }, grid1d(N, 256));
  } else {
    engine.dispatch({ shader: 'gelu_backward', constants }, { dinp, dout, inp }, { N }, grid1d(N, 256));
  }
}
