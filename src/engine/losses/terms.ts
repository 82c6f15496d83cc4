// The loss kernels' vocabulary, in one place: which terms a pair loss combines, the parameters
// each kernel family takes, and the slots of the `stats` each writes. The WGSL, its host side
// (src/engine/kernels/*-loss.ts), the CPU twins (src/engine/cpu/*-loss.ts) and the method
// mapping (methods.ts) all read these; nothing here computes a loss.
//
// Pair loss uniforms follow a naming rule: term `t` of PAIR_TERMS has the f32 field `w_<t>` in
// the WGSL `struct Params` (shaders/lib/pair_loss_params.wgsl), its weight. The host builds those
// fields from PAIR_TERMS, and the engine refuses a uniform the struct lacks and a field not
// given, so a term added here without its WGSL (or the reverse) fails at the first dispatch.

import { F_DIVERGENCE_TYPES as F_DIVERGENCES, LOSS_TYPE_IDS, type FDivergenceType as FDivergence } from '../methods/loss-types.js';

/** The metrics every DPO-family trainer of TRL logs, in the order the pair and listwise kernels write them. */
export const DPO_METRICS = [
  'loss',
  'rewards/chosen',
  'rewards/rejected',
  'rewards/accuracies',
  'rewards/margins',
  'logps/chosen',
  'logps/rejected',
] as const;

// ---- paired preference losses (preference_loss_{forward,backward}.wgsl) ----

/**
 * The loss terms a pair loss can combine: the DPO loss types of the method registry (TRL 1.9
 * `loss_type` names, plus cdpo), and the SimPO and ORPO losses. aot and aot_unpaired sort over
 * the batch.
 */
export const PAIR_TERMS = [...LOSS_TYPE_IDS, 'simpo', 'orpo'] as const;
export type PairTerm = (typeof PAIR_TERMS)[number];
export type PairLossWeights = Record<PairTerm, number>;

/** The batch-sorting terms: their loss at sorted position k depends on the whole batch. */
export const AOT_TERMS = ['aot', 'aot_unpaired'] as const satisfies readonly PairTerm[];

/** Every term off; set the ones a method uses. */
export function pairWeights(on: Partial<PairLossWeights> = {}): PairLossWeights {
  const w = Object.fromEntries(PAIR_TERMS.map((t) => [t, 0])) as PairLossWeights;
  return Object.assign(w, on);
}

/** The uniform field of term t's weight in the pair-loss WGSL `struct Params`. */
export function weightField(t: PairTerm): string {
  return `w_${t}`;
}

/**
 * TRL's `f_divergence_type`: the score that replaces each log-ratio lr in the Δ-based terms
 * (f-DPO). reverse_kl: lr (DPO); forward_kl: -exp(-lr); js_divergence: lsig(lr);
 * alpha_divergence: exp(min((α-1)·lr, 80)) / (α-1), or lr when |α-1| < 1e-6. The index is the
 * WGSL's `fdiv` code.
 */
export { F_DIVERGENCES, type FDivergence };

/** TRL clamps (α-1)·lr at 80 for float32 before exp (the clamp passes no gradient). */
export const ALPHA_DIVERGENCE_MAX_EXPONENT = 80;

/**
 * aot and aot_unpaired sort the batch in one workgroup with the values in workgroup memory:
 * at most this many pairs (AOT_MAX_PAIRS in shaders/lib/pair_loss_batch.wgsl).
 */
export const AOT_MAX_PAIRS = 1024;

export interface PairLossParams {
  /** Weight of each term in the per-pair loss; 0 switches a term off. */
  weights: PairLossWeights;
  /** β (`beta`); for ORPO it is λ, the weight of the odds-ratio term. */
  beta: number;
  /** ε (`label_smoothing`) of robust, cdpo, simpo, aot and aot_unpaired; robust needs 0 <= ε < 0.5. */
  labelSmoothing: number;
  /** ε of exo_pair, > 0 (TRL's label_smoothing, 1e-3 when that is 0). */
  exoEpsilon: number;
  /** τ of discopop (`discopop_tau`). */
  discopopTau: number;
  /** γ of simpo (`simpo_gamma`). */
  simpoGamma: number;
  /**
   * Reference-free (ORPO, SimPO): no reference log-probs (taken as 0), and the rewards and
   * logps metrics are β·avg logp and avg logp, as TRL's ORPO and CPO trainers report them.
   */
  referenceFree: boolean;
  /** `f_divergence_type` (default reverse_kl, plain DPO). */
  fDivergence?: FDivergence;
  /** `f_alpha_divergence_coef` (default 0.5), for alpha_divergence. */
  fAlphaCoef?: number;
  /**
   * `use_weighting` (WPO, default false): every pair's loss, sft included, times the pair's
   * weight exp(mean aligned logp chosen)·exp(mean aligned logp rejected), a per-pair input
   * tensor computed without gradient. Not with aot / aot_unpaired (TRL raises).
   */
  useWeighting?: boolean;
}

/** The WGSL `fdiv` code of p: the index in F_DIVERGENCES, alpha at α = 1 as reverse_kl (TRL). */
export function fDivergenceCode(p: PairLossParams): number {
  const kind = p.fDivergence ?? 'reverse_kl';
  const code = F_DIVERGENCES.indexOf(kind);
  if (code < 0) throw new Error(`unknown f_divergence_type "${String(kind)}"`);
  if (kind === 'alpha_divergence' && Math.abs(fAlphaCoef(p) - 1) < 1e-6) return 0;
  return code;
}

export function fAlphaCoef(p: PairLossParams): number {
  return p.fAlphaCoef ?? 0.5;
}

/** True when term aot or aot_unpaired is on. */
export function usesAot(p: PairLossParams): boolean {
  return AOT_TERMS.some((t) => p.weights[t] !== 0);
}

/** Slots of the `stats` output (the WGSL writes the same order). */
export const PAIR_STATS = [...DPO_METRICS, 'nll_loss', 'log_odds_ratio', 'log_odds_chosen'] as const;
export const PAIR_NSTATS = PAIR_STATS.length;

/**
 * ORPO's odds need log(1 - p) with p = exp(avg logp): an average of exactly 0 (every token at
 * probability 1, which f32 log-softmax can return) would give log 0. ORPO clamps the average to
 * at most this (TRL has no clamp and returns inf/NaN there); the clamp passes no gradient.
 * ORPO_MAX_AVG_LOGP in shaders/lib/pair_loss.wgsl is the same number.
 */
export const ORPO_MAX_AVG_LOGP = -1e-6;

// ---- KTO (kto_loss_{forward,backward}.wgsl) ----

export interface KtoParams {
  beta: number;
  /** `desirable_weight` (TRL default 1). */
  desirableWeight: number;
  /** `undesirable_weight` (TRL default 1). */
  undesirableWeight: number;
}

/** Slots of the KTO `stats` output (the WGSL writes the same order). */
export const KTO_STATS = [
  'loss',
  'kl',
  'rewards/chosen_sum',
  'rewards/rejected_sum',
  'logps/chosen_sum',
  'logps/rejected_sum',
  'count/chosen',
  'count/rejected',
] as const;
export const KTO_NSTATS = KTO_STATS.length;

// ---- listwise Plackett-Luce (listwise_loss_{forward,backward}.wgsl) ----

export interface ListwiseParams {
  beta: number;
}

/** Slots of the listwise `stats` output (the WGSL writes the same order): DPO's metrics. */
export const LISTWISE_STATS = DPO_METRICS;
export const LISTWISE_NSTATS = LISTWISE_STATS.length;
