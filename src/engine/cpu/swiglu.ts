// CPU twin of shaders/swiglu_{forward,backward}.wgsl: out = act(gate) · up elementwise over
// (N, H), act = silu (SwiGLU) or the tanh GELU (GeGLU, geluCpu 'tanh').
// Takes Float32Array or Float64Array (finite differences). With `fused`, gate and up
// are one (N, 2H) array, each row gate first then up (exporters that fuse gate_up_proj), passed
// as `gate` with `up` null; the backward then writes one (N, 2H) gradient into `dgate`.

import { geluCpu, geluGradCpu } from './gelu.js';

export type FloatArray = Float32Array | Float64Array;

export interface SwigluCpuOptions {
  /** gate and up are one (N, 2H) array, [gate | up] per row (default false). */
  fused?: boolean;
  /** 'silu' (SwiGLU, default) or 'gelu_tanh' (GeGLU). */
  activation?: 'silu' | 'gelu_tanh';
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** act(x) and act'(x). */
function actGrad(x: number, activation: SwigluCpuOptions['activation']): [number, number] {
  if (activation === 'gelu_tanh') return [geluCpu(x, 'tanh'), geluGradCpu(x, 'tanh')];
  const s = sigmoid(x);
  return [x * s, s + x * s * (1 - s)];
}

/** Row stride and up offset of the gate/up layout, and the arrays to read them from. */
function layout(gate: FloatArray, up: FloatArray | null, H: number, options: SwigluCpuOptions) {
  if (options.fused) return { S: 2 * H, U: H, g: gate, u: gate };
  if (!up) throw new Error('swiglu: up is required unless fused');
  return { S: H, U: 0, g: gate, u: up };
}

export function swigluForwardCpu(
  out: FloatArray, // (N, H)
  gate: FloatArray, // (N, H), or (N, 2H) fused
  up: FloatArray | null, // (N, H), or null when fused
  N: number,
  H: number,
  options: SwigluCpuOptions = {},
): void {
  const { S, U, g, u } = layout(gate, up, H, options);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < H; j++) {
      out[n * H + j] = actGrad(g[n * S + j]!, options.activation)[0] * u[n * S + U + j]!;
    }
  }
}

/**
 * dgate = dout · up · act'(gate), dup = dout · act(gate) (assigned), with
 * silu'(x) = s + x·s·(1 − s), s = sigmoid(x). Fused: dgate is the (N, 2H) gradient, dup null.
 */
export function swigluBackwardCpu(
  dgate: FloatArray, // (N, H), or (N, 2H) fused
  dup: FloatArray | null, // (N, H), or null when fused
  dout: FloatArray, // (N, H)
  gate: FloatArray, // (N, H), or (N, 2H) fused
  up: FloatArray | null, // (N, H), or null when fused
  N: number,
  H: number,
  options: SwigluCpuOptions = {},
): void {
  const { S, U, g, u } = layout(gate, up, H, options);
  const du = options.fused ? dgate : dup;
  if (!du) throw new Error('swiglu: dup is required unless fused');
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < H; j++) {
      const [a, da] = actGrad(g[n * S + j]!, options.activation);
      const d = dout[n * H + j]!;
      dgate[n * S + j] = d * u[n * S + U + j]! * da;
      du[n * S + U + j] = d * a;
    }
  }
}
