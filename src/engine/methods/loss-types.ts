// The DPO loss types a run can combine (TRL DPOConfig `loss_type`, v1.9 names), one entry each:
// what it does in one sentence, which other objective settings it reads, and how TRL names it.
// Formulas: /work/shared/docs/preference-losses.md; kernels: src/engine/losses/terms.ts and the
// pair loss WGSL. `cdpo` is ours (TRL <= 0.28 applied it inside `sigmoid`; see its note).

export const LOSS_TYPE_IDS = [
  'sigmoid',
  'hinge',
  'ipo',
  'robust',
  'exo_pair',
  'nca_pair',
  'bco_pair',
  'sppo_hard',
  'aot',
  'aot_unpaired',
  'apo_zero',
  'apo_down',
  'discopop',
  'sigmoid_norm',
  'sft',
  'cdpo',
] as const;
export type LossTypeId = (typeof LOSS_TYPE_IDS)[number];

export interface LossTypeSpec {
  label: string;
  summary: string;
  /** Objective settings this loss type reads besides beta. */
  reads: readonly ('label_smoothing' | 'discopop_tau')[];
  /** Its name in TRL 1.9's DPOConfig, or null when TRL has no such loss type. */
  trl: string | null;
  /** Older names that mean the same loss type (accepted, saved under the id). */
  aliases?: readonly string[];
  /** Sorts over the micro-batch before pairing: a pair's loss depends on the whole batch. */
  sortsBatch?: boolean;
}

export const LOSS_TYPES: Record<LossTypeId, LossTypeSpec> = {
  sigmoid: { label: 'sigmoid (DPO)', summary: 'The DPO loss: -log σ(β·Δ) of the log-ratio margin.', reads: [], trl: 'sigmoid' },
  hinge: { label: 'hinge (SLiC)', summary: 'A hinge on the margin: relu(1 - β·Δ).', reads: [], trl: 'hinge' },
  ipo: { label: 'IPO', summary: 'Squared distance of the length-normalised margin from 1/(2β).', reads: [], trl: 'ipo' },
  robust: { label: 'robust (rDPO)', summary: 'DPO unbiased for labels flipped with probability label_smoothing (< 0.5).', reads: ['label_smoothing'], trl: 'robust' },
  exo_pair: { label: 'EXO', summary: 'Reverse-KL preference matching; label_smoothing is its ε (1e-3 when 0).', reads: ['label_smoothing'], trl: 'exo_pair' },
  nca_pair: { label: 'NCA', summary: 'Noise-contrastive alignment: rewards each response against the reference, not only the pair.', reads: [], trl: 'nca_pair' },
  bco_pair: { label: 'BCO', summary: 'Binary classification of chosen (up) and rejected (down) rewards.', reads: [], trl: 'bco_pair' },
  sppo_hard: { label: 'SPPO (hard)', summary: 'Self-play preference optimisation: chosen log-ratio to 1/(2β), rejected to -1/(2β).', reads: [], trl: 'sppo_hard' },
  aot: { label: 'AOT', summary: 'Alignment via optimal transport: sorted policy margins against sorted reference margins.', reads: ['label_smoothing'], trl: 'aot', sortsBatch: true },
  aot_unpaired: {
    label: 'AOT (unpaired)',
    summary: 'Optimal transport of sorted chosen log-ratios against sorted rejected log-ratios, for unpaired data.',
    reads: ['label_smoothing'],
    trl: 'aot_unpaired',
    aliases: ['aot_pair'],
    sortsBatch: true,
  },
  apo_zero: { label: 'APO-zero', summary: 'Anchored: raise chosen and lower rejected likelihood (chosen better than the model).', reads: [], trl: 'apo_zero' },
  apo_down: { label: 'APO-down', summary: 'Anchored: lower both, rejected more (chosen worse than the model).', reads: [], trl: 'apo_down' },
  discopop: { label: 'DiscoPOP', summary: 'A blend of logistic and exponential losses modulated by the margin (τ = discopop_tau).', reads: ['discopop_tau'], trl: 'discopop' },
  sigmoid_norm: { label: 'sigmoid (length-normalised)', summary: 'DPO on per-token average log-ratios.', reads: [], trl: 'sigmoid_norm' },
  sft: { label: 'SFT', summary: 'Mean negative log-likelihood of the chosen completion tokens.', reads: [], trl: 'sft' },
  cdpo: {
    label: 'cDPO',
    summary: 'Conservative DPO: the sigmoid loss with labels smoothed by label_smoothing.',
    reads: ['label_smoothing'],
    trl: null,
  },
};

/** Every accepted spelling of a loss type (ids, then aliases). */
export const LOSS_TYPE_NAMES: readonly string[] = [...LOSS_TYPE_IDS, ...LOSS_TYPE_IDS.flatMap((id) => LOSS_TYPES[id].aliases ?? [])];

/** The loss type an accepted name means; throws on an unknown one. */
export function lossTypeId(name: string): LossTypeId {
  if ((LOSS_TYPE_IDS as readonly string[]).includes(name)) return name as LossTypeId;
  const id = LOSS_TYPE_IDS.find((t) => LOSS_TYPES[t].aliases?.includes(name));
  if (!id) throw new Error(`unknown loss_type "${name}" (one of ${LOSS_TYPE_IDS.join(', ')})`);
  return id;
}

/** TRL DPOConfig `f_divergence_type` values (the f-DPO regularisers). */
export const F_DIVERGENCE_TYPES = ['reverse_kl', 'forward_kl', 'js_divergence', 'alpha_divergence'] as const;
export type FDivergenceType = (typeof F_DIVERGENCE_TYPES)[number];
