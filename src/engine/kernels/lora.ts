import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { dropoutUniforms, type LoraDropout } from '../cpu/lora.js';
import { ceilDiv, MAX_WORKGROUPS_PER_DIM } from './grid.js';
import { SAFE, type KernelVariant, type TunedKernel } from '../tuning/variants.js';
import { variantToDispatch } from '../tuning/choices.js';

// The small LoRA passes (shaders/lora_{forward,backward}.wgsl; CPU twin src/engine/cpu/lora.ts).
// The (M, OC) and (M, C) LoRA terms are fused into the matmul kernels (kernels/matmul.ts
// options.lora); these compute the rank-R operands and the adapter's weight gradients:
//   loraXa    xa (M, R) = s · dropout(x) · Aᵀ                  before the fused forward
//   loraDyB   g (M, R) = s · dY · B                             before the fused dinp
//   loraGrad  dB += dYᵀ · xa  and  dA += gᵀ · dropout(x)        (out += Xᵀ · dropout(Y))
// Each has variants (src/engine/tuning/variants.ts: lora_xa, lora_dyb, lora_grad), the same
// bindings and Params in another WGSL file: engine.choices' answer for the shape class, or the
// options' variant for one call.

export type { LoraDropout } from '../cpu/lora.js';

/** Output tile edge of lora_backward.wgsl grad_main (TS in the WGSL). */
const TS = 16;

/** A rank-tiled workgroup owns RANK_TILE_ROWS / RT rows (16 row groups x 16 / RT rows each). */
const RANK_TILE_ROWS = 256;

/**
 * Rank tile of lora_forward.wgsl and lora_backward.wgsl dyb_main: RT ranks per workgroup, R
 * rounded up to a power of two, 4 to 16 (larger R takes several workgroups along x).
 */
export function rankTile(R: number): { RT: number } {
  return { RT: Math.min(16, Math.max(4, 2 ** Math.ceil(Math.log2(Math.max(R, 1))))) };
}

const GRAD_MAIN_CONSTANTS = rankTile(16);

function rankGrid(M: number, R: number, tile: { RT: number }): [number, number] {
  const rows = RANK_TILE_ROWS / tile.RT;
  const g: [number, number] = [ceilDiv(R, tile.RT), ceilDiv(M, rows)];
  if (g[1] > MAX_WORKGROUPS_PER_DIM) throw new Error(`lora: ${M} rows exceed one dispatch (${MAX_WORKGROUPS_PER_DIM * rows})`);
  return g;
}

/** Rows per workgroup of lib/lora_rank_subgroup.wgsl (ROWS in the WGSL). */
const SUBGROUP_ROWS = 4;
/** lora_backward_thin.wgsl: threads along the wide side, narrow indices per thread. */
const THIN_THREADS = 64;
const THIN = 16;

function subgroupGrid(M: number, R: number, tile: { RT: number }): [number, number] {
  const g: [number, number] = [ceilDiv(R, tile.RT), ceilDiv(M, SUBGROUP_ROWS)];
  if (g[1] > MAX_WORKGROUPS_PER_DIM) throw new Error(`lora: ${M} rows exceed one dispatch (${MAX_WORKGROUPS_PER_DIM * SUBGROUP_ROWS})`);
  return g;
}

/** The variant to dispatch: the call's, else engine.choices' for the class of (M, K, N). */
function pickVariant(engine: Engine, kernel: TunedKernel, name: string | undefined, M: number, K: number, N: number): KernelVariant {
  return variantToDispatch(engine, kernel, name, M, K, N, 'lora');
}

/** The rank-tiled passes (xa, g): the variant's grid ("subgroup": 4 rows per workgroup). */
function rankPassGrid(v: KernelVariant, M: number, R: number, tile: { RT: number }): [number, number] {
  return v.name === SAFE ? rankGrid(M, R, tile) : subgroupGrid(M, R, tile);
}

export const dropoutParams = dropoutUniforms;

function check(what: string, t: Tensor, need: number): void {
  if (t.dtype !== 'f32') throw new Error(`lora: ${what} (${t.label}) is ${t.dtype}, must be f32`);
  if (t.size < need) throw new Error(`lora: ${what} (${t.label}) holds ${t.size} values, needs ${need}`);
}

function checkDims(dims: Record<string, number>): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`lora: ${k} = ${v} is not a non-negative integer`);
  }
}

function grid(cols: number, rows: number): [number, number] {
  const g: [number, number] = [ceilDiv(cols, TS), ceilDiv(rows, TS)];
  if (g[1] > MAX_WORKGROUPS_PER_DIM) throw new Error(`lora: ${rows} rows exceed one dispatch (${MAX_WORKGROUPS_PER_DIM * TS})`);
  return g;
}

/** xa (M, R) = scale · dropout(x) (M, C) · a (R, C)ᵀ, assigned. */
export function loraXa(
  engine: Engine,
  xa: Tensor, // (M, R)
  x: Tensor, // (M, C)
  a: Tensor, // (R, C)
  M: number,
  C: number,
  R: number,
  options: { scale: number; dropout?: LoraDropout | null; variant?: string },
): void {
  checkDims({ M, C, R });
  check('xa', xa, M * R);
  check('x', x, M * C);
  check('a', a, R * C);
  const tile = rankTile(R);
  const v = pickVariant(engine, 'lora_xa', options.variant, M, C, R);
  engine.dispatch(
    { shader: v.shader, entry: v.entry, constants: tile },
    { xa, x, a },
    { M, C, R, scale: options.scale, ...dropoutParams(options.dropout ?? null) },
    rankPassGrid(v, M, R, tile),
  );
}

/** g (M, R) = scale · dy (M, OC) · b[bOffset ..] (OC, R); += with accumulate. */
export function loraDyB(
  engine: Engine,
  g: Tensor, // (M, R)
  dy: Tensor, // (M, OC)
  b: Tensor, // (≥ bOffset / R + OC, R)
  M: number,
  OC: number,
  R: number,
  options: { scale: number; bOffset?: number; accumulate?: boolean; variant?: string },
): void {
  const bOffset = options.bOffset ?? 0;
  checkDims({ M, OC, R, bOffset });
  check('g', g, M * R);
  check('dy', dy, M * OC);
  check('b', b, bOffset + OC * R);
  const tile = rankTile(R);
  const v = pickVariant(engine, 'lora_dyb', options.variant, M, OC, R);
  engine.dispatch(
    { shader: v.shader, entry: v.entry, constants: tile },
    { out: g, xin: dy, win: b },
    { M, K: OC, N: R, Q: 0, w_offset: bOffset, scale: options.scale, accumulate: options.accumulate ? 1 : 0, ...dropoutParams(null) },
    rankPassGrid(v, M, R, tile),
  );
}

/**
 * out[outOffset ..] (P, Q) += x (M, P)ᵀ · dropout(y) (M, Q) (assigned with accumulate false).
 * dB: x = dY, y = xa. dA: x = g, y = the layer input with the forward's dropout.
 */
export function loraGrad(
  engine: Engine,
  out: Tensor, // (≥ outOffset + P·Q)
  x: Tensor, // (M, P)
  y: Tensor, // (M, Q)
  M: number,
  P: number,
  Q: number,
  options: { outOffset?: number; accumulate?: boolean; dropout?: LoraDropout | null; variant?: string } = {},
): void {
  const outOffset = options.outOffset ?? 0;
  checkDims({ M, P, Q, outOffset });
  check('out', out, outOffset + P * Q);
  check('x', x, M * P);
  check('y', y, M * Q);
  const v = pickVariant(engine, 'lora_grad', options.variant, M, P, Q);
  const thin = v.name !== SAFE;
  engine.dispatch(
    // The safe file's rank tile (dyb_main's); grad_main does not read it, so one value, one pipeline.
    { shader: v.shader, entry: v.entry, constants: thin ? {} : GRAD_MAIN_CONSTANTS },
    { out, xin: x, win: y },
    { M, K: 0, N: P, Q, w_offset: outOffset, scale: 1, accumulate: (options.accumulate ?? true) ? 1 : 0, ...dropoutParams(options.dropout ?? null) },
    // thin: (wide side / 64, narrow side / 16), the narrow side the smaller of P, Q (Q on a tie)
    thin ? [ceilDiv(Math.max(P, Q), THIN_THREADS), ceilDiv(P < Q ? P : Q, THIN)] : grid(Q, P),
  );
}
