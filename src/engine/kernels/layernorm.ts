import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { ceilDiv, grid1d } from './grid.js';

// LayerNorm (GPT-2) over N rows of C values: out = (x - mean) · rstd · weight + bias
// (shaders/layernorm_{forward,backward}.wgsl; CPU twin src/engine/cpu/layernorm.ts).

export interface LayernormBackwardOptions {
  /** dinp += instead of = (the residual stream sums its gradients). */
  accumulate?: boolean;
}

/** Workgroup size of the row kernels; each row gets `threadsPerRow` of its threads. */
const WG = 256;
/** Columns per workgroup of the `block_sums` pass. */
const COLS_PER_GROUP = 64;
/** Rows one `block_sums` thread sums at least, and at most this many blocks (so `finish` stays short). */
const MIN_ROWS_PER_BLOCK = 32;
const MAX_BLOCKS = 1024;

/**
 * Threads per row: a power of two from 32 to 256, about C / 4 (each thread a few values, short
 * reductions for narrow rows, several rows per workgroup).
 */
export function threadsPerRow(C: number): number {
  let t = 32;
  while (t < WG && t * 4 < C) t *= 2;
  return t;
}

/** Row blocks of the parameter-gradient reduction: R rows each, nblocks = ceil(N / R). */
export function rowBlocks(N: number): { rowsPerBlock: number; nblocks: number } {
  const rowsPerBlock = Math.max(MIN_ROWS_PER_BLOCK, ceilDiv(N, MAX_BLOCKS));
  return { rowsPerBlock, nblocks: Math.max(1, ceilDiv(N, rowsPerBlock)) };
}

function check(what: string, t: Tensor, size: number): void {
  if (t.dtype !== 'f32') throw new Error(`layernorm: ${what} (${t.label}) is ${t.dtype}, expected f32`);
  if (t.size < size) throw new Error(`layernorm: ${what} (${t.label}) holds ${t.size} values, needs ${size}`);
}

function checkDims(N: number, C: number, eps = 0): void {
  if (!Number.isInteger(N) || N < 0 || !Number.isInteger(C) || C < 1) throw new Error(`layernorm: bad shape N=${N} C=${C}`);
  if (!(eps >= 0)) throw new Error(`layernorm: eps ${eps} must be >= 0`);
}

function rowGrid(N: number, C: number): [number, number] {
  return grid1d(N, WG / threadsPerRow(C));
}

export function layernormForward(
  engine: Engine,
  out: Tensor, // (N, C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  inp: Tensor, // (N, C)
  weight: Tensor, // (C)
  bias: Tensor | null, // (C); null = no bias
  N: number,
  C: number,
  eps = 1e-5,
): void {
  checkDims(N, C, eps);
  for (const [w, t, n] of [['out', out, N * C], ['mean', mean, N], ['rstd', rstd, N], ['inp', inp, N * C], ['weight', weight, C]] as const) check(w, t, n);
  if (bias) check('bias', bias, C);
  if (out.buffer === inp.buffer) throw new Error('layernorm: out may not alias inp');
  engine.dispatch(
    { shader: 'layernorm_forward', constants: { TPR: threadsPerRow(C) } },
    // Without a bias, weight stands in (has_bias = 0, never read).
    { out, mean, rstd, inp, weight, bias: bias ?? weight },
    { N, C, eps, has_bias: bias ? 1 : 0 },
    rowGrid(N, C),
  );
}

/** llm.c's fused_residual_forward: residual = inp + skip, out = layernorm(residual). */
export function layernormResidualForward(
  engine: Engine,
  residual: Tensor, // (N, C)
  out: Tensor, // (N, C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  inp: Tensor, // (N, C)
  skip: Tensor, // (N, C)
  weight: Tensor, // (C)
  bias: Tensor | null, // (C)
  N: number,
  C: number,
  eps = 1e-5,
): void {
  checkDims(N, C, eps);
  for (const [w, t, n] of [['residual', residual, N * C], ['out', out, N * C], ['mean', mean, N], ['rstd', rstd, N],
    ['inp', inp, N * C], ['skip', skip, N * C], ['weight', weight, C]] as const) check(w, t, n);
  if (bias) check('bias', bias, C);
  if ([out, inp, skip].some((t) => t.buffer === residual.buffer) || [inp, skip].some((t) => t.buffer === out.buffer)) {
    throw new Error('layernorm: residual and out may not alias the inputs or each other');
  }
  engine.dispatch(
    { shader: 'layernorm_forward', entry: 'main_residual', constants: { TPR: threadsPerRow(C) } },
    { residual, out, mean, rstd, inp, skip, weight, bias: bias ?? weight },
    { N, C, eps, has_bias: bias ? 1 : 0 },
    rowGrid(N, C),
  );
}

// dinp (N, C) = ... (assigned, or += with accumulate); dweight (C) += Σ dout · norm;
// dbias (C) += Σ dout. A null gradient is skipped (frozen norms want only dinp).
export function layernormBackward(
  engine: Engine,
  dinp: Tensor | null, // (N, C)
  dweight: Tensor | null, // (C)
  dbias: Tensor | null, // (C)
  dout: Tensor, // (N, C)
  inp: Tensor, // (N, C)
  weight: Tensor, // (C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  N: number,
  C: number,
  options: LayernormBackwardOptions = {},
): void {
  checkDims(N, C);
  for (const [w, t, n] of [['dout', dout, N * C], ['inp', inp, N * C], ['weight', weight, C], ['mean', mean, N], ['rstd', rstd, N]] as const) check(w, t, n);
  const { rowsPerBlock, nblocks } = rowBlocks(N);
  const params = { N, C, accumulate: options.accumulate ? 1 : 0, rows_per_block: rowsPerBlock, nblocks, offset: 0 };
  if (dinp) {
    check('dinp', dinp, N * C);
    if ([dout, inp].some((t) => t.buffer === dinp.buffer)) throw new Error('layernorm: dinp may not alias dout or inp');
    engine.dispatch(
      { shader: 'layernorm_backward', constants: { TPR: threadsPerRow(C) } },
      { dinp, dout, inp, weight, mean, rstd },
      params,
      rowGrid(N, C),
    );
  }
  if (!dweight && !dbias) return;
  if (dweight) check('dweight', dweight, C);
  if (dbias) check('dbias', dbias, C);
  if (N === 0) return;
  // TPR only shapes `main`; one value keeps one pipeline for these two entries.
  const constants = { TPR: WG };
  const partials = engine.tensor([2, nblocks, C], 'f32', 'layernorm.partials');
  engine.dispatch({ shader: 'layernorm_backward', entry: 'block_sums', constants }, { partials, dout, inp, mean, rstd }, params, [
    ceilDiv(C, COLS_PER_GROUP),
    nblocks,
  ]);
  const finish = (dparam: Tensor, offset: number) =>
    engine.dispatch({ shader: 'layernorm_backward', entry: 'finish', constants }, { partials, dparam }, { ...params, offset }, [ceilDiv(C, WG)]);
  if (dweight) finish(dweight, 0);
  if (dbias) finish(dbias, nblocks * C);
  engine.release(partials);
}
