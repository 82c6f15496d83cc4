// The preference objectives as a user picks them: method names, their options under TRL's
// names with TRL's defaults, and how each maps onto the loss kernels
// (kernels/preference-loss.ts, kernels/kto-loss.ts, kernels/listwise-loss.ts). Definitions:
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

import {
  F_DIVERGENCES,
  pairWeights,
  type FDivergence,
  type KtoParams,
  type ListwiseParams,
  type PairLossParams,
  type PairLossWeights,
  type PairTerm,
} from './terms.js';

/** TRL DPOConfig `loss_type` values, plus our `cdpo`. */
export const DPO_LOSS_TYPES = [
  'sigmoid',
  'hinge',
  'ipo',
  'robust',
  'exo_pair',
  'nca_pair',
  'bco_pair',
  'sppo_hard',
  'apo_zero',
  'apo_down',
  'discopop',
  'sigmoid_norm',
  'sft',
  'cdpo',
  'aot',
  'aot_unpaired',
  'aot_pair',
] as const;
export type DpoLossType = (typeof DPO_LOSS_TYPES)[number];

/** Older TRL names accepted for a loss type: aot_pair became aot_unpaired (TRL 1.x). */
export const DPO_LOSS_TYPE_ALIASES: Partial<Record<DpoLossType, PairTerm>> = { aot_pair: 'aot_unpaired' };

/** TRL DPOConfig options (names and defaults). */
export interface DpoOptions {
  beta: number;
  loss_type: DpoLossType | DpoLossType[];
  /** One weight per loss type; null = 1 each. */
  loss_weights: number[] | null;
  label_smoothing: number;
  discopop_tau: number;
  /** Adds `sft` with this weight (RPO); null = none. */
  rpo_alpha: number | null;
  /** f-DPO: reverse_kl (DPO), forward_kl, js_divergence, alpha_divergence. */
  f_divergence_type: FDivergence;
  /** α of alpha_divergence. */
  f_alpha_divergence_coef: number;
  /** WPO: weight each pair's loss by the policy's length-normalised sequence probabilities. */
  use_weighting: boolean;
  /**
   * LD-DPO: completion tokens past the shorter completion of the pair count with this weight in
   * policy and reference log-probs (SequencePair.tail); null = off; in [0, 1].
   */
  ld_alpha: number | null;
}

/** TRL ORPOConfig: beta is λ, the weight of the odds-ratio term. */
export interface OrpoOptions {
  beta: number;
}

/** TRL CPOConfig with loss_type "simpo". */
export interface SimpoOptions {
  beta: number;
  simpo_gamma: number;
  cpo_alpha: number;
  label_smoothing: number;
}

/** TRL KTOConfig (loss_type "kto"). */
export interface KtoOptions {
  beta: number;
  desirable_weight: number;
  undesirable_weight: number;
}

export interface ListwiseOptions {
  beta: number;
}

export const DPO_DEFAULTS: DpoOptions = {
  beta: 0.1,
  loss_type: ['sigmoid'],
  loss_weights: null,
  label_smoothing: 0,
  discopop_tau: 0.05,
  rpo_alpha: null,
  f_divergence_type: 'reverse_kl',
  f_alpha_divergence_coef: 0.5,
  use_weighting: false,
  ld_alpha: null,
};
export const ORPO_DEFAULTS: OrpoOptions = { beta: 0.1 };
export const SIMPO_DEFAULTS: SimpoOptions = { beta: 0.1, simpo_gamma: 0.5, cpo_alpha: 0, label_smoothing: 0 };
export const KTO_DEFAULTS: KtoOptions = { beta: 0.1, desirable_weight: 1, undesirable_weight: 1 };
export const LISTWISE_DEFAULTS: ListwiseOptions = { beta: 0.1 };

export type MethodConfig =
  /** DPO with any list of loss types (TRL DPOTrainer). */
  | { method: 'dpo'; options?: Partial<DpoOptions> }
  /** Conservative DPO: loss_type ["cdpo"], ε = label_smoothing. */
  | { method: 'cdpo'; options?: Partial<DpoOptions> }
  /** RPO: sigmoid + rpo_alpha · sft, rpo_alpha default 1 (the paper's). */
  | { method: 'rpo'; options?: Partial<DpoOptions> }
  /** Step-DPO: sigmoid on step-level log-probs. */
  | { method: 'step_dpo'; options?: Partial<DpoOptions> }
  | { method: 'orpo'; options?: Partial<OrpoOptions> }
  /** SimPO (cpo_alpha 0) and CPO-SimPO (cpo_alpha 1, TRL's CPOConfig default). */
  | { method: 'simpo'; options?: Partial<SimpoOptions> }
  | { method: 'cpo_simpo'; options?: Partial<SimpoOptions> }
  | { method: 'kto'; options?: Partial<KtoOptions> }
  | { method: 'listwise'; options?: Partial<ListwiseOptions> };

export type MethodName = MethodConfig['method'];
export const METHODS: readonly MethodName[] = ['dpo', 'cdpo', 'rpo', 'step_dpo', 'orpo', 'simpo', 'cpo_simpo', 'kto', 'listwise'];

/** Which kernel family runs a method. */
export type LossFamily = 'pair' | 'kto' | 'listwise';

export function lossFamily(method: MethodName): LossFamily {
  return method === 'kto' ? 'kto' : method === 'listwise' ? 'listwise' : 'pair';
}

/** Reference-free methods need no reference log-probs. */
export function isReferenceFree(method: MethodName): boolean {
  return method === 'orpo' || method === 'simpo' || method === 'cpo_simpo';
}

/** The method's options with defaults filled in (TRL's defaults, method-specific ones applied). */
export function dpoOptions(cfg: MethodConfig & { method: 'dpo' | 'cdpo' | 'rpo' | 'step_dpo' }): DpoOptions {
  const base: DpoOptions = { ...DPO_DEFAULTS };
  if (cfg.method === 'cdpo') base.loss_type = ['cdpo'];
  if (cfg.method === 'rpo') base.rpo_alpha = 1;
  const o = { ...base, ...cfg.options };
  if (cfg.method === 'step_dpo' && !sameTypes(o.loss_type, ['sigmoid'])) {
    throw new Error('step_dpo is the sigmoid loss on step-level log-probs; use dpo for other loss types');
  }
  return o;
}

function sameTypes(a: DpoLossType | DpoLossType[], b: DpoLossType[]): boolean {
  const x = Array.isArray(a) ? a : [a];
  return x.length === b.length && x.every((t, i) => t === b[i]);
}

function checkBeta(beta: number): void {
  if (!(beta > 0 && Number.isFinite(beta))) throw new Error(`beta ${beta} must be a positive number`);
}

/** Kernel parameters of a pair method (dpo, cdpo, rpo, step_dpo, orpo, simpo, cpo_simpo). */
export function pairLossParams(cfg: MethodConfig): PairLossParams {
  switch (cfg.method) {
    case 'dpo':
    case 'cdpo':
    case 'rpo':
    case 'step_dpo': {
      const o = dpoOptions(cfg);
      checkBeta(o.beta);
      const types = Array.isArray(o.loss_type) ? o.loss_type : [o.loss_type];
      if (types.length === 0) throw new Error('loss_type is empty');
      const lw = o.loss_weights ?? types.map(() => 1);
      if (lw.length !== types.length) {
        throw new Error(`loss_weights has ${lw.length} entries for ${types.length} loss types`);
      }
      const on: Partial<PairLossWeights> = {};
      types.forEach((t, i) => {
        if (!(DPO_LOSS_TYPES as readonly string[]).includes(t)) throw new Error(`unknown loss_type "${t}"`);
        const term = DPO_LOSS_TYPE_ALIASES[t] ?? (t as PairTerm);
        on[term] = (on[term] ?? 0) + lw[i]!;
      });
      if (o.rpo_alpha !== null) on.sft = (on.sft ?? 0) + o.rpo_alpha;
      const eps = o.label_smoothing;
      if (!(eps >= 0 && eps < 1)) throw new Error(`label_smoothing ${eps} must be in [0, 1)`);
      if (on.robust && !(eps < 0.5)) throw new Error(`robust needs label_smoothing < 0.5, got ${eps}`);
      if (!(F_DIVERGENCES as readonly string[]).includes(o.f_divergence_type)) {
        throw new Error(`unknown f_divergence_type "${o.f_divergence_type}"`);
      }
      if (!Number.isFinite(o.f_alpha_divergence_coef)) throw new Error(`f_alpha_divergence_coef ${o.f_alpha_divergence_coef} must be a number`);
      if (o.use_weighting && (on.aot || on.aot_unpaired)) {
        throw new Error('use_weighting is not implemented for aot / aot_unpaired (they sort the batch, which would misalign per-pair weights)');
      }
      if (o.ld_alpha !== null && !(o.ld_alpha >= 0 && o.ld_alpha <= 1)) throw new Error(`ld_alpha ${o.ld_alpha} must be in [0, 1]`);
      return {
        weights: pairWeights(on),
        beta: o.beta,
        labelSmoothing: eps,
        exoEpsilon: eps > 0 ? eps : 1e-3,
        discopopTau: o.discopop_tau,
        simpoGamma: 0,
        referenceFree: false,
        fDivergence: o.f_divergence_type,
        fAlphaCoef: o.f_alpha_divergence_coef,
        useWeighting: o.use_weighting,
      };
    }
    case 'orpo': {
      const o = { ...ORPO_DEFAULTS, ...cfg.options };
      checkBeta(o.beta);
      return {
        weights: pairWeights({ orpo: 1, sft: 1 }),
        beta: o.beta,
        labelSmoothing: 0,
        exoEpsilon: 1e-3,
        discopopTau: 0.05,
        simpoGamma: 0,
        referenceFree: true,
      };
    }
    case 'simpo':
    case 'cpo_simpo': {
      const o = simpoOptions(cfg);
      checkBeta(o.beta);
      if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) {
        throw new Error(`label_smoothing ${o.label_smoothing} must be in [0, 1)`);
      }
      return {
        weights: pairWeights({ simpo: 1, sft: o.cpo_alpha }),
        beta: o.beta,
        labelSmoothing: o.label_smoothing,
        exoEpsilon: 1e-3,
        discopopTau: 0.05,
        simpoGamma: o.simpo_gamma,
        referenceFree: true,
      };
    }
    default:
      throw new Error(`${cfg.method} is not a paired method`);
  }
}

export function simpoOptions(cfg: MethodConfig & { method: 'simpo' | 'cpo_simpo' }): SimpoOptions {
  const base = { ...SIMPO_DEFAULTS, cpo_alpha: cfg.method === 'cpo_simpo' ? 1 : 0 };
  return { ...base, ...cfg.options };
}

export function ktoParams(cfg: MethodConfig): KtoParams {
  if (cfg.method !== 'kto') throw new Error(`${cfg.method} is not kto`);
  const o = { ...KTO_DEFAULTS, ...cfg.options };
  checkBeta(o.beta);
  return { beta: o.beta, desirableWeight: o.desirable_weight, undesirableWeight: o.undesirable_weight };
}

export function listwiseParams(cfg: MethodConfig): ListwiseParams {
  if (cfg.method !== 'listwise') throw new Error(`${cfg.method} is not listwise`);
  const o = { ...LISTWISE_DEFAULTS, ...cfg.options };
  checkBeta(o.beta);
  return { beta: o.beta };
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
