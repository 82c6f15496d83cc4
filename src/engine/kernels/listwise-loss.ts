import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { LISTWISE_NSTATS, type ListwiseParams } from '../losses/terms.js';
import { grid1d } from './grid.js';

// Plackett-Luce listwise loss on the GPU (shaders/listwise_loss_{forward,backward}.wgsl; CPU
// twin src/engine/cpu/listwise-loss.ts) over B rankings of N responses, best first.

export { LISTWISE_NSTATS, LISTWISE_STATS, type ListwiseParams } from '../losses/terms.js';

function check(what: string, t: Tensor, size: number): void {
  if (t.size !== size) throw new Error(`listwise loss: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== 'f32') throw new Error(`listwise loss: ${what} (${t.label}) is ${t.dtype}, expected f32`);
}

function checkDims(p: ListwiseParams, B: number, N: number): void {
  if (!Number.isInteger(B) || B < 1) throw new Error(`listwise loss: B = ${B} must be a positive integer`);
  if (!Number.isInteger(N) || N < 2) throw new Error(`listwise loss: N = ${N} must be an integer >= 2`);
  if (!(p.beta > 0)) throw new Error(`listwise loss: beta ${p.beta} must be > 0`);
}

/** losses (B), the saved lse (B, N) and stats (LISTWISE_STATS). */
export function listwiseLossForward(
  engine: Engine,
  losses: Tensor, // (B)
  lse: Tensor, // (B, N)
  stats: Tensor, // (LISTWISE_NSTATS)
  policyLogps: Tensor, // (B, N) Σ completion logp, best first
  refLogps: Tensor, // (B, N)
  p: ListwiseParams,
  B: number,
  N: number,
): void {
  checkDims(p, B, N);
  check('losses', losses, B);
  check('lse', lse, B * N);
  check('stats', stats, LISTWISE_NSTATS);
  check('policyLogps', policyLogps, B * N);
  check('refLogps', refLogps, B * N);
  engine.dispatch({ shader: 'listwise_loss_forward' }, { losses, lse, stats, policyLogps, refLogps }, { B, N, beta: p.beta }, [1]);
}

/** dpolicy[b, j] = dloss · dL/dpolicy[b, j], L the batch-mean loss (assigned). */
export function listwiseLossBackward(
  engine: Engine,
  dpolicy: Tensor, // (B, N)
  dloss: number,
  policyLogps: Tensor, // (B, N)
  refLogps: Tensor, // (B, N)
  lse: Tensor, // (B, N)
  p: ListwiseParams,
  B: number,
  N: number,
): void {
  checkDims(p, B, N);
  check('dpolicy', dpolicy, B * N);
  check('policyLogps', policyLogps, B * N);
  check('refLogps', refLogps, B * N);
  check('lse', lse, B * N);
  if (!Number.isFinite(dloss)) throw new Error(`listwise loss: dloss ${dloss} must be finite`);
  engine.dispatch(
    { shader: 'listwise_loss_backward' },
    { dpolicy, policyLogps, refLogps, lse },
    { B, N, beta: p.beta, dloss },
    grid1d(B, 256),
  );
}
