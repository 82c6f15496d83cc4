// CPU twin of shaders/softcap_{forward,backward}.wgsl: out = c · tanh(x / c) elementwise, and
// its backward from the output, dinp = dout · (1 − (out / c)²). Takes Float32Array or
// Float64Array (finite differences).

export type FloatArray = Float32Array | Float64Array;

export function softcapForwardCpu(out: FloatArray, inp: FloatArray, N: number, cap: number): void {
  for (let i = 0; i < N; i++) out[i] = cap * Math.tanh(inp[i]! / cap);
}

/** dinp = dout · (1 − (out / cap)²), assigned; `out` is the forward's output. */
export function softcapBackwardCpu(dinp: FloatArray, dout: FloatArray, out: FloatArray, N: number, cap: number): void {
  for (let i = 0; i < N; i++) {
    const t = out[i]! / cap;
    dinp[i] = dout[i]! * Math.max(1 - t * t, 0);
  }
}
