// CPU twin of shaders/matmul_{forward,backward}.wgsl. Dot products are summed in float64 (a JS
// number); Float64Array buffers are accepted so finite-difference tests can stay in float64.
// f16 weights are given here as their float values (the GPU reads the same halves exactly).

import { dropoutFactorCpu, type LoraDropout } from './lora.js';

export type FloatArray = Float32Array | Float64Array;

/** Batching as in src/engine/kernels/matmul.ts; strides are in elements. */
export interface MatmulCpuOptions {
  batch?: number;
  /** Between batches of inp and dinp (default M·C). */
  inpStride?: number;
  /** Between batches of weight and dweight; 0 = one weight shared by every batch (default 0). */
  weightStride?: number;
  /** Between batches of out and dout (default M·OC). */
  outStride?: number;
  /** out += (forward) or dinp += (backward) instead of =. */
  accumulate?: boolean;
}

/** Forward LoRA term (one batch): out += xa (M, R) · b[bOffset ..] (OC, R)ᵀ. */
export interface MatmulLoraForwardCpu {
  xa: FloatArray;
  b: FloatArray;
  R: number;
  bOffset?: number;
}

/** dinp LoRA term (one batch): dinp += dropout'(g (M, R) · a (R, C)). */
export interface MatmulLoraDinpCpu {
  g: FloatArray;
  a: FloatArray;
  R: number;
  dropout?: LoraDropout | null;
}

function strides(M: number, C: number, OC: number, o: MatmulCpuOptions) {
  return {
    batch: o.batch ?? 1,
    inpStride: o.inpStride ?? M * C,
    weightStride: o.weightStride ?? 0,
    outStride: o.outStride ?? M * OC,
    accumulate: o.accumulate ?? false,
  };
}

// out[b] (M, OC) = inp[b] (M, C) · weight[b] (OC, C)ᵀ + bias (OC)
export function matmulForwardCpu(
  out: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  bias: FloatArray | null,
  M: number,
  C: number,
  OC: number,
  options: MatmulCpuOptions & { lora?: MatmulLoraForwardCpu | null } = {},
): void {
  const s = strides(M, C, OC, options);
  const lora = options.lora ?? null;
  if (lora && s.batch !== 1) throw new Error('matmul cpu: a LoRA term needs batch = 1');
  for (let b = 0; b < s.batch; b++) {
    const i0 = b * s.inpStride, w0 = b * s.weightStride, o0 = b * s.outStride;
    for (let m = 0; m < M; m++) {
      for (let o = 0; o < OC; o++) {
        let sum = bias ? bias[o]! : 0;
        for (let c = 0; c < C; c++) sum += inp[i0 + m * C + c]! * weight[w0 + o * C + c]!;
        if (lora) {
          const b0 = (lora.bOffset ?? 0) + o * lora.R;
          for (let r = 0; r < lora.R; r++) sum += lora.xa[m * lora.R + r]! * lora.b[b0 + r]!;
        }
        const at = o0 + m * OC + o;
        out[at] = s.accumulate ? out[at]! + sum : sum;
      }
    }
  }
}

// dinp[b] (M, C) = dout[b] (M, OC) · weight[b] (OC, C)   (= or += by options.accumulate)
// dweight[b] (OC, C) += dout[b]ᵀ · inp[b]                 (summed over batches if shared)
// dbias (OC) += Σ over batches and rows of dout
// dinp += dropout'(g · a) with options.lora
// A null gradient is skipped.
export function matmulBackwardCpu(
  dinp: FloatArray | null,
  dweight: FloatArray | null,
  dbias: FloatArray | null,
  dout: FloatArray,
  inp: FloatArray,
  weight: FloatArray,
  M: number,
  C: number,
  OC: number,
  options: MatmulCpuOptions & { lora?: MatmulLoraDinpCpu | null } = {},
): void {
  const s = strides(M, C, OC, options);
  const lora = options.lora ?? null;
  if (lora && s.batch !== 1) throw new Error('matmul cpu: a LoRA term needs batch = 1');
  for (let b = 0; b < s.batch; b++) {
    const i0 = b * s.inpStride, w0 = b * s.weightStride, o0 = b * s.outStride;
    if (dinp) {
      for (let m = 0; m < M; m++) {
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let o = 0; o < OC; o++) sum += dout[o0 + m * OC + o]! * weight[w0 + o * C + c]!;
          if (lora) {
            let l = 0;
            for (let r = 0; r < lora.R; r++) l += lora.g[m * lora.R + r]! * lora.a[r * C + c]!;
            sum += dropoutFactorCpu(lora.dropout ?? null, m, c) * l;
          }
          const at = i0 + m * C + c;
          dinp[at] = s.accumulate ? dinp[at]! + sum : sum;
        }
      }
    }
    if (dweight) {
      for (let o = 0; o < OC; o++) {
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let m = 0; m < M; m++) sum += dout[o0 + m * OC + o]! * inp[i0 + m * C + c]!;
          dweight[w0 + o * C + c]! += sum;
        }
      }
    }
    if (dbias) {
      for (let o = 0; o < OC; o++) {
        let sum = 0;
        for (let m = 0; m < M; m++) sum += dout[o0 + m * OC + o]!;
        dbias[o]! += sum;
      }
    }
  }
}
