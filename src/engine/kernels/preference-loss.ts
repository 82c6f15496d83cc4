import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import {
  AOT_MAX_PAIRS,
  PAIR_NSTATS,
  PAIR_TERMS,
  fAlphaCoef,
  fDivergenceCode,
  usesAot,
  weightField,
  type PairLossParams,
} from '../losses/terms.js';

// Paired preference losses on the GPU (shaders/preference_loss_{forward,backward}.wgsl; CPU twin
// src/engine/cpu/preference-loss.ts): the per-pair loss, the batch-mean loss with TRL's metrics
// in `stats` (slots PAIR_STATS), and the gradient of the mean loss by each policy log-prob sum,
// all without a readback. One workgroup per batch: a batch is at most a few hundred pairs
// (aot and aot_unpaired, which sort the batch in workgroup memory: at most AOT_MAX_PAIRS).

export { AOT_MAX_PAIRS, PAIR_NSTATS, PAIR_STATS, type PairLossParams, type PairLossWeights } from '../losses/terms.js';

function check(what: string, t: Tensor, size: number): void {
  if (t.size !== size) throw new Error(`preference loss: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (t.dtype !== 'f32') throw new Error(`preference loss: ${what} (${t.label}) is ${t.dtype}, expected f32`);
}

/**
 * The uniforms both kernels share (struct Params of shaders/lib/pair_loss_params.wgsl): the
 * scalars, and one weight w_<term> per term of PAIR_TERMS (the naming rule of terms.ts).
 */
function uniforms(p: PairLossParams, B: number, dloss: number): Record<string, number> {
  const w = p.weights;
  if (!(p.beta > 0)) throw new Error(`preference loss: beta ${p.beta} must be > 0`);
  if (w.robust && !(p.labelSmoothing >= 0 && p.labelSmoothing < 0.5)) {
    throw new Error(`preference loss: robust needs 0 <= label_smoothing < 0.5, got ${p.labelSmoothing}`);
  }
  if (w.exo_pair && !(p.exoEpsilon > 0 && p.exoEpsilon < 1)) {
    throw new Error(`preference loss: exo_pair needs 0 < epsilon < 1, got ${p.exoEpsilon}`);
  }
  if (w.discopop && !(p.discopopTau > 0)) throw new Error(`preference loss: discopop_tau ${p.discopopTau} must be > 0`);
  if (!Number.isFinite(fAlphaCoef(p))) throw new Error(`preference loss: f_alpha_divergence_coef ${fAlphaCoef(p)} must be finite`);
  if (usesAot(p) && B > AOT_MAX_PAIRS) {
    throw new Error(`preference loss: aot / aot_unpaired sort the batch in one workgroup: at most ${AOT_MAX_PAIRS} pairs, got ${B}`);
  }
  const u: Record<string, number> = {
    B,
    beta: p.beta,
    eps: p.labelSmoothing,
    exoEps: p.exoEpsilon,
    tau: p.discopopTau,
    gamma: p.simpoGamma,
    refFree: p.referenceFree ? 1 : 0,
    fdiv: fDivergenceCode(p),
    fAlpha: fAlphaCoef(p),
    weighted: p.useWeighting ? 1 : 0,
    dloss,
  };
  for (const t of PAIR_TERMS) u[weightField(t)] = w[t];
  return u;
}

interface PairInputs {
  policyChosen: Tensor; // (B)
  policyRejected: Tensor; // (B)
  refChosen: Tensor | null; // (B)
  refRejected: Tensor | null; // (B)
  nChosen: Tensor; // (B)
  nRejected: Tensor; // (B)
  weights: Tensor | null; // (B)
}

/**
 * Checks shapes and options and returns the input bindings. One entry point serves every case:
 * a reference-free run binds the policy tensors in the reference slots and an unweighted run
 * binds nChosen as the weights; the uniforms say to read 0 and 1 there instead.
 */
function inputs(x: PairInputs, p: PairLossParams, B: number): Record<string, Tensor> {
  if (!Number.isInteger(B) || B < 1) throw new Error(`preference loss: B = ${B} must be a positive integer`);
  check('policyChosen', x.policyChosen, B);
  check('policyRejected', x.policyRejected, B);
  check('nChosen', x.nChosen, B);
  check('nRejected', x.nRejected, B);
  if ((x.refChosen === null) !== (x.refRejected === null)) {
    throw new Error('preference loss: give both reference tensors or neither');
  }
  if (usesAot(p) && p.useWeighting) {
    throw new Error('preference loss: use_weighting is not implemented for aot / aot_unpaired (they sort the batch; TRL raises too)');
  }
  if (p.useWeighting && !x.weights) throw new Error('preference loss: use_weighting needs the per-pair weights tensor');
  if (!p.useWeighting && x.weights) throw new Error('preference loss: per-pair weights given but use_weighting is off');
  if (x.weights) check('weights', x.weights, B);
  let refChosen = x.refChosen;
  let refRejected = x.refRejected;
  if (!refChosen || !refRejected) {
    if (!p.referenceFree) throw new Error('preference loss: reference log-probs are required unless referenceFree');
    refChosen = x.policyChosen;
    refRejected = x.policyRejected;
  } else {
    check('refChosen', refChosen, B);
    check('refRejected', refRejected, B);
  }
  return {
    policyChosen: x.policyChosen,
    policyRejected: x.policyRejected,
    refChosen,
    refRejected,
    nChosen: x.nChosen,
    nRejected: x.nRejected,
    weights: x.weights ?? x.nChosen,
  };
}

/**
 * losses[i] = the pair's loss (weighted terms + w_sft · batch NLL, times weights[i] with
 * use_weighting; plus the aot terms of sorted position i); stats = PAIR_STATS (loss, rewards/*,
 * logps/*, nll_loss, log_odds_*). Reference tensors are null for reference-free methods
 * (p.referenceFree); weights (B) are required with p.useWeighting and must be null without.
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
  weights: Tensor | null, // (B) WPO weight per pair (use_weighting), no gradient
  p: PairLossParams,
  B: number,
): void {
  const bindings = inputs({ policyChosen, policyRejected, refChosen, refRejected, nChosen, nRejected, weights }, p, B);
  check('losses', losses, B);
  check('stats', stats, PAIR_NSTATS);
  engine.dispatch({ shader: 'preference_loss_forward', entry: 'main' }, { losses, stats, ...bindings }, uniforms(p, B, 1), [1]);
}

/**
 * dChosen[i] = dloss · dL/dpc[i], dRejected[i] = dloss · dL/dpr[i], L the batch-mean loss
 * (assigned). dloss is the gradient of the training objective by L (1, or 1 / accumulation
 * steps). The weights are constants (no gradient flows into them).
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
  weights: Tensor | null, // (B)
  p: PairLossParams,
  B: number,
): void {
  const bindings = inputs({ policyChosen, policyRejected, refChosen, refRejected, nChosen, nRejected, weights }, p, B);
  check('dChosen', dChosen, B);
  check('dRejected', dRejected, B);
  if (!Number.isFinite(dloss)) throw new Error(`preference loss: dloss ${dloss} must be finite`);
  engine.dispatch({ shader: 'preference_loss_backward', entry: 'main' }, { dChosen, dRejected, ...bindings }, uniforms(p, B, dloss), [1]);
}
