// The registry of kernel variants: for each tuned kernel, the WGSL files that compute the same
// product in different ways, what each needs from the adapter, and which one is the safe default
// (today's kernel, always applicable). src/engine/kernels/matmul.ts dispatches the variant the
// engine's choices name (src/engine/tuning/choices.ts); src/engine/tuning/tuner.ts measures them.
//
// Every variant has the same storage bindings and `struct Params` (by name) as its safe kernel,
// so the host code binds them identically; only the shader, the entry point and the output tile
// (hence the workgroup grid) differ. The attention kernels (src/engine/kernels/attention.ts) pick
// their tiles by head size within the adapter's limits and say per shape whether a variant fits
// (attentionVariantFits); the tuner asks before measuring one.

import type { AdapterReport } from '../gpu/device.js';

/** The kernels that have variants. */
export const TUNED_KERNELS = [
  'matmul_forward', 'matmul_dinp', 'matmul_dweight', 'matmul_nbits_forward', 'matmul_nbits_dinp', 'attention_forward', 'attention_backward',
  'logprobs_forward', 'lora_xa', 'lora_dyb', 'lora_grad',
] as const;
export type TunedKernel = (typeof TUNED_KERNELS)[number];

export interface KernelVariant {
  kernel: TunedKernel;
  /** Short name, unique per kernel ("safe", "tiled8", "f16", "subgroup"). */
  name: string;
  /** File in shaders/ without `.wgsl`. */
  shader: string;
  entry?: string;
  /**
   * Output rows (y) and columns (x) one workgroup covers: the grid is ceil(cols/x) x ceil(rows/y).
   * Attention: the largest query x key block (the host fits the tiles to the head size).
   */
  tile: { rows: number; cols: number };
  /**
   * Adapter features the WGSL enables; subgroupMinSize: the kernel shares values within groups
   * of that many lanes, so every subgroup of the adapter must have at least that many.
   */
  needs: { subgroups?: boolean; shaderF16?: boolean; subgroupMinSize?: number };
  /**
   * Workgroup memory (bytes) and invocations per workgroup the kernel declares. Attention: the
   * WebGPU minimums (16 KiB, 256), which its tiles are fitted within.
   */
  workgroupBytes: number;
  invocations: number;
  /**
   * Agreement with the safe kernel asked of this variant when it is validated before timing
   * (max |diff| / (1 + max |safe|)); f16 arithmetic rounds each product to 11 bits.
   */
  tolerance: number;
  /** One line for the GPU panel: what the kernel does differently. */
  about: string;
  /** Worth measuring only up to this many rows M (a layout for decoding); absent: any M. */
  maxRows?: number;
}

export const SAFE = 'safe';

export const VARIANTS: readonly KernelVariant[] = [
  // matmul forward: out (M, OC) = inp (M, C) · weight (OC, C)ᵀ (+ bias, + LoRA)
  {
    kernel: 'matmul_forward', name: SAFE, shader: 'matmul_forward', tile: { rows: 64, cols: 64 },
    needs: {}, workgroupBytes: 8192, invocations: 256, tolerance: 0,
    about: '64x64 tiles, 4x4 outputs per thread, K slices of 16 in workgroup memory',
  },
  {
    kernel: 'matmul_forward', name: 'tiled8', shader: 'matmul_forward_tiled8', tile: { rows: 128, cols: 128 },
    needs: {}, workgroupBytes: 8192, invocations: 256, tolerance: 1e-5,
    about: '128x128 tiles, 8x8 outputs per thread, vec4 reads of workgroup memory, K slices of 8',
  },
  {
    kernel: 'matmul_forward', name: 'f16', shader: 'matmul_forward_f16', tile: { rows: 64, cols: 64 },
    needs: { shaderF16: true }, workgroupBytes: 4096, invocations: 256, tolerance: 2e-2,
    about: 'the safe tiling with f16 tiles and f16 products, summed in f32 per K slice of 16',
  },
  {
    kernel: 'matmul_forward', name: 'subgroup', shader: 'matmul_forward_subgroup', tile: { rows: 1, cols: 4 },
    needs: { subgroups: true }, workgroupBytes: 1024, invocations: 64, tolerance: 1e-5,
    maxRows: 16,
    about: 'one row x 4 columns per 64 threads, K split over the threads, subgroupAdd reduction (few rows: decoding)',
  },
  {
    kernel: 'matmul_forward', name: 'shuffle', shader: 'matmul_forward_shuffle', tile: { rows: 16, cols: 128 },
    // lavapipe: 2.2-2.8x tiled8 at M = 256, 20-27% of its FMA peak by CPU time (BENCHMARKS.md); SwiftShader's subgroups have 4 lanes.
    needs: { subgroups: true, subgroupMinSize: 8 }, workgroupBytes: 0, invocations: 64, tolerance: 1e-5,
    about: '16x128 tiles, 16x2 outputs per thread in registers, no workgroup memory or barriers: each lane of an 8-lane group reads 2 of the 16 inp rows, subgroupShuffle shares them (CPU adapters: 4 quad reads per 128 multiply-adds)',
  },
  // matmul backward, dinp (M, C) = dout (M, OC) · weight (OC, C) (+ LoRA)
  {
    kernel: 'matmul_dinp', name: SAFE, shader: 'matmul_backward', entry: 'dinp_main', tile: { rows: 64, cols: 64 },
    needs: {}, workgroupBytes: 9216, invocations: 256, tolerance: 0,
    about: '64x64 tiles, 4x4 outputs per thread, K slices of 16 in workgroup memory',
  },
  {
    kernel: 'matmul_dinp', name: 'tiled8', shader: 'matmul_backward_tiled8', entry: 'dinp_main', tile: { rows: 128, cols: 128 },
    needs: {}, workgroupBytes: 8192, invocations: 256, tolerance: 1e-5,
    about: '128x128 tiles, 8x8 outputs per thread, vec4 reads of workgroup memory, K slices of 8',
  },
  {
    kernel: 'matmul_dinp', name: 'f16', shader: 'matmul_backward_f16', entry: 'dinp_main', tile: { rows: 64, cols: 64 },
    // As the forward's f16: 11-bit products relative to the largest of each 16-value run, f32 sums per slice.
    needs: { shaderF16: true }, workgroupBytes: 4608, invocations: 256, tolerance: 2e-2,
    about: 'the safe tiling with f16 tiles and f16 products, summed in f32 per K slice of 16; each 16-value run scaled by a power of two (gradients are below f16\'s range)',
  },
  {
    kernel: 'matmul_dinp', name: 'subgroup', shader: 'matmul_backward_subgroup', entry: 'dinp_main', tile: { rows: 8, cols: 256 },
    needs: { subgroups: true }, workgroupBytes: 0, invocations: 64, tolerance: 1e-5,
    about: '8 rows x 256 columns per 64 threads, 8x4 outputs per thread in registers; dout shared by subgroupShuffle, not workgroup memory: no barriers',
  },
  {
    kernel: 'matmul_dinp', name: 'shuffle', shader: 'matmul_backward_shuffle', entry: 'dinp_main', tile: { rows: 16, cols: 128 },
    // CPU adapters (lavapipe): the forward shuffle's approach (BENCHMARKS.md); SwiftShader's subgroups have 4 lanes.
    needs: { subgroups: true, subgroupMinSize: 8 }, workgroupBytes: 0, invocations: 32, tolerance: 1e-5,
    about: '16 rows x 128 columns per 32 threads, 16x4 sums per thread in registers, no workgroup memory or barriers: each lane of an 8-lane group reads 2 of the 16 dout rows, subgroupShuffle shares them (CPU adapters: 6 quad reads per 256 multiply-adds)',
  },
  // matmul backward, dweight (OC, C) += doutᵀ · inp
  {
    kernel: 'matmul_dweight', name: SAFE, shader: 'matmul_backward', entry: 'dweight_main', tile: { rows: 64, cols: 64 },
    needs: {}, workgroupBytes: 9216, invocations: 256, tolerance: 0,
    about: '64x64 tiles, 4x4 outputs per thread, K (rows) slices of 16 in workgroup memory',
  },
  {
    kernel: 'matmul_dweight', name: 'tiled8', shader: 'matmul_backward_tiled8', entry: 'dweight_main', tile: { rows: 128, cols: 128 },
    needs: {}, workgroupBytes: 8192, invocations: 256, tolerance: 1e-5,
    about: '128x128 tiles, 8x8 outputs per thread, vec4 reads of workgroup memory, K (rows) slices of 8',
  },
  {
    kernel: 'matmul_dweight', name: 'f16', shader: 'matmul_backward_f16', entry: 'dweight_main', tile: { rows: 64, cols: 64 },
    // K is the batch's rows (hundreds to thousands), but each slice's f16 sum joins an f32
    // accumulator: the error grows like the sum itself (random walk), so the same relative
    // tolerance as the forward holds at any M (test/engine/matmul.test.ts measures it).
    needs: { shaderF16: true }, workgroupBytes: 4608, invocations: 256, tolerance: 2e-2,
    about: 'the safe tiling with f16 tiles and f16 products, summed in f32 per slice of 16 rows; each 16-value run scaled by a power of two (gradients are below f16\'s range)',
  },
  {
    kernel: 'matmul_dweight', name: 'subgroup', shader: 'matmul_backward_subgroup', entry: 'dweight_main', tile: { rows: 8, cols: 256 },
    needs: { subgroups: true }, workgroupBytes: 0, invocations: 64, tolerance: 1e-5,
    about: '8 rows x 256 columns per 64 threads, 8x4 outputs per thread in registers; dout shared by subgroupShuffle, not workgroup memory: no barriers',
  },
  {
    kernel: 'matmul_dweight', name: 'shuffle', shader: 'matmul_backward_shuffle', entry: 'dweight_main', tile: { rows: 16, cols: 128 },
    needs: { subgroups: true, subgroupMinSize: 8 }, workgroupBytes: 0, invocations: 32, tolerance: 1e-5,
    about: '16 rows x 128 columns per 32 threads, 16x4 sums per thread in registers, no workgroup memory or barriers: each lane of an 8-lane group reads 2 quads of dout\'s 16 columns at one of 4 rows, subgroupShuffle shares them',
  },
  // block-quantized matmul forward (QLoRA base, src/engine/kernels/matmul-nbits.ts): out (M, N) =
  // inp (M, K) · W (N, K)ᵀ (+ bias, + LoRA), W dequantized from packed 4- or 8-bit codes
  {
    kernel: 'matmul_nbits_forward', name: SAFE, shader: 'matmul_nbits_forward', tile: { rows: 64, cols: 64 },
    needs: {}, workgroupBytes: 8192, invocations: 256, tolerance: 0,
    about: '64x64 tiles, 4x4 outputs per thread, K slices of 16, one quad of codes decoded per thread per slice',
  },
  {
    kernel: 'matmul_nbits_forward', name: 'tiled8', shader: 'matmul_nbits_forward_tiled8', tile: { rows: 128, cols: 128 },
    needs: {}, workgroupBytes: 8192, invocations: 256, tolerance: 1e-5,
    about: '128x128 tiles, 8x8 outputs per thread, K slices of 8, each quad of codes decoded once for 128 rows, (scale, zero) read once per block',
  },
  {
    kernel: 'matmul_nbits_forward', name: 'wide', shader: 'matmul_nbits_forward_wide', tile: { rows: 16, cols: 256 },
    needs: {}, workgroupBytes: 2048, invocations: 64, tolerance: 1e-5,
    about: '4 columns per thread, 16 rows x 256 columns per 64 threads, the inp slice shared (broadcast reads), codes decoded in registers, K slices of 32',
  },
  {
    kernel: 'matmul_nbits_forward', name: 'shuffle', shader: 'matmul_nbits_forward_shuffle', tile: { rows: 16, cols: 128 },
    needs: { subgroups: true, subgroupMinSize: 8 }, workgroupBytes: 0, invocations: 64, tolerance: 1e-5,
    about: 'matmul_forward shuffle\'s layout: 16 rows x 128 columns per 64 threads, 16x2 sums per thread, each thread decoding its 2 columns\' codes an octet at a time, inp rows shared in 8-lane groups by subgroupShuffle: no workgroup memory, no barriers',
  },
  {
    kernel: 'matmul_nbits_forward', name: 'gemv', shader: 'matmul_nbits_forward_gemv', tile: { rows: 4, cols: 8 },
    needs: {}, workgroupBytes: 4096, invocations: 256, tolerance: 1e-5,
    maxRows: 4, // lavapipe: 1.4-6x faster than 'wide' at 1 row, even at 4, 5-8x slower at 16 (BENCHMARKS.md)
    about: '8 columns x 4 rows per 256 threads, K split over 32 threads in octets of codes (one word), workgroup reduction (few rows: decoding)',
  },
  // input gradient through a block-quantized weight (QLoRA's frozen base): dinp (M, K) =
  // dout (M, N) · W (N, K) (+ the masked LoRA term); shape class (M, N, K) as matmul_dinp's
  {
    kernel: 'matmul_nbits_dinp', name: SAFE, shader: 'matmul_nbits_backward', tile: { rows: 64, cols: 64 },
    needs: {}, workgroupBytes: 8192, invocations: 256, tolerance: 0,
    about: '64x64 tiles, 4x4 outputs per thread, N slices of 16 in workgroup memory, W dequantized as its tile is staged',
  },
  {
    kernel: 'matmul_nbits_dinp', name: 'shuffle', shader: 'matmul_nbits_backward_shuffle', tile: { rows: 8, cols: 512 },
    needs: { subgroups: true, subgroupMinSize: 8 }, workgroupBytes: 0, invocations: 64, tolerance: 1e-5,
    about: 'an octet of columns (one word of codes per row of W) x 8 rows per thread, 64 sums in registers, dout\'s rows shared in 8-lane groups by subgroupShuffle: no workgroup memory, no barriers',
  },
  // attention forward: out (B, Tq, NH, HS), lse (B, NH, Tq) from q, k, v (+ mask)
  {
    kernel: 'attention_forward', name: SAFE, shader: 'attention_forward', tile: { rows: 16, cols: 16 },
    needs: {}, workgroupBytes: 16384, invocations: 256, tolerance: 0,
    about: 'one workgroup per (16 query rows, head), online softmax over key blocks of 16, one thread per score',
  },
  {
    kernel: 'attention_forward', name: 'flash', shader: 'attention_forward_flash', tile: { rows: 16, cols: 32 },
    needs: {}, workgroupBytes: 16384, invocations: 256, tolerance: 1e-5,
    about: 'FlashAttention-2 layout: one workgroup per (query block, kv head) for all heads of the group (K/V read once per group), vec4 scores 4 rows per thread, key blocks up to 32',
  },
  {
    kernel: 'attention_forward', name: 'split', shader: 'attention_forward_flash', tile: { rows: 16, cols: 32 },
    needs: {}, workgroupBytes: 16384, invocations: 256, tolerance: 1e-5,
    maxRows: 4, // decoding: a few query rows against a long cache
    about: 'the flash layout with each query block\'s keys split over several workgroups (FlashDecoding), partial rows merged by a second pass: fills a GPU when decoding leaves one workgroup per kv head',
  },
  // attention backward: dq, dk, dv from dout, q, k, v, out, lse (+ mask), T = Tq = Tk
  {
    kernel: 'attention_backward', name: SAFE, shader: 'attention_backward', tile: { rows: 16, cols: 16 },
    needs: {}, workgroupBytes: 16384, invocations: 256, tolerance: 0,
    about: 'D per row, then dq per (query block, head) and dk/dv per (key block, kv head), probabilities recomputed from the saved lse',
  },
  {
    kernel: 'attention_backward', name: 'flash', shader: 'attention_backward_flash', tile: { rows: 16, cols: 32 },
    needs: {}, workgroupBytes: 16384, invocations: 256, tolerance: 1e-5,
    about: 'the same three passes with the FlashAttention-2 layout: dq per (query block, kv head) for all heads of the group, dk/dv bringing all heads of a query block at once, vec4 scores 4 rows per thread',
  },
  // LM head log-softmax (src/engine/kernels/logprobs.ts): logp, lse (, logit sum, aligned) per
  // row of (rows, V) logits; shape class (rows, V, 1). Its backward is elementwise (no variants).
  {
    kernel: 'logprobs_forward', name: SAFE, shader: 'logprobs_forward', tile: { rows: 1, cols: 256 },
    needs: {}, workgroupBytes: 4096, invocations: 256, tolerance: 0,
    about: 'one row per 256 threads, online max / Σexp per thread, 8-level tree merge in workgroup memory',
  },
  {
    kernel: 'logprobs_forward', name: 'subgroup', shader: 'logprobs_forward_subgroup', tile: { rows: 1, cols: 256 },
    needs: { subgroups: true }, workgroupBytes: 4100, invocations: 256, tolerance: 1e-5,
    about: 'the same per-thread pass, merged by subgroupMax / subgroupAdd in registers, then one thread over the subgroups (one barrier)',
  },
  // LoRA passes (src/engine/kernels/lora.ts). lora_xa: xa (M, R) = s·dropout(x) (M, C)·Aᵀ, class
  // (M, C, R); lora_dyb: g (M, R) = s·dY (M, OC)·B, class (M, OC, R); lora_grad: out (P, Q) +=
  // X (M, P)ᵀ·dropout(Y) (M, Q) (dA: P = R; dB: Q = R), class (M, P, Q).
  {
    kernel: 'lora_xa', name: SAFE, shader: 'lora_forward', tile: { rows: 16, cols: 16 },
    needs: {}, workgroupBytes: 9216, invocations: 128,
    tolerance: 0, about: 'rank tile: R (4-16) ranks x 256 / R rows per 128 threads, 8 lanes along C, 16 sums per thread, one barrier',
  },
  {
    kernel: 'lora_xa', name: 'subgroup', shader: 'lora_forward_subgroup', tile: { rows: 4, cols: 16 },
    needs: { subgroups: true }, workgroupBytes: 4100, invocations: 64, tolerance: 1e-5,
    about: '4 rows x R (4-16) ranks per 64 threads along C (coalesced), subgroupAdd of the sums, one barrier (many small workgroups)',
  },
  {
    kernel: 'lora_dyb', name: SAFE, shader: 'lora_backward', entry: 'dyb_main', tile: { rows: 16, cols: 16 },
    needs: {}, workgroupBytes: 9216, invocations: 128, tolerance: 0,
    about: 'rank tile: R (4-16) ranks x 256 / R rows per 128 threads, 8 lanes along OC, 16 sums per thread, one barrier',
  },
  {
    kernel: 'lora_dyb', name: 'subgroup', shader: 'lora_backward_subgroup', entry: 'dyb_main', tile: { rows: 4, cols: 16 },
    needs: { subgroups: true }, workgroupBytes: 4100, invocations: 64, tolerance: 1e-5,
    about: '4 rows x R (4-16) ranks per 64 threads along OC (coalesced), subgroupAdd of the sums, one barrier (many small workgroups)',
  },
  {
    kernel: 'lora_grad', name: SAFE, shader: 'lora_backward', entry: 'grad_main', tile: { rows: 16, cols: 16 },
    needs: {}, workgroupBytes: 2048, invocations: 256, tolerance: 0,
    about: '16x16 output tiles, one output per thread, M in slices of 16 in workgroup memory (two barriers per slice)',
  },
  {
    kernel: 'lora_grad', name: 'thin', shader: 'lora_backward_thin', entry: 'grad_main', tile: { rows: 16, cols: 64 },
    needs: {}, workgroupBytes: 0, invocations: 64, tolerance: 1e-5,
    about: 'one thread per column of the wide side (C or OC) holding 16 of the rank side in registers over all M: no workgroup memory, no barriers',
  },
];

export type AdapterCaps = Pick<AdapterReport, 'features' | 'limits' | 'subgroupMinSize'>;

/** The registered variants of a kernel, the safe one first. */
export function variantsOf(kernel: TunedKernel): KernelVariant[] {
  return VARIANTS.filter((v) => v.kernel === kernel).sort((a, b) => Number(b.name === SAFE) - Number(a.name === SAFE));
}

export function findVariant(kernel: TunedKernel, name: string): KernelVariant {
  const v = VARIANTS.find((x) => x.kernel === kernel && x.name === name);
  if (!v) {
    throw new Error(`kernel variant "${name}" of ${kernel} does not exist (variants: ${variantsOf(kernel).map((x) => x.name).join(', ')})`);
  }
  return v;
}

/** Why `v` cannot run on this adapter, or null when it can. */
export function whyNotApplicable(v: KernelVariant, caps: AdapterCaps): string | null {
  if (v.needs.shaderF16 && !caps.features.shaderF16) return 'needs shader-f16';
  if (v.needs.subgroups && !caps.features.subgroups) return 'needs subgroups';
  const lanes = v.needs.subgroupMinSize;
  if (lanes && !((caps.subgroupMinSize ?? 0) >= lanes)) {
    return `needs subgroups of at least ${lanes} invocations (adapter: ${caps.subgroupMinSize ?? 'size not reported'})`;
  }
  if (v.workgroupBytes > caps.limits.maxComputeWorkgroupStorageSize) {
    return `needs ${v.workgroupBytes} bytes of workgroup memory (adapter: ${caps.limits.maxComputeWorkgroupStorageSize})`;
  }
  if (v.invocations > caps.limits.maxComputeInvocationsPerWorkgroup) {
    return `needs ${v.invocations} invocations per workgroup (adapter: ${caps.limits.maxComputeInvocationsPerWorkgroup})`;
  }
  return null;
}

/** The variants of `kernel` this adapter can run, the safe one first. */
export function applicableVariants(kernel: TunedKernel, caps: AdapterCaps): KernelVariant[] {
  return variantsOf(kernel).filter((v) => v.name === SAFE || whyNotApplicable(v, caps) === null);
}

/**
 * The shape class a choice is kept for: the product's K x N exactly (a model has few distinct
 * layer shapes) and its row count M in powers-of-4 buckets (decoding M = 1 and training
 * M = B·T want different kernels).
 */
export function shapeClass(M: number, K: number, N: number): string {
  return `m${rowBucket(M)}:${K}x${N}`;
}

/** Rows in powers-of-4 buckets (1, 4, 16, ..., 4096). */
function rowBucket(M: number): number {
  let bucket = 1;
  while (bucket < M && bucket < 4096) bucket *= 4;
  return M <= 1 ? 1 : bucket;
}

/**
 * The shape class of an attention call: the heads (query, key/value) and head size exactly, the
 * query rows Tq in the same buckets as matmul's M (decoding Tq = 1 against training T).
 */
export function attentionShapeClass(Tq: number, NH: number, NKV: number, HS: number): string {
  return `m${rowBucket(Tq)}:${NH}x${NKV}x${HS}`;
}
