// CPU twin of shaders/matmul_nbits_{forward,backward}.wgsl and shaders/embedding_nbits_forward.wgsl:
// the block-quantized weight (src/engine/blockq.ts) is dequantized element by element in f32, as
// the kernels do, then used as the plain matmul's weight (src/engine/cpu/matmul.ts, float64 sums).
// The base weight is frozen: there is no weight gradient.

import { dequantize, type BlockQuantized } from '../blockq.js';
import { matmulBackwardCpu, matmulForwardCpu, type FloatArray, type MatmulLoraDinpCpu, type MatmulLoraForwardCpu } from './matmul.js';

// out (M, N) = inp (M, K) · W (N, K)ᵀ + bias (N) (+ LoRA), = or += by accumulate.
export function matmulNBitsForwardCpu(
  out: FloatArray,
  inp: FloatArray,
  q: BlockQuantized,
  bias: FloatArray | null,
  M: number,
  options: { accumulate?: boolean; lora?: MatmulLoraForwardCpu | null } = {},
): void {
  matmulForwardCpu(out, inp, dequantize(q), bias, M, q.cols, q.rows, options);
}

// dinp (M, K) = dout (M, N) · W (N, K) (+ dropout'(g · a)), = or += by accumulate.
export function matmulNBitsBackwardCpu(
  dinp: FloatArray,
  dout: FloatArray,
  q: BlockQuantized,
  M: number,
  options: { accumulate?: boolean; lora?: MatmulLoraDinpCpu | null } = {},
): void {
  matmulBackwardCpu(dinp, null, null, dout, new Float32Array(0), dequantize(q), M, q.cols, q.rows, options);
}

// out[n, c] = scale · W[ids[n], c] (+ wpe[positions[n], c]); ids outside [0, V) give zeros.
export function embeddingNBitsForwardCpu(
  out: FloatArray,
  ids: ArrayLike<number>,
  q: BlockQuantized,
  N: number,
  options: { scale?: number; positions?: ArrayLike<number>; wpe?: FloatArray; P?: number } = {},
): void {
  const W = dequantize(q);
  const C = q.cols, V = q.rows, scale = options.scale ?? 1;
  for (let n = 0; n < N; n++) {
    const id = ids[n]!;
    for (let c = 0; c < C; c++) {
      let v = id >= 0 && id < V ? W[id * C + c]! * scale : 0;
      if (options.wpe) {
        const p = options.positions![n]!;
        if (p >= 0 && p < (options.P ?? 0)) v += options.wpe[p * C + c]!;
      }
      out[n * C + c] = v;
    }
  }
}
