import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// Logit soft-capping, out = c · tanh(x / c) (Gemma 2's final_logit_softcapping; the attention
// scores' cap lives in the attention kernels) (shaders/softcap_{forward,backward}.wgsl; CPU twin
// src/engine/cpu/softcap.ts).

function check(what: string, t: Tensor, N: number): void {
  if (t.dtype !== 'f32') throw new Error(`softcap: ${what} (${t.label}) is ${t.dtype}, expected f32`);
  if (t.size < N) throw new Error(`softcap: ${what} (${t.label}) holds ${t.size} values, needs ${N}`);
}

function checkCap(cap: number): void {
  if (!(Number.isFinite(cap) && cap > 0)) throw new Error(`softcap: cap ${cap} must be a positive number`);
}

/** out = cap · tanh(inp / cap) over N values; out may be inp (in place). */
export function softcapForward(
  engine: Engine,
  out: Tensor, // (N)
  inp: Tensor, // (N)
  N: number,
  cap: number,
): void {
  checkCap(cap);
  check('out', out, N);
  check('inp', inp, N);
  if (N === 0) return;
  if (out.buffer === inp.buffer) {
    engine.dispatch({ shader: 'softcap_forward', entry: 'inplace' }, { out }, { N, cap }, grid1d(N, 256));
  } else {
    engine.dispatch({ shader: 'softcap_forward' }, { out, inp }, { N, cap }, grid1d(N, 256));
  }
}

/** dinp = dout · (1 − (out / cap)²) from the forward's output (assigned); dinp may be dout. */
export function softcapBackward(
  engine: Engine,
  dinp: Tensor, // (N)
  dout: Tensor, // (N)
  out: Tensor, // (N) the forward's output
  N: number,
  cap: number,
): void {
  checkCap(cap);
  check('dinp', dinp, N);
  check('dout', dout, N);
  check('out', out, N);
  if (dinp.buffer === out.buffer) throw new Error('softcap: dinp may not alias the forward output');
  if (N === 0) return;
  if (dinp.buffer === dout.buffer) {
    engine.dispatch({ shader: 'softcap_backward', entry: 'inplace' }, { dinp, out }, { N, cap }, grid1d(N, 256));
  } else {
    engine.dispatch({ shader: 'softcap_backward' }, { dinp, dout, out }, { N, cap }, grid1d(N, 256));
  }
}
