// One loss evaluation of a training step on the GPU for any method: the forward (per-pair or
// per-record losses, stats) then the backward (gradient of the batch-mean loss by each policy
// log-prob sum, times dloss), recorded back to back with no readback. The gradients feed the
// log-prob backward of the model (kernels/logprobs.ts) per token of each sequence.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { preferenceLossBackward, preferenceLossForward } from '../kernels/preference-loss.js';
import { ktoKlEstimate, ktoLossBackward, ktoLossForward } from '../kernels/kto-loss.js';
import { listwiseLossBackward, listwiseLossForward } from '../kernels/listwise-loss.js';
import { ktoParams, listwiseParams, pairLossParams, type MethodConfig } from './methods.js';

export interface PairLossTensors {
  policyChosen: Tensor; // (B) Σ completion logp
  policyRejected: Tensor; // (B)
  /** Null for reference-free methods (ORPO, SimPO). */
  refChosen: Tensor | null; // (B)
  refRejected: Tensor | null; // (B)
  nChosen: Tensor; // (B) completion token counts, f32
  nRejected: Tensor; // (B)
  /**
   * WPO weights (use_weighting), one per pair, no gradient: exp(alignedMean(chosen)) ·
   * exp(alignedMean(rejected)) from the policy's log-probs (PolicyLogprobs.alignedMeans).
   * Required when the method sets use_weighting; absent or null otherwise.
   */
  weights?: Tensor | null; // (B)
  losses: Tensor; // (B) out
  stats: Tensor; // (PAIR_NSTATS) out
  dChosen: Tensor; // (B) out
  dRejected: Tensor; // (B) out
}

export function pairLossStep(engine: Engine, cfg: MethodConfig, t: PairLossTensors, B: number, dloss = 1): void {
  const p = pairLossParams(cfg);
  // A reference-free loss ignores reference log-probs even when the caller has them.
  const refc = p.referenceFree ? null : t.refChosen;
  const refr = p.referenceFree ? null : t.refRejected;
  const w = t.weights ?? null;
  preferenceLossForward(engine, t.losses, t.stats, t.policyChosen, t.policyRejected, refc, refr, t.nChosen, t.nRejected, w, p, B);
  preferenceLossBackward(engine, t.dChosen, t.dRejected, dloss, t.policyChosen, t.policyRejected, refc, refr, t.nChosen, t.nRejected, w, p, B);
}

export interface KtoLossTensors {
  policyLogps: Tensor; // (B) Σ completion logp
  refLogps: Tensor; // (B)
  labels: Tensor; // (B) i32, 1 desirable, 0 undesirable
  policyKL: Tensor; // (M) rotated completions, policy (no gradient)
  refKL: Tensor; // (M)
  kl: Tensor; // (1) out
  losses: Tensor; // (B) out
  stats: Tensor; // (KTO_NSTATS) out
  dpolicy: Tensor; // (B) out
}

export function ktoLossStep(engine: Engine, cfg: MethodConfig, t: KtoLossTensors, B: number, M: number, dloss = 1): void {
  const p = ktoParams(cfg);
  ktoKlEstimate(engine, t.kl, t.policyKL, t.refKL, M);
  ktoLossForward(engine, t.losses, t.stats, t.policyLogps, t.refLogps, t.labels, t.kl, p, B);
  ktoLossBackward(engine, t.dpolicy, dloss, t.policyLogps, t.refLogps, t.labels, t.kl, p, B);
}

export interface ListwiseLossTensors {
  policyLogps: Tensor; // (B, N) best first
  refLogps: Tensor; // (B, N)
  losses: Tensor; // (B) out
  lse: Tensor; // (B, N) out, scratch for the backward
  stats: Tensor; // (LISTWISE_NSTATS) out
  dpolicy: Tensor; // (B, N) out
}

export function listwiseLossStep(engine: Engine, cfg: MethodConfig, t: ListwiseLossTensors, B: number, N: number, dloss = 1): void {
  const p = listwiseParams(cfg);
  listwiseLossForward(engine, t.losses, t.lse, t.stats, t.policyLogps, t.refLogps, p, B, N);
  listwiseLossBackward(engine, t.dpolicy, dloss, t.policyLogps, t.refLogps, t.lse, p, B, N);
}
