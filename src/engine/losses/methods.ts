// How a method of the registry (src/engine/methods: its options under TRL's names, defaults and
// pinned values) maps onto the loss kernels (kernels/preference-loss.ts, kernels/kto-loss.ts,
// kernels/listwise-loss.ts): the kernel parameters of a MethodConfig. Definitions:
// /work/shared/docs/preference-losses.md, which follows TRL 1.x (v1.9). Choices where TRL
// changed over versions or where the doc leaves one open:
//
// - Log-probs are per-sequence SUMS over completion tokens; methods that average divide by
//   max(count, 1) inside the kernel, so the gradient goes through the division.
// - `sft` is the mean NLL over all chosen completion tokens of the batch, -Σ pc / Σ nc (TRL 1.x:
//   cross-entropy over the chosen completion mask). Every pair's loss carries it (TRL expands
//   the scalar), and dL/dpc[i] of it is -w / Σ nc.
// - cDPO (`-(1-ε)·lsig(βΔ) - ε·lsig(-βΔ)`) is its own loss type `cdpo` (and method): TRL up to
//   0.28 applied it inside `sigmoid` when label_smoothing > 0; TRL 1.x's `sigmoid` ignores ε,
//   and so does ours.
// - RPO = sigmoid + rpo_alpha · sft (TRL 1.x loss_type=["sigmoid","sft"], loss_weights=[1, α];
//   older TRL's rpo_alpha argument). `rpo_alpha` on any DPO config adds that sft term.
// - bco_pair is TRL 1.x's `-lsig(β·cr) - lsig(-β·rr)`. TRL 0.x subtracted a running mean δ of
//   the rewards (RunningMoments, detached) inside both terms; it would need state across steps
//   and a readback, and TRL dropped it, so we do not.
// - exo_pair needs ε > 0: label_smoothing, or 1e-3 when that is 0 (TRL 0.x set 1e-3 and
//   warned; TRL 1.x would return inf).
// - Step-DPO is `sigmoid` on step-level log-probs: the caller scores the first wrong reasoning
//   step (chosen: a correct continuation, rejected: the wrong one) after the prompt and the
//   preceding correct steps; the loss itself is plain DPO.
// - ORPO: λ = beta; NLL over the RESPONSE tokens only (LLaMA-Factory's choice; TRL's ORPO
//   trainer takes prompt + response). Average log-probs are clamped to <= -1e-6 so that
//   log(1 - p) stays finite (ORPO_MAX_AVG_LOGP).
// - SimPO is TRL's CPOTrainer with loss_type "simpo" (beta 0.1 default there; the paper uses
//   2.0-2.5); `simpo` has cpo_alpha 0, `cpo_simpo` TRL's CPOConfig default cpo_alpha 1.0.
//   label_smoothing smooths it as in TRL's CPO.
// - KTO: the KL estimate is an input (the caller's rotated completions, detached).
// - Listwise: Plackett-Luce (PRO) over rankings of N >= 2 responses; not a TRL trainer.
// - aot / aot_unpaired (TRL 1.9; `aot_pair`, TRL's old name, is accepted for aot_unpaired) sort
//   over the micro-batch, so a pair's loss depends on the whole micro-batch.
// - f_divergence_type / f_alpha_divergence_coef, use_weighting (WPO: the caller passes per-pair
//   weights to the kernels; not with aot) and ld_alpha (LD-DPO: not a kernel parameter, the run
//   preparation sets SequencePair.tail) as in TRL 1.9's DPOConfig.

import { F_DIVERGENCE_TYPES, lossTypeId, type LossTypeId } from '../methods/loss-types.js';
import { METHODS, methodDefault, type MethodId, type ObjectiveValues } from '../methods/registry.js';
import { pairWeights, type KtoParams, type ListwiseParams, type PairLossParams, type PairLossWeights, type PairTerm } from './terms.js';

/** A method of the registry and the objective options set for it (the rest: its defaults). */
export interface MethodConfig {
  method: MethodId;
  /** Loss types by any accepted name (TRL's older aot_pair too). */
  options?: Partial<Omit<ObjectiveValues, 'loss_type'> & { loss_type: string | readonly string[] }>;
}

/** Which kernel family runs a method. */
export type LossFamily = 'pair' | 'kto' | 'listwise';

export function lossFamily(method: MethodId): LossFamily {
  return METHODS[method].shape;
}

/** Methods without a reference model (ORPO, SimPO, SFT). */
export function isReferenceFree(method: MethodId): boolean {
  return !METHODS[method].reference;
}

/**
 * Every objective option the method takes, resolved: the options given, else the method's
 * defaults; values the method pins (IPO's loss type, ...) always win.
 */
export function objectiveOf(cfg: MethodConfig): Partial<ObjectiveValues> {
  const spec = METHODS[cfg.method];
  const given = (cfg.options ?? {}) as Record<string, unknown>;
  for (const [option, value] of Object.entries(given)) {
    if (value === undefined || (spec.options as readonly string[]).includes(option)) continue;
    const pinned = (spec.pinned as Record<string, unknown> | undefined)?.[option];
    throw new Error(pinned !== undefined ? `${option} is ${JSON.stringify(pinned)} for ${cfg.method} and cannot be changed` : `${option} does not apply to ${cfg.method}`);
  }
  const out: Record<string, unknown> = {};
  for (const option of spec.options) out[option] = given[option] !== undefined ? given[option] : methodDefault(cfg.method, option);
  if (out.loss_type !== undefined) out.loss_type = [out.loss_type as string | string[]].flat().map(lossTypeId);
  return { ...out, ...spec.pinned };
}

function checkBeta(beta: number): void {
  if (!(beta > 0 && Number.isFinite(beta))) throw new Error(`beta ${beta} must be a positive number`);
}

function checkSmoothing(eps: number): void {
  if (!(eps >= 0 && eps < 1)) throw new Error(`label_smoothing ${eps} must be in [0, 1)`);
}

/** The loss types of a DPO-family objective as kernel terms with their weights (rpo_alpha adds sft). */
function dpoTerms(o: Partial<ObjectiveValues>): Partial<PairLossWeights> {
  const types: LossTypeId[] = [o.loss_type ?? []].flat().map((t) => lossTypeId(t));
  if (types.length === 0) throw new Error('loss_type is empty');
  const lw = o.loss_weights ?? types.map(() => 1);
  if (lw.length !== types.length) throw new Error(`loss_weights has ${lw.length} entries for ${types.length} loss types`);
  const on: Partial<PairLossWeights> = {};
  types.forEach((t, i) => {
    const term = t as PairTerm;
    on[term] = (on[term] ?? 0) + lw[i]!;
  });
  if (o.rpo_alpha !== null && o.rpo_alpha !== undefined) on.sft = (on.sft ?? 0) + o.rpo_alpha;
  return on;
}

/** Kernel parameters of a paired method (the DPO family, ORPO, SimPO, SFT). */
export function pairLossParams(cfg: MethodConfig): PairLossParams {
  const spec = METHODS[cfg.method];
  if (spec.shape !== 'pair') throw new Error(`${cfg.method} is not a paired method`);
  const o = objectiveOf(cfg);
  const beta = o.beta ?? methodDefault(cfg.method, 'beta');
  checkBeta(beta);
  const base = { beta, exoEpsilon: 1e-3, discopopTau: 0.05, simpoGamma: 0 };
  switch (spec.loss) {
    case 'dpo': {
      const on = dpoTerms(o);
      const eps = o.label_smoothing ?? 0;
      checkSmoothing(eps);
      if (on.robust && !(eps < 0.5)) throw new Error(`robust needs label_smoothing < 0.5, got ${eps}`);
      if (o.f_divergence_type !== undefined && !(F_DIVERGENCE_TYPES as readonly string[]).includes(o.f_divergence_type)) {
        throw new Error(`unknown f_divergence_type "${o.f_divergence_type}" (one of ${F_DIVERGENCE_TYPES.join(', ')})`);
      }
      if (o.ld_alpha !== null && o.ld_alpha !== undefined && !(o.ld_alpha >= 0 && o.ld_alpha <= 1)) throw new Error(`ld_alpha ${o.ld_alpha} must be in [0, 1]`);
      if (o.use_weighting && (on.aot || on.aot_unpaired)) {
        throw new Error('use_weighting is not implemented for aot / aot_unpaired (they sort the batch, which would misalign per-pair weights)');
      }
      return {
        ...base,
        weights: pairWeights(on),
        labelSmoothing: eps,
        exoEpsilon: eps > 0 ? eps : 1e-3,
        discopopTau: o.discopop_tau ?? base.discopopTau,
        // Plain SFT has no reference model, but its loss reads none: zeros are passed (rewards as DPO's).
        referenceFree: false,
        fDivergence: o.f_divergence_type ?? 'reverse_kl',
        fAlphaCoef: o.f_alpha_divergence_coef ?? 0.5,
        useWeighting: o.use_weighting ?? false,
      };
    }
    case 'orpo':
      return { ...base, weights: pairWeights({ orpo: 1, sft: 1 }), labelSmoothing: 0, referenceFree: true };
    case 'simpo': {
      const eps = o.label_smoothing ?? 0;
      checkSmoothing(eps);
      return { ...base, weights: pairWeights({ simpo: 1, sft: o.cpo_alpha ?? 0 }), labelSmoothing: eps, simpoGamma: o.simpo_gamma ?? 0.5, referenceFree: true };
    }
    default:
      throw new Error(`${cfg.method} is not a paired method`);
  }
}

export function ktoParams(cfg: MethodConfig): KtoParams {
  if (METHODS[cfg.method].loss !== 'kto') throw new Error(`${cfg.method} is not kto`);
  const o = objectiveOf(cfg);
  checkBeta(o.beta!);
  return { beta: o.beta!, desirableWeight: o.desirable_weight!, undesirableWeight: o.undesirable_weight! };
}

export function listwiseParams(cfg: MethodConfig): ListwiseParams {
  if (METHODS[cfg.method].loss !== 'listwise') throw new Error(`${cfg.method} is not listwise`);
  const o = objectiveOf(cfg);
  checkBeta(o.beta!);
  return { beta: o.beta! };
}

/**
 * TRL's KTO check of the training set's balance: desirable_weight·n_D / (undesirable_weight·n_U)
 * should lie in [1, 4/3]. Returns TRL's advice, or null when in range (or one class is absent).
 * KTO also needs batches of at least 2 records: its KL estimate rotates completions in a batch.
 */
export function ktoBalanceWarning(cfg: MethodConfig, nDesirable: number, nUndesirable: number): string | null {
  const p = ktoParams(cfg);
  if (nDesirable === 0 || nUndesirable === 0) return null;
  const ratio = (p.desirableWeight * nDesirable) / (p.undesirableWeight * nUndesirable);
  if (ratio >= 1 && ratio <= 4 / 3) return null;
  return (
    `desirable_weight · n_desirable / (undesirable_weight · n_undesirable) = ${ratio.toFixed(3)} lies outside ` +
    '[1, 4/3]; adjust desirable_weight or undesirable_weight'
  );
}
