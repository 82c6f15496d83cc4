import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// The gate of a gated MLP: out (N, H) = act(gate) · up, act = silu (SwiGLU: Llama, Qwen, Phi-3,
// OLMo 2) or the tanh GELU (GeGLU: Gemma's gelu_pytorch_tanh)
// (shaders/swiglu_{forward,backward}.wgsl; CPU twin src/engine/cpu/swiglu.ts).

/** The gate's activation: 'silu' (SwiGLU, default) or 'gelu_tanh' (GeGLU). */
export type GateActivation = 'silu' | 'gelu_tanh';

export interface SwigluOptions {
  activation?: GateActivation;
  /**
   * gate and up are one (N, 2H) tensor, [gate | up] per row (exporters that fuse
   * gate_up_proj), passed as `gate` with `up` null; the backward writes one (N, 2H) gradient
   * into `dgate` with `dup` null. Default false.
   */
  fused?: boolean;
}

function check(what: string, t: Tensor | null, size: number): asserts t is Tensor {
  if (!t) throw new Error(`swiglu: ${what} is required`);
  if (t.size !== size) throw new Error(`swiglu: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== 'f32') throw new Error(`swiglu: ${what} (${t.label}) is ${t.dtype}, expected f32`);
}

function checkUnfusedOnly(what: string, t: Tensor | null): void {
  if (t) throw new Error(`swiglu: ${what} must be null when fused (the fused tensor is passed as gate)`);
}

function layoutParams(N: number, H: number, fused: boolean) {
  return fused ? { N, H, S: 2 * H, U: H } : { N, H, S: H, U: 0 };
}

function constants(options: SwigluOptions): { GELU: boolean } {
  const a = options.activation ?? 'silu';
  if (a !== 'silu' && a !== 'gelu_tanh') throw new Error(`swiglu: activation "${String(a)}" is not silu or gelu_tanh`);
  return { GELU: a === 'gelu_tanh' };
}

export function swigluForward(
  engine: Engine,
  out: Tensor, // (N, H)
  gate: Tensor, // (N, H), or (N, 2H) fused
  up: Tensor | null, // (N, H), or null when fused
  N: number,
  H: number,
  options: SwigluOptions = {},
): void {
  const fused = options.fused ?? false;
  check('out', out, N * H);
  check('gate', gate, N * H * (fused ? 2 : 1));
  if (fused) checkUnfusedOnly('up', up);
  else check('up', up, N * H);
  const u = fused ? gate : up!;
  if (out.buffer === gate.buffer || out.buffer === u.buffer) throw new Error('swiglu: out may not alias gate or up');
  engine.dispatch({ shader: 'swiglu_forward', constants: constants(options) }, { out, gate, up: u }, layoutParams(N, H, fused), grid1d(N * H, 256));
}

/** dgate = dout · up · act'(gate), dup = dout · act(gate), assigned. */
export function swigluBackward(
  engine: Engine,
  dgate: Tensor, // (N, H), or (N, 2H) fused
  dup: Tensor | null, // (N, H), or null when fused
  dout: Tensor, // (N, H)
  gate: Tensor, // (N, H), or (N, 2H) fused
  up: Tensor | null, // (N, H), or null when fused
  N: number,
  H: number,
  options: SwigluOptions = {},
): void {
  const fused = options.fused ?? false;
  check('dout', dout, N * H);
  check('dgate', dgate, N * H * (fused ? 2 : 1));
  check('gate', gate, N * H * (fused ? 2 : 1));
  const params = layoutParams(N, H, fused);
  if (fused) {
    checkUnfusedOnly('dup', dup);
    checkUnfusedOnly('up', up);
    engine.dispatch({ shader: 'swiglu_backward', entry: 'fused', constants: constants(options) }, { dgu: dgate, dout, gate, up: gate }, params, grid1d(N * H, 256));
  } else {
    check('dup', dup, N * H);
    check('up', up, N * H);
    engine.dispatch({ shader: 'swiglu_backward', constants: constants(options) }, { dgate, dup, dout, gate, up }, params, grid1d(N * H, 256));
  }
}
