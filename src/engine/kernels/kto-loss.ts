import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { KTO_NSTATS, type KtoParams } from '../losses/terms.js';
import { grid1d } from './grid.js';

// KTO on the GPU (shaders/kto_loss_{forward,backward}.wgsl; CPU twin src/engine/cpu/kto-loss.ts):
// the detached KL estimate from rotated completions, per-record losses, the batch-mean loss
// with TRL's sums and counts in `stats` (KTO_STATS), and the gradient by each policy log-prob
// sum, all without a readback.

export { KTO_NSTATS, KTO_STATS, type KtoParams } from '../losses/terms.js';

function check(what: string, t: Tensor, size: number, dtype: Tensor['dtype'] = 'f32'): void {
  if (t.size !== size) throw new Error(`kto loss: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== dtype) throw new Error(`kto loss: ${what} (${t.label}) is ${t.dtype}, expected ${dtype}`);
}

function checkParams(p: KtoParams, B: number): void {
  if (!Number.isInteger(B) || B < 1) throw new Error(`kto loss: B = ${B} must be a positive integer`);
  if (!(p.beta > 0)) throw new Error(`kto loss: beta ${p.beta} must be > 0`);
}

/** kl[0] = max(0, mean(policyKL - refKL)) over the M rotated completions (no gradient). */
export function ktoKlEstimate(
  engine: Engine,
  kl: Tensor, // (1)
  policyKL: Tensor, // (M)
  refKL: Tensor, // (M)
  M: number,
): void {
  if (!Number.isInteger(M) || M < 1) throw new Error(`kto loss: M = ${M} must be a positive integer`);
  check('kl', kl, 1);
  check('policyKL', policyKL, M);
  check('refKL', refKL, M);
  engine.dispatch(
    { shader: 'kto_loss_forward', entry: 'kl_estimate' },
    { kl, policyKL, refKL },
    { B: 0, M, beta: 0, wD: 0, wU: 0 },
    [1],
  );
}

export function ktoLossForward(
  engine: Engine,
  losses: Tensor, // (B)
  stats: Tensor, // (KTO_NSTATS)
  policyLogps: Tensor, // (B) Σ completion logp
  refLogps: Tensor, // (B)
  labels: Tensor, // (B) i32, 1 desirable, 0 undesirable
  kl: Tensor, // (1)
  p: KtoParams,
  B: number,
): void {
  checkParams(p, B);
  check('losses', losses, B);
  check('stats', stats, KTO_NSTATS);
  check('policyLogps', policyLogps, B);
  check('refLogps', refLogps, B);
  check('labels', labels, B, 'i32');
  check('kl', kl, 1);
  engine.dispatch(
    { shader: 'kto_loss_forward' },
    { losses, stats, kl, policyLogps, refLogps, labels },
    { B, M: 0, beta: p.beta, wD: p.desirableWeight, wU: p.undesirableWeight },
    [1],
  );
}

/** dpolicy[i] = dloss · dL/dpolicy[i], L the batch-mean loss (assigned). */
export function ktoLossBackward(
  engine: Engine,
  dpolicy: Tensor, // (B)
  dloss: number,
  policyLogps: Tensor, // (B)
  refLogps: Tensor, // (B)
  labels: Tensor, // (B) i32
  kl: Tensor, // (1)
  p: KtoParams,
  B: number,
): void {
  checkParams(p, B);
  check('dpolicy', dpolicy, B);
  check('policyLogps', policyLogps, B);
  check('refLogps', refLogps, B);
  check('labels', labels, B, 'i32');
  check('kl', kl, 1);
  if (!Number.isFinite(dloss)) throw new Error(`kto loss: dloss ${dloss} must be finite`);
  engine.dispatch(
    { shader: 'kto_loss_backward' },
    { dpolicy, policyLogps, refLogps, labels, kl },
    { B, beta: p.beta, wD: p.desirableWeight, wU: p.undesirableWeight, dloss },
    grid1d(B, 256),
  );
}
