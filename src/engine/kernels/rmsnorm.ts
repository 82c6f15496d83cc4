import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { ceilDiv, grid1d } from './grid.js';
import { rowBlocks, threadsPerRow } from './layernorm.js';

// RMSNorm (Llama; Gemma with weightOffset 1) over N rows of C values:
// out = x · rstd · (weight + weightOffset), rstd = 1 / sqrt(Σx² / C + eps)
// (shaders/rmsnorm_{forward,backward}.wgsl; CPU twin src/engine/cpu/rmsnorm.ts). Same row layout
// and parameter-gradient blocks as LayerNorm.

export interface RmsnormOptions {
  /** Added to the weight: 0 (Llama, default) or 1 (Gemma's `1 + weight`). */
  weightOffset?: number;
}

export interface RmsnormBackwardOptions extends RmsnormOptions {
  /** dinp += instead of = (the residual stream sums its gradients). */
  accumulate?: boolean;
}

const WG = 256;
const COLS_PER_GROUP = 64;

function check(what: string, t: Tensor, size: number): void {
  if (t.dtype !== 'f32') throw new Error(`rmsnorm: ${what} (${t.label}) is ${t.dtype}, expected f32`);
  if (t.size < size) throw new Error(`rmsnorm: ${what} (${t.label}) holds ${t.size} values, needs ${size}`);
}

function checkArgs(N: number, C: number, eps: number, o: RmsnormOptions): number {
  if (!Number.isInteger(N) || N < 0 || !Number.isInteger(C) || C < 1) throw new Error(`rmsnorm: bad shape N=${N} C=${C}`);
  if (!(eps >= 0)) throw new Error(`rmsnorm: eps ${eps} must be >= 0`);
  const offset = o.weightOffset ?? 0;
  if (!Number.isFinite(offset)) throw new Error(`rmsnorm: weightOffset ${offset}`);
  return offset;
}

function rowGrid(N: number, C: number): [number, number] {
  return grid1d(N, WG / threadsPerRow(C));
}

export function rmsnormForward(
  engine: Engine,
  out: Tensor, // (N, C)
  rstd: Tensor, // (N)
  inp: Tensor, // (N, C)
  weight: Tensor, // (C)
  N: number,
  C: number,
  eps = 1e-6,
  options: RmsnormOptions = {},
): void {
  const weight_offset = checkArgs(N, C, eps, options);
  for (const [w, t, n] of [['out', out, N * C], ['rstd', rstd, N], ['inp', inp, N * C], ['weight', weight, C]] as const) check(w, t, n);
  if (out.buffer === inp.buffer) throw new Error('rmsnorm: out may not alias inp');
  engine.dispatch(
    { shader: 'rmsnorm_forward', constants: { TPR: threadsPerRow(C) } },
    { out, rstd, inp, weight },
    { N, C, eps, weight_offset },
    rowGrid(N, C),
  );
}

/** onnxruntime's SkipSimplifiedLayerNormalization: residual = inp + skip, out = rmsnorm(residual). */
export function rmsnormResidualForward(
  engine: Engine,
  residual: Tensor, // (N, C)
  out: Tensor, // (N, C)
  rstd: Tensor, // (N)
  inp: Tensor, // (N, C)
  skip: Tensor, // (N, C)
  weight: Tensor, // (C)
  N: number,
  C: number,
  eps = 1e-6,
  options: RmsnormOptions = {},
): void {
  const weight_offset = checkArgs(N, C, eps, options);
  for (const [w, t, n] of [['residual', residual, N * C], ['out', out, N * C], ['rstd', rstd, N], ['inp', inp, N * C],
    ['skip', skip, N * C], ['weight', weight, C]] as const) check(w, t, n);
  if ([out, inp, skip].some((t) => t.buffer === residual.buffer) || [inp, skip].some((t) => t.buffer === out.buffer)) {
    throw new Error('rmsnorm: residual and out may not alias the inputs or each other');
  }
  engine.dispatch(
    { shader: 'rmsnorm_forward', entry: 'main_residual', constants: { TPR: threadsPerRow(C) } },
    { residual, out, rstd, inp, skip, weight },
    { N, C, eps, weight_offset },
    rowGrid(N, C),
  );
}

// dinp (N, C) = rstd · (dy - y · mean(dy · y)) (assigned, or += with accumulate);
// dweight (C) += Σ dout · x · rstd. A null gradient is skipped (frozen norms want only dinp).
export function rmsnormBackward(
  engine: Engine,
  dinp: Tensor | null, // (N, C)
  dweight: Tensor | null, // (C)
  dout: Tensor, // (N, C)
  inp: Tensor, // (N, C)
  weight: Tensor, // (C)
  rstd: Tensor, // (N)
  N: number,
  C: number,
  options: RmsnormBackwardOptions = {},
): void {
  const weight_offset = checkArgs(N, C, 0, options);
  for (const [w, t, n] of [['dout', dout, N * C], ['inp', inp, N * C], ['weight', weight, C], ['rstd', rstd, N]] as const) check(w, t, n);
  const { rowsPerBlock, nblocks } = rowBlocks(N);
  const params = { N, C, weight_offset, accumulate: options.accumulate ? 1 : 0, rows_per_block: rowsPerBlock, nblocks };
  if (dinp) {
    check('dinp', dinp, N * C);
    if ([dout, inp].some((t) => t.buffer === dinp.buffer)) throw new Error('rmsnorm: dinp may not alias dout or inp');
    engine.dispatch(
      { shader: 'rmsnorm_backward', constants: { TPR: threadsPerRow(C) } },
      { dinp, dout, inp, weight, rstd },
      params,
      rowGrid(N, C),
    );
  }
  if (!dweight || N === 0) return;
  check('dweight', dweight, C);
  // TPR only shapes `main`; one value keeps one pipeline for these two entries.
  const constants = { TPR: WG };
  const partials = engine.tensor([nblocks, C], 'f32', 'rmsnorm.partials');
  engine.dispatch({ shader: 'rmsnorm_backward', entry: 'block_sums', constants }, { partials, dout, inp, rstd }, params, [
    ceilDiv(C, COLS_PER_GROUP),
    nblocks,
  ]);
  engine.dispatch({ shader: 'rmsnorm_backward', entry: 'finish', constants }, { dweight, partials }, params, [ceilDiv(C, WG)]);
  engine.release(partials);
}
