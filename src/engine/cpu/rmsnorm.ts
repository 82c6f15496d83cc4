// CPU twin of shaders/rmsnorm_{forward,backward}.wgsl (Llama's RMSNorm; Gemma's with
// weightOffset 1), one row of C values at a time, sums in float64.
// Takes Float32Array or Float64Array (finite differences).
//   out = x · rstd · (weight + weightOffset),  rstd = 1 / sqrt(Σx² / C + eps)

export type FloatArray = Float32Array | Float64Array;

export interface RmsnormCpuOptions {
  /** Added to the weight: 0 (Llama, default) or 1 (Gemma's `1 + weight`). */
  weightOffset?: number;
}

export interface RmsnormBackwardCpuOptions extends RmsnormCpuOptions {
  /** dinp += instead of = (the residual stream sums its gradients). */
  accumulate?: boolean;
}

export function rmsnormForwardCpu(
  out: FloatArray, // (N, C)
  rstd: FloatArray, // (N)
  inp: FloatArray, // (N, C)
  weight: FloatArray, // (C)
  N: number,
  C: number,
  eps = 1e-6,
  options: RmsnormCpuOptions = {},
): void {
  const offset = options.weightOffset ?? 0;
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[o + c]! * inp[o + c]!;
    const s = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) out[o + c] = inp[o + c]! * s * (weight[c]! + offset);
    rstd[n] = s;
  }
}

/** onnxruntime's SkipSimplifiedLayerNormalization: residual = inp + skip, out = rmsnorm(residual). */
export function rmsnormResidualForwardCpu(
  residual: FloatArray, // (N, C)
  out: FloatArray, // (N, C)
  rstd: FloatArray, // (N)
  inp: FloatArray, // (N, C)
  skip: FloatArray, // (N, C)
  weight: FloatArray, // (C)
  N: number,
  C: number,
  eps = 1e-6,
  options: RmsnormCpuOptions = {},
): void {
  for (let i = 0; i < N * C; i++) residual[i] = inp[i]! + skip[i]!;
  rmsnormForwardCpu(out, rstd, residual, weight, N, C, eps, options);
}

// With y = x · rstd and dy = dout · (weight + weightOffset):
//   dinp = rstd · (dy - y · mean(dy · y))     (= or +=)
//   dweight += Σ_rows dout · y
// A null gradient is skipped.
export function rmsnormBackwardCpu(
  dinp: FloatArray | null, // (N, C)
  dweight: FloatArray | null, // (C)
  dout: FloatArray, // (N, C)
  inp: FloatArray, // (N, C)
  weight: FloatArray, // (C)
  rstd: FloatArray, // (N)
  N: number,
  C: number,
  options: RmsnormBackwardCpuOptions = {},
): void {
  const offset = options.weightOffset ?? 0;
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const s = rstd[n]!;
    let dyyMean = 0;
    for (let c = 0; c < C; c++) dyyMean += dout[o + c]! * (weight[c]! + offset) * inp[o + c]! * s;
    dyyMean /= C;
    for (let c = 0; c < C; c++) {
      const y = inp[o + c]! * s;
      const dy = dout[o + c]! * (weight[c]! + offset);
      if (dweight) dweight[c]! += dout[o + c]! * y;
      if (dinp) {
        const g = s * (dy - y * dyyMean);
        dinp[o + c] = options.accumulate ? dinp[o + c]! + g : g;
      }
    }
  }
}
