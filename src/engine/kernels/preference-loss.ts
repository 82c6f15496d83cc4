import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { PAIR_NSTATS, type PairLossParams } from '../cpu/preference-loss.js';

// Paired preference losses on the GPU (shaders/preference_loss_{forward,backward}.wgsl; CPU twin
// src/engine/cpu/preference-loss.ts): the per-pair loss, the batch-mean loss with TRL's metrics
// in `stats` (slots PAIR_STATS), and the gradient of the mean loss by each policy log-prob sum,
// all without a readback. One workgroup per batch: a batch is at most a few hundred pairs.

export { PAIR_NSTATS, PAIR_STATS, type PairLossParams, type PairLossWeights } from '../cpu/preference-loss.js';

function check(what: string, t: Tensor, size: number): void {
  if (t.size !== size) throw new Error(`preference loss: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== 'f32') throw new Error(`preference loss: ${what} (${t.label}) is ${t.dtype}, expected f32`);
}

/** The uniforms both kernels share (the Params fields of the WGSL). */
function uniforms(p: PairLossParams, B: number): Record<string, number> {
  const w = p.weights;
  if (!(p.beta > 0)) throw new Error(`preference loss: beta ${p.beta} must be > 0`);
  if (w.robust && !(p.labelSmoothing >= 0 && p.labelSmoothing < 0.5)) {
    throw new Error(`preference loss: robust needs 0 <= label_smoothing < 0.5, got ${p.labelSmoothing}`);
  }
  if (w.exo_pair && !(p.exoEpsilon > 0 && p.exoEpsilon < 1)) {
    throw new Error(`preference loss: exo_pair needs 0 < epsilon < 1, got ${p.exoEpsilon}`);
  }
  if (w.discopop && !(p.discopopTau > 0)) throw new Error(`preference loss: discopop_tau ${p.discopopTau} must be > 0`);
  return {
    B,
    beta: p.beta,
    eps: p.labelSmoothing,
    exoEps: p.exoEpsilon,
    tau: p.discopopTau,
    gamma: p.simpoGamma,
    refFree: p.referenceFree ? 1 : 0,
    wSigmoid: w.sigmoid,
    wHinge: w.hinge,
    wIpo: w.ipo,
    wRobust: w.robust,
    wExo: w.exo_pair,
    wNca: w.nca_pair,
    wBco: w.bco_pair,
    wSppo: w.sppo_hard,
    wApoZero: w.apo_zero,
    wApoDown: w.apo_down,
    wDiscopop: w.discopop,
    wSigmoidNorm: w.sigmoid_norm,
    wCdpo: w.cdpo,
    wSimpo: w.simpo,
    wOrpo: w.orpo,
    wSft: w.sft,
  };
}

interface PairInputs {
  policyChosen: Tensor; // (B)
  policyRejected: Tensor; // (B)
  refChosen: Tensor | null; // (B)
  refRejected: Tensor | null; // (B)
  nChosen: Tensor; // (B)
  nRejected: Tensor; // (B)
}

/** Checks shapes and returns the entry point and the input bindings. */
function inputs(x: PairInputs, p: PairLossParams, B: number): { entry: string; bindings: Record<string, Tensor> } {
  if (!Number.isInteger(B) || B < 1) throw new Error(`preference loss: B = ${B} must be a positive integer`);
  check('policyChosen', x.policyChosen, B);
  check('policyRejected', x.policyRejected, B);
  check('nChosen', x.nChosen, B);
  check('nRejected', x.nRejected, B);
  const bindings: Record<string, Tensor> = {
    policyChosen: x.policyChosen,
    policyRejected: x.policyRejected,
    nChosen: x.nChosen,
    nRejected: x.nRejected,
  };
  if ((x.refChosen === null) !== (x.refRejected === null)) {
    throw new Error('preference loss: give both reference tensors or neither');
  }
  if (!x.refChosen || !x.refRejected) {
    if (!p.referenceFree) throw new Error('preference loss: reference log-probs are required unless referenceFree');
    return { entry: 'main_noref', bindings };
  }
  check('refChosen', x.refChosen, B);
  check('refRejected', x.refRejected, B);
  bindings.refChosen = x.refChosen;
  bindings.refRejected = x.refRejected;
  return { entry: 'main', bindings };
}

/**
 * losses[i] = the pair's loss (weighted terms + w_sft · batch NLL); stats = PAIR_STATS (loss,
 * rewards/*, logps/*, nll_loss, log_odds_*). Reference tensors are null for reference-free
 * methods (p.referenceFree).
 */
export function preferenceLossForward(
  engine: Engine,
  losses: Tensor, // (B)
  stats: Tensor, // (PAIR_NSTATS)
  policyChosen: Tensor, // (B) Σ completion logp
  policyRejected: Tensor, // (B)
  refChosen: Tensor | null, // (B)
  refRejected: Tensor | null, // (B)
  nChosen: Tensor, // (B) completion token counts (f32)
  nRejected: Tensor, // (B)
  p: PairLossParams,
  B: number,
): void {
  const { entry, bindings } = inputs({ policyChosen, policyRejected, refChosen, refRejected, nChosen, nRejected }, p, B);
  check('losses', losses, B);
  check('stats', stats, PAIR_NSTATS);
  engine.dispatch(
    { shader: 'preference_loss_forward', entry },
    { losses, stats, ...bindings },
    uniforms(p, B),
    [1],
  );
}

/**
 * dChosen[i] = dloss · dL/dpc[i], dRejected[i] = dloss · dL/dpr[i], L the batch-mean loss
 * (assigned). dloss is the gradient of the training objective by L (1, or 1 / accumulation
 * steps).
 */
export function preferenceLossBackward(
  engine: Engine,
  dChosen: Tensor, // (B)
  dRejected: Tensor, // (B)
  dloss: number,
  policyChosen: Tensor, // (B)
  policyRejected: Tensor, // (B)
  refChosen: Tensor | null, // (B)
  refRejected: Tensor | null, // (B)
  nChosen: Tensor, // (B)
  nRejected: Tensor, // (B)
  p: PairLossParams,
  B: number,
): void {
  const { entry, bindings } = inputs({ policyChosen, policyRejected, refChosen, refRejected, nChosen, nRejected }, p, B);
  check('dChosen', dChosen, B);
  check('dRejected', dRejected, B);
  if (!Number.isFinite(dloss)) throw new Error(`preference loss: dloss ${dloss} must be finite`);
  engine.dispatch(
    { shader: 'preference_loss_backward', entry },
    { dChosen, dRejected, ...bindings },
    { ...uniforms(p, B), dloss },
    [1],
  );
}
