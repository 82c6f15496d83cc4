// The methods a run can train with, once: name, one-sentence explanation, the data it takes, the
// objective settings that apply (with the method's own defaults and the values it pins), its
// family (reference or not; paired, unpaired or listwise), the loss module's method it runs and
// the TRL trainer and config it maps to. Every surface reads this table: the run configuration
// (training/config.ts), the CLI's --method and help, the Train page, the Export page, the TRL
// hand-off (export/trl.ts) and the adapter metadata. No other file lists methods.

import type { RecordKind } from '../../data/records.js';
import { LOSS_TYPES, type LossTypeId } from './loss-types.js';
import { SETTINGS, type ObjectiveSetting, type SettingValue } from './settings.js';

export const METHOD_IDS = ['dpo', 'ipo', 'cdpo', 'rpo', 'step_dpo', 'orpo', 'simpo', 'cpo_simpo', 'kto', 'listwise', 'sft'] as const;
export type MethodId = (typeof METHOD_IDS)[number];

/** The loss a method computes: DPO's loss types, ORPO's, SimPO's (CPO), KTO's, or listwise Plackett-Luce. */
export type LossFamily = 'dpo' | 'orpo' | 'simpo' | 'kto' | 'listwise';

/** The examples a method trains on (tokenize.ts makes them from records). */
export type ExampleShape = 'pair' | 'kto' | 'listwise';

export type ObjectiveValues = { [K in ObjectiveSetting]: SettingValue<K> };

/** The TRL trainer a method maps to, or why there is none. */
export type TrlTarget =
  | {
      trainer: 'DPOTrainer' | 'KTOTrainer' | 'CPOTrainer' | 'ORPOTrainer' | 'SFTTrainer';
      config: 'DPOConfig' | 'KTOConfig' | 'CPOConfig' | 'ORPOConfig' | 'SFTConfig';
      /** Python module that holds both (ORPO and CPO moved to trl.experimental in TRL 1.x). */
      module: 'trl' | 'trl.experimental.orpo' | 'trl.experimental.cpo';
      /** Arguments the mapping pins (CPO's loss_type "simpo"). */
      pinned?: Record<string, unknown>;
      /** Where TRL computes something else than we do. */
      note?: string;
    }
  | { trainer: null; why: string };

export interface MethodSpec {
  label: string;
  /** What it does, in one sentence. */
  summary: string;
  /** The data it trains on, in words. */
  needs: string;
  /** Record kinds it can use. */
  kinds: readonly RecordKind[];
  shape: ExampleShape;
  /** Needs reference log-probs (the model with the adapter off). */
  reference: boolean;
  /** The loss it computes (losses/methods.ts maps it onto the kernels). */
  loss: LossFamily;
  /** Objective settings a user may set, in display order. */
  options: readonly ObjectiveSetting[];
  /** Those of `options` the Train page shows in its basic view. */
  primary: readonly ObjectiveSetting[];
  /** The method's own defaults (others: the setting's). */
  defaults?: Partial<ObjectiveValues>;
  /** Values the method pins: not settable, passed to the loss module. */
  pinned?: Partial<ObjectiveValues>;
  trl: TrlTarget;
}

/** DPOConfig's objective settings. */
const DPO: readonly ObjectiveSetting[] = [
  'beta',
  'loss_type',
  'loss_weights',
  'label_smoothing',
  'discopop_tau',
  'rpo_alpha',
  'f_divergence_type',
  'f_alpha_divergence_coef',
  'use_weighting',
  'ld_alpha',
  'sync_ref_model',
  'ref_model_mixup_alpha',
  'ref_model_sync_steps',
];
/** DPOConfig's settings for a method whose loss types are pinned (those that read ε or τ are kept only if the pinned types read them). */
const pinnedDpo = (types: readonly LossTypeId[]): ObjectiveSetting[] =>
  DPO.filter((o) => o !== 'loss_type' && o !== 'loss_weights' && !((o === 'label_smoothing' || o === 'discopop_tau') && !types.some((t) => LOSS_TYPES[t].reads.includes(o))));

const DPO_TRAINER = { trainer: 'DPOTrainer', config: 'DPOConfig', module: 'trl' } as const;
const CPO_TRAINER = { trainer: 'CPOTrainer', config: 'CPOConfig', module: 'trl.experimental.cpo', pinned: { loss_type: 'simpo' } } as const;
const PAIRS = 'pairs (rankings give every pair of ranks)';

export const METHODS: Record<MethodId, MethodSpec> = {
  dpo: {
    label: 'DPO',
    summary: 'Raises the likelihood of the chosen response over the rejected one, relative to the untuned model; any of TRL\'s DPO loss types, alone or combined.',
    needs: PAIRS,
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: true,
    loss: 'dpo',
    options: DPO,
    primary: ['beta'],
    trl: DPO_TRAINER,
  },
  ipo: {
    label: 'IPO',
    summary: 'DPO with a squared loss that keeps the preference margin near 1/(2β) instead of pushing it without bound.',
    needs: PAIRS,
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: true,
    loss: 'dpo',
    options: pinnedDpo(['ipo']),
    primary: ['beta'],
    pinned: { loss_type: ['ipo'] },
    trl: DPO_TRAINER,
  },
  cdpo: {
    label: 'cDPO',
    summary: 'DPO that assumes a share of the labels (label smoothing ε) is flipped, for noisy preferences.',
    needs: PAIRS,
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: true,
    loss: 'dpo',
    options: pinnedDpo(['cdpo']),
    primary: ['beta', 'label_smoothing'],
    defaults: { label_smoothing: 0.1 },
    pinned: { loss_type: ['cdpo'] },
    trl: { ...DPO_TRAINER, note: 'cDPO is TRL <= 0.28\'s `sigmoid` with label_smoothing; TRL 1.x ignores label_smoothing there, so use trl<=0.28 for exactly this loss.' },
  },
  rpo: {
    label: 'RPO',
    summary: 'DPO plus a weighted SFT term on the chosen response, so the chosen text itself stays likely.',
    needs: PAIRS,
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: true,
    loss: 'dpo',
    options: DPO,
    primary: ['beta', 'rpo_alpha'],
    defaults: { rpo_alpha: 1 },
    trl: { ...DPO_TRAINER, note: 'RPO as TRL 1.x writes it: loss_type [..., "sft"] with loss weight rpo_alpha.' },
  },
  step_dpo: {
    label: 'Step-DPO',
    summary: 'DPO on the first wrong step of a reasoning chain against a correct one, with the accepted steps as context.',
    needs: 'step-wise records with both a correct and a wrong step (or pairs)',
    kinds: ['stepwise', 'pair'],
    shape: 'pair',
    reference: true,
    loss: 'dpo',
    options: pinnedDpo(['sigmoid']),
    primary: ['beta'],
    pinned: { loss_type: ['sigmoid'] },
    trl: { trainer: null, why: 'step_dpo has no TRL trainer (it is DPO on step-level log-probs, which TRL does not compute); export the data and train with method dpo, or stay in PrefStudio' },
  },
  orpo: {
    label: 'ORPO',
    summary: 'SFT on the chosen response plus an odds-ratio penalty on the rejected one (β is its weight λ); no reference model.',
    needs: PAIRS,
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: false,
    loss: 'orpo',
    options: ['beta'],
    primary: ['beta'],
    trl: { trainer: 'ORPOTrainer', config: 'ORPOConfig', module: 'trl.experimental.orpo', note: 'ORPO: PrefStudio takes the NLL over response tokens only; TRL\'s ORPOTrainer over prompt and response.' },
  },
  simpo: {
    label: 'SimPO',
    summary: 'Compares length-normalised log-probs of chosen and rejected with a target margin γ; no reference model.',
    needs: PAIRS,
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: false,
    loss: 'simpo',
    options: ['beta', 'simpo_gamma', 'cpo_alpha', 'label_smoothing'],
    primary: ['beta', 'simpo_gamma'],
    defaults: { cpo_alpha: 0 },
    trl: CPO_TRAINER,
  },
  cpo_simpo: {
    label: 'CPO-SimPO',
    summary: 'SimPO plus an SFT term on the chosen response (weight cpo_alpha).',
    needs: PAIRS,
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: false,
    loss: 'simpo',
    options: ['beta', 'simpo_gamma', 'cpo_alpha', 'label_smoothing'],
    primary: ['beta', 'simpo_gamma', 'cpo_alpha'],
    trl: CPO_TRAINER,
  },
  kto: {
    label: 'KTO',
    summary: 'Pushes good responses up and bad ones down one at a time against a reference point; no pairing needed.',
    needs: 'thumbs up/down records (a pair gives its chosen as good and its rejected as bad; a both-bad pair gives two bad)',
    kinds: ['unpaired', 'pair', 'ranking'],
    shape: 'kto',
    reference: true,
    loss: 'kto',
    options: ['beta', 'desirable_weight', 'undesirable_weight'],
    primary: ['beta', 'desirable_weight', 'undesirable_weight'],
    trl: { trainer: 'KTOTrainer', config: 'KTOConfig', module: 'trl' },
  },
  listwise: {
    label: 'Listwise',
    summary: 'Plackett-Luce over a whole ranking: the best response over all the others, then the next, and so on.',
    needs: 'rankings (pairs count as rankings of two)',
    kinds: ['ranking', 'pair'],
    shape: 'listwise',
    reference: true,
    loss: 'listwise',
    options: ['beta'],
    primary: ['beta'],
    trl: { trainer: null, why: 'listwise (Plackett-Luce) has no TRL trainer; train with method dpo (rankings export as every pair of ranks) or stay in PrefStudio' },
  },
  sft: {
    label: 'SFT',
    summary: 'Plain supervised fine-tuning on the chosen responses: the warm start a base model needs before preference tuning.',
    needs: 'pairs (it trains on the chosen side)',
    kinds: ['pair', 'ranking'],
    shape: 'pair',
    reference: false,
    loss: 'dpo',
    options: [],
    primary: [],
    pinned: { loss_type: ['sft'] },
    trl: { trainer: 'SFTTrainer', config: 'SFTConfig', module: 'trl', note: 'SFT trains on the chosen responses (prompt + completion rows, loss on the completion only).' },
  },
};

export function isMethodId(name: string): name is MethodId {
  return (METHOD_IDS as readonly string[]).includes(name);
}

export function methodSpec(id: MethodId): MethodSpec {
  return METHODS[id];
}

/** An objective setting's default under a method (the method's own, else the setting's). */
export function methodDefault<K extends ObjectiveSetting>(method: MethodId, option: K): ObjectiveValues[K] {
  const own = METHODS[method].defaults?.[option];
  return (own !== undefined ? own : SETTINGS[option].default) as ObjectiveValues[K];
}

/** The methods whose data kinds include `kind`. */
export function methodsFor(kind: RecordKind): MethodId[] {
  return METHOD_IDS.filter((m) => METHODS[m].kinds.includes(kind));
}
