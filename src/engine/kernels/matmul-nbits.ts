import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { blobBytes, checkBlockQuantized, nBlocksOf, type BlockQuantized, type QuantBits } from '../blockq.js';
import { dropoutParams, type LoraDropout } from './lora.js';
import { ceilDiv, grid1d } from './grid.js';
import { variantToDispatch } from '../tuning/choices.js';

// Block-quantized weights on the GPU (QLoRA's frozen base; format in src/engine/blockq.ts) and
// the kernels that read them packed, dequantizing inside the tiles:
//   matmulNBitsForward    out (M, N) = inp (M, K) · Wᵀ + bias (+ LoRA)   shaders/matmul_nbits_forward.wgsl
//   matmulNBitsBackward   dinp (M, K) = dout (M, N) · W (+ LoRA)         shaders/matmul_nbits_backward.wgsl
//   embeddingNBitsForward out (N, C) = scale · W[ids] (+ wpe)            shaders/embedding_nbits_forward.wgsl
// CPU twin: src/engine/cpu/matmul-nbits.ts. No weight gradient: the base is frozen.

/** A block-quantized weight on the GPU: codes as u32 words and (scale, zero) pairs per block. */
export interface QuantTensor {
  readonly kind: 'blockq';
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly rows: number; // N
  readonly cols: number; // K
  readonly nBlocks: number;
  readonly codes: Tensor; // (N, nBlocks, blob) bytes as u32 words
  readonly sz: Tensor; // (N, nBlocks, 2) f32: scale, zero
  readonly label: string;
}

export function isQuantTensor(w: unknown): w is QuantTensor {
  return typeof w === 'object' && w !== null && (w as { kind?: unknown }).kind === 'blockq';
}

/** Uploads a block-quantized weight (checked first). */
export function uploadBlockQuantized(engine: Engine, q: BlockQuantized, label = 'blockq'): QuantTensor {
  checkBlockQuantized(q, label);
  const nBlocks = nBlocksOf(q.cols, q.blockSize);
  const words = new Uint32Array(q.codes.byteLength / 4);
  new Uint8Array(words.buffer).set(q.codes);
  const sz = new Float32Array(q.rows * nBlocks * 2);
  for (let i = 0; i < q.rows * nBlocks; i++) {
    sz[2 * i] = q.scales[i]!;
    sz[2 * i + 1] = q.zeros[i]!;
  }
  return {
    kind: 'blockq', bits: q.bits, blockSize: q.blockSize, rows: q.rows, cols: q.cols, nBlocks,
    codes: engine.fromArray(words, [words.length], 'u32', `${label}.codes`),
    sz: engine.fromArray(sz, [q.rows * nBlocks, 2], 'f32', `${label}.sz`),
    label,
  };
}

export function releaseQuantTensor(engine: Engine, w: QuantTensor): void {
  engine.release(w.codes, w.sz);
}

/** Bytes the weight holds on the GPU. */
export function quantTensorBytes(w: QuantTensor): number {
  return w.codes.size * 4 + w.sz.size * 4;
}

function layoutParams(w: QuantTensor): { n_blocks: number; block_shift: number; blob: number; bits: number } {
  return { n_blocks: w.nBlocks, block_shift: Math.log2(w.blockSize), blob: blobBytes(w.bits, w.blockSize), bits: w.bits };
}

function check(what: string, t: Tensor, need: number): void {
  if (t.dtype !== 'f32') throw new Error(`matmul nbits: ${what} (${t.label}) is ${t.dtype}, must be f32`);
  if (t.size < need) throw new Error(`matmul nbits: ${what} (${t.label}) holds ${t.size} values, needs ${need}`);
}

function checkM(M: number): void {
  if (!Number.isInteger(M) || M < 0) throw new Error(`matmul nbits: M = ${M} is not a non-negative integer`);
}

/** Forward LoRA term: out += xa (M, R) · b[bOffset ..] (N, R)ᵀ. */
export interface NBitsLoraForward {
  xa: Tensor;
  b: Tensor;
  R: number;
  bOffset?: number;
}

/** dinp LoRA term: dinp += dropout'(g (M, R) · a (R, K)). */
export interface NBitsLoraDinp {
  g: Tensor;
  a: Tensor;
  R: number;
  dropout?: LoraDropout | null;
}

// out (M, N) = inp (M, K) · W (N, K)ᵀ + bias (N) (+ LoRA); = or += by accumulate. The kernel is
// the variant of matmul_nbits_forward (src/engine/tuning/variants.ts: same bindings and Params)
// that options.variant names, else engine.choices' for the shape (measured by the tuner, or forced).
export function matmulNBitsForward(
  engine: Engine,
  out: Tensor,
  inp: Tensor,
  w: QuantTensor,
  bias: Tensor | null,
  M: number,
  options: { accumulate?: boolean; lora?: NBitsLoraForward | null; variant?: string } = {},
): void {
  checkM(M);
  const K = w.cols, N = w.rows;
  check('out', out, M * N);
  check('inp', inp, M * K);
  if (bias) check('bias', bias, N);
  const lora = options.lora ?? null;
  if (lora) {
    if (!Number.isInteger(lora.R) || lora.R < 1) throw new Error(`matmul nbits: LoRA rank R = ${lora.R} must be a positive integer`);
    check('lora.xa', lora.xa, M * lora.R);
    check('lora.b', lora.b, (lora.bOffset ?? 0) + N * lora.R);
  }
  const v = variantToDispatch(engine, 'matmul_nbits_forward', options.variant, M, K, N, 'matmul nbits');
  engine.dispatch(
    { shader: v.shader, entry: v.entry },
    // Absent operands are stood in for by inp (has_bias = 0, lora_r = 0: never read).
    { out, inp, codes: w.codes, sz: w.sz, bias: bias ?? inp, lora_xa: lora?.xa ?? inp, lora_b: lora?.b ?? inp },
    {
      M, K, N, ...layoutParams(w),
      has_bias: bias ? 1 : 0,
      accumulate: options.accumulate ? 1 : 0,
      lora_r: lora?.R ?? 0,
      lora_b_offset: lora?.bOffset ?? 0,
    },
    [ceilDiv(N, v.tile.cols), ceilDiv(M, v.tile.rows), 1],
  );
}

// dinp (M, K) = dout (M, N) · W (N, K) (+ dropout'(g · a)); = or += by accumulate.
export function matmulNBitsBackward(
  engine: Engine,
  dinp: Tensor,
  dout: Tensor,
  w: QuantTensor,
  M: number,
  options: { accumulate?: boolean; lora?: NBitsLoraDinp | null; variant?: string } = {},
): void {
  checkM(M);
  const K = w.cols, N = w.rows;
  check('dinp', dinp, M * K);
  check('dout', dout, M * N);
  const lora = options.lora ?? null;
  if (lora) {
    if (!Number.isInteger(lora.R) || lora.R < 1) throw new Error(`matmul nbits: LoRA rank R = ${lora.R} must be a positive integer`);
    check('lora.g', lora.g, M * lora.R);
    check('lora.a', lora.a, lora.R * K);
  }
  // (M, reduction, output) as matmul_dinp asks engine.choices: (M, N, K).
  const v = variantToDispatch(engine, 'matmul_nbits_dinp', options.variant, M, N, K, 'matmul nbits');
  engine.dispatch(
    { shader: v.shader, entry: v.entry },
    { dinp, dout, codes: w.codes, sz: w.sz, lora_g: lora?.g ?? dout, lora_a: lora?.a ?? dout },
    {
      M, K, N, ...layoutParams(w),
      accumulate: options.accumulate ? 1 : 0,
      lora_r: lora?.R ?? 0,
      ...dropoutParams(lora?.dropout ?? null),
    },
    [ceilDiv(K, v.tile.cols), ceilDiv(M, v.tile.rows), 1],
  );
}

// out (N, C) = scale · W[ids] (+ wpe[positions]); ids and positions as i32 tensors (checked by
// the caller, src/engine/kernels/embedding.ts); out-of-range ids give zeros.
export function embeddingNBitsForward(
  engine: Engine,
  out: Tensor,
  ids: Tensor,
  positions: Tensor | null,
  w: QuantTensor,
  wpe: Tensor | null,
  N: number,
  scale: number,
): void {
  const C = w.cols, V = w.rows;
  check('out', out, N * C);
  const P = wpe ? Math.floor(wpe.size / C) : 0;
  engine.dispatch(
    { shader: 'embedding_nbits_forward' },
    { out, ids, positions: positions ?? ids, codes: w.codes, sz: w.sz, wpe: wpe ?? w.sz },
    { N, C, V, P, has_wpe: wpe ? 1 : 0, scale, ...layoutParams(w) },
    grid1d(N * C, 256),
  );
}
