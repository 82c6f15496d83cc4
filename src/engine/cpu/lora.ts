// CPU twin of shaders/lora_{forward,backward}.wgsl (the small LoRA passes around the fused
// matmul; the fused terms themselves are in src/engine/cpu/matmul.ts). Sums in float64;
// Float64Array buffers are accepted so finite-difference tests can stay in float64.
//
// PEFT's LoRA: y = x·Wᵀ + b + s · B(A(dropout(x))), s = alpha / r (alpha / sqrt(r) with rsLoRA).
//   xa (M, R) = s · dropout(x) · Aᵀ                     loraXaCpu
//   g  (M, R) = s · dY · B                              loraDyBCpu
//   dB (OC, R) += dYᵀ · xa, dA (R, C) += gᵀ · dropout(x)  loraGradCpu
//   dx += dropout'(g · A)                              matmulBackwardCpu's lora option

import type { FloatArray } from './matmul.js';

/** Inverted dropout of the LoRA input with a counter-based mask: (m, c) dropped iff hash < p·2^32. */
export interface LoraDropout {
  /** Drop probability, 0 <= p < 1. */
  p: number;
  /** u32 seed of the mask; the same seed regenerates the same mask in the backward. */
  seed: number;
}

/** PCG hash of a u32 (Jarcho and Olano 2020), as the WGSL computes it. */
export function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The uniforms the kernels read: threshold = round(p · 2^32) (0 = off) and the keep scale. */
export function dropoutUniforms(d: LoraDropout | null): { drop_seed: number; drop_threshold: number; drop_scale: number } {
  if (!d || d.p === 0) return { drop_seed: 0, drop_threshold: 0, drop_scale: 1 };
  if (!(d.p > 0 && d.p < 1)) throw new Error(`lora dropout: p = ${d.p} must be in [0, 1)`);
  if (!Number.isInteger(d.seed) || d.seed < 0 || d.seed > 0xffffffff) throw new Error(`lora dropout: seed ${d.seed} is not a u32`);
  return { drop_seed: d.seed, drop_threshold: Math.min(0xffffffff, Math.max(1, Math.round(d.p * 2 ** 32))), drop_scale: 1 / (1 - d.p) };
}

/** 0 where element (m, c) of the LoRA input is dropped, else 1 / (1 - p) (1 without dropout). */
export function dropoutFactorCpu(d: LoraDropout | null, m: number, c: number): number {
  const u = dropoutUniforms(d);
  if (u.drop_threshold === 0) return 1;
  return pcgHash((pcgHash((pcgHash(u.drop_seed) ^ m) >>> 0) ^ c) >>> 0) < u.drop_threshold ? 0 : u.drop_scale;
}

// xa (M, R) = scale · dropout(x) (M, C) · a (R, C)ᵀ
export function loraXaCpu(
  xa: FloatArray,
  x: FloatArray,
  a: FloatArray,
  M: number,
  C: number,
  R: number,
  { scale, dropout = null }: { scale: number; dropout?: LoraDropout | null },
): void {
  for (let m = 0; m < M; m++) {
    for (let r = 0; r < R; r++) {
      let sum = 0;
      for (let c = 0; c < C; c++) sum += x[m * C + c]! * dropoutFactorCpu(dropout, m, c) * a[r * C + c]!;
      xa[m * R + r] = scale * sum;
    }
  }
}

// g (M, R) = or += scale · dy (M, OC) · b[bOffset ..] (OC, R)
export function loraDyBCpu(
  g: FloatArray,
  dy: FloatArray,
  b: FloatArray,
  M: number,
  OC: number,
  R: number,
  { scale, bOffset = 0, accumulate = false }: { scale: number; bOffset?: number; accumulate?: boolean },
): void {
  for (let m = 0; m < M; m++) {
    for (let r = 0; r < R; r++) {
      let sum = 0;
      for (let o = 0; o < OC; o++) sum += dy[m * OC + o]! * b[bOffset + o * R + r]!;
      const at = m * R + r;
      g[at] = (accumulate ? g[at]! : 0) + scale * sum;
    }
  }
}

// out[outOffset ..] (P, Q) += or = x (M, P)ᵀ · dropout(y) (M, Q)
export function loraGradCpu(
  out: FloatArray,
  x: FloatArray,
  y: FloatArray,
  M: number,
  P: number,
  Q: number,
  { outOffset = 0, accumulate = true, dropout = null }: { outOffset?: number; accumulate?: boolean; dropout?: LoraDropout | null } = {},
): void {
  for (let p = 0; p < P; p++) {
    for (let q = 0; q < Q; q++) {
      let sum = 0;
      for (let m = 0; m < M; m++) sum += x[m * P + p]! * y[m * Q + q]! * dropoutFactorCpu(dropout, m, q);
      const at = outOffset + p * Q + q;
      out[at] = (accumulate ? out[at]! : 0) + sum;
    }
  }
}
