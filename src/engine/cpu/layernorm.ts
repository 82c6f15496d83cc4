// CPU twin of shaders/layernorm_{forward,backward}.wgsl (GPT-2's LayerNorm, llm.c's
// layernorm_forward / layernorm_backward), one row of C values at a time, sums in float64.
// Takes Float32Array or Float64Array (finite differences).
//   out = (x - mean) · rstd · weight + bias,  mean = Σx / C,  rstd = 1 / sqrt(Σ(x - mean)² / C + eps)

export type FloatArray = Float32Array | Float64Array;

export interface LayernormBackwardCpuOptions {
  /** dinp += instead of = (the residual stream sums its gradients). */
  accumulate?: boolean;
}

export function layernormForwardCpu(
  out: FloatArray, // (N, C)
  mean: FloatArray, // (N)
  rstd: FloatArray, // (N)
  inp: FloatArray, // (N, C)
  weight: FloatArray, // (C)
  bias: FloatArray | null, // (C); null = no bias
  N: number,
  C: number,
  eps = 1e-5,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[o + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) {
      const d = inp[o + c]! - m;
      v += d * d;
    }
    v /= C;
    const s = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) {
      out[o + c] = (inp[o + c]! - m) * s * weight[c]! + (bias ? bias[c]! : 0);
    }
    mean[n] = m;
    rstd[n] = s;
  }
}

/** llm.c's fused_residual_forward: residual = inp + skip, out = layernorm(residual). */
export function layernormResidualForwardCpu(
  residual: FloatArray, // (N, C)
  out: FloatArray, // (N, C)
  mean: FloatArray, // (N)
  rstd: FloatArray, // (N)
  inp: FloatArray, // (N, C)
  skip: FloatArray, // (N, C)
  weight: FloatArray, // (C)
  bias: FloatArray | null, // (C)
  N: number,
  C: number,
  eps = 1e-5,
): void {
  for (let i = 0; i < N * C; i++) residual[i] = inp[i]! + skip[i]!;
  layernormForwardCpu(out, mean, rstd, residual, weight, bias, N, C, eps);
}

// With norm = (x - mean) · rstd and dnorm = dout · weight:
//   dinp = (dnorm - mean(dnorm) - norm · mean(dnorm · norm)) · rstd     (= or +=)
//   dweight += Σ_rows dout · norm,   dbias += Σ_rows dout
// A null gradient is skipped.
export function layernormBackwardCpu(
  dinp: FloatArray | null, // (N, C)
  dweight: FloatArray | null, // (C)
  dbias: FloatArray | null, // (C)
  dout: FloatArray, // (N, C)
  inp: FloatArray, // (N, C)
  weight: FloatArray, // (C)
  mean: FloatArray, // (N)
  rstd: FloatArray, // (N)
  N: number,
  C: number,
  options: LayernormBackwardCpuOptions = {},
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const m = mean[n]!;
    const s = rstd[n]!;
    let dnormMean = 0;
    let dnormNormMean = 0;
    for (let c = 0; c < C; c++) {
      const norm = (inp[o + c]! - m) * s;
      const dnorm = dout[o + c]! * weight[c]!;
      dnormMean += dnorm;
      dnormNormMean += dnorm * norm;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let c = 0; c < C; c++) {
      const norm = (inp[o + c]! - m) * s;
      const dnorm = dout[o + c]! * weight[c]!;
      if (dweight) dweight[c]! += dout[o + c]! * norm;
      if (dbias) dbias[c]! += dout[o + c]!;
      if (dinp) {
        const g = (dnorm - dnormMean - norm * dnormNormMean) * s;
        dinp[o + c] = options.accumulate ? dinp[o + c]! + g : g;
      }
    }
  }
}
