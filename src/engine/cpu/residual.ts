// CPU twin of shaders/residual_{forward,backward}.wgsl.

export function residualForwardCpu(out: Float32Array, inp1: Float32Array, inp2: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) out[i] = inp1[i]! + inp2[i]!;
}

export function residualBackwardCpu(dinp1: Float32Array, dinp2: Float32Array, dout: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) {
    dinp1[i]! += dout[i]!;
    dinp2[i]! += dout[i]!;
  }
}
