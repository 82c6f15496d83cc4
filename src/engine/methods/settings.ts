// Every setting of a training run, once: its name (TRL's DPOConfig/KTOConfig/CPOConfig/
// ORPOConfig, transformers' TrainingArguments, PEFT's LoraConfig; `lora.*` for LoraConfig
// fields), its type and range (a zod schema), its default, a one-line help, its CLI flag, its
// group and view on the Train page. The run configuration's schema (training/config.ts), the CLI
// flags and help (cli/train.ts), the Train page's fields (stores/train-form.ts) and the TRL
// hand-off all read this table; none of them lists a setting, a range or a default of its own.
//
// Objective settings (group 'objective') apply only to the methods that list them (registry.ts),
// and a method may override one's default (cpo_alpha is 0 for SimPO, rpo_alpha 1 for RPO, ...).
//
// Defaults are TRL's, transformers' and PEFT's, except where a LoRA run in a browser wants
// another one, each said in its help: learning_rate, lora_alpha, save_steps, memory_budget_bytes
// (none by default: the GPU adapter's, gpu/budget.ts), gradient_checkpointing (automatic by
// default: on when the run fits only with it, training/memory.ts).

import { z } from 'zod';
import { F_DIVERGENCE_TYPES, LOSS_TYPE_IDS, LOSS_TYPE_NAMES, lossTypeId } from './loss-types.js';

/** How a value is written as text (a CLI flag's value, a form field). */
export type SettingInput =
  | 'number' // a number
  | 'int' // a whole number
  | 'optional-number' // a number, or empty/none for null
  | 'optional-int' // a whole number, or empty/none for null
  | 'switch' // on/off
  | 'optional-switch' // on/off, or auto/none for null (the CLI: --flag and --no-flag)
  | 'choice' // one of `choices`
  | 'choices' // a comma-separated list of `choices`
  | 'numbers' // a comma-separated list of numbers, or empty for null
  | 'text' // any text
  | 'targets' // a comma-separated list of module names, or all-linear
  | 'bytes' // a size like 4GiB
  | 'optional-bytes'; // a size like 4GiB, or empty/none/auto for null

export type SettingGroup = 'objective' | 'optimisation' | 'schedule' | 'length' | 'checkpoints' | 'lora' | 'memory';

export const SETTING_GROUPS: Record<SettingGroup, string> = {
  objective: 'Objective',
  optimisation: 'Optimisation',
  schedule: 'Learning-rate schedule',
  length: 'Lengths and truncation',
  checkpoints: 'Evaluation and checkpoints',
  lora: 'LoRA',
  memory: 'Memory',
};

/** Where a setting comes from (its name is that class's field name). */
export type SettingSource = 'DPOConfig' | 'KTOConfig' | 'CPOConfig' | 'TrainingArguments' | 'LoraConfig' | 'PRMConfig' | 'PrefStudio';

export interface SettingSpec<Z extends z.ZodType = z.ZodType> {
  /** Type and range of the value (without its default). */
  schema: Z;
  /** The default: TRL's, transformers' or PEFT's unless the help says otherwise. A method may
   *  override an objective setting's default (registry.ts). */
  default: z.output<Z>;
  /** Short label for a form. */
  label: string;
  /** One line: what it does (and where our default differs from TRL's, why). */
  help: string;
  flag: string;
  input: SettingInput;
  /** Values of a choice setting. */
  choices?: readonly string[];
  group: SettingGroup;
  view: 'basic' | 'advanced';
  source: SettingSource;
}

/** Keeps each entry's schema type and group literal (ObjectiveSetting below reads the group). */
function setting<Z extends z.ZodType, G extends SettingGroup>(s: SettingSpec<Z> & { group: G }): SettingSpec<Z> & { group: G } {
  return s;
}

/**
 * PEFT's names of the linear layers the studio's architectures have (Llama, Qwen2/3, Mistral,
 * Gemma 2/3, OLMo 2; Phi-3's packed qkv_proj and gate_up_proj; GPT-2's Conv1D).
 */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'qkv_proj', 'gate_up_proj', 'c_attn', 'c_proj', 'c_fc'] as const;

export const SCHEDULER_TYPES = ['linear', 'cosine', 'constant', 'constant_with_warmup'] as const;
export type SchedulerType = (typeof SCHEDULER_TYPES)[number];

export const TRUNCATION_MODES = ['keep_start', 'keep_end'] as const;
export type TruncationMode = (typeof TRUNCATION_MODES)[number];

const positiveInt = z.number().int().positive();
/** A loss type by any accepted name, saved under its id. */
const lossTypeName = z.string().refine((s) => LOSS_TYPE_NAMES.includes(s), { message: `expected one of ${LOSS_TYPE_IDS.join(', ')}` }).transform(lossTypeId);

export const SETTINGS = {
  // ---- objective (which apply, and their method defaults: registry.ts) ----
  beta: setting({
    schema: z.number().positive(),
    default: 0.1,
    label: 'β (beta)',
    help: 'How far the tuned model may move from the reference (higher: closer). IPO: τ; ORPO: λ; SimPO: the reward scale (its paper uses 2-2.5).',
    flag: '--beta',
    input: 'number',
    group: 'objective',
    view: 'basic',
    source: 'DPOConfig',
  }),
  loss_type: setting({
    // TRL takes one name or a list and keeps a list (DPOConfig.__post_init__); so do we.
    schema: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(lossTypeName).min(1)),
    default: ['sigmoid'],
    label: 'Loss types',
    help: 'The DPO losses to combine, with loss_weights (MPO: sigmoid, bco_pair, sft).',
    flag: '--loss-type',
    input: 'choices',
    choices: LOSS_TYPE_IDS,
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  loss_weights: setting({
    schema: z.array(z.number().nonnegative()).min(1).nullable(),
    default: null,
    label: 'Loss weights',
    help: 'One weight per loss type (empty: 1 each).',
    flag: '--loss-weights',
    input: 'numbers',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  label_smoothing: setting({
    schema: z.number().min(0).lt(1),
    default: 0,
    label: 'Label smoothing (ε)',
    help: 'Probability that a label is flipped: cDPO and robust (< 0.5) use it, EXO as its ε, AOT and SimPO smooth with it.',
    flag: '--label-smoothing',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  rpo_alpha: setting({
    schema: z.number().nonnegative().nullable(),
    default: null,
    label: 'RPO α (rpo_alpha)',
    help: 'Weight of an added SFT term on the chosen response (RPO); empty: none.',
    flag: '--rpo-alpha',
    input: 'optional-number',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  discopop_tau: setting({
    schema: z.number().positive(),
    default: 0.05,
    label: 'DiscoPOP τ',
    help: 'Temperature of the discopop loss (its paper: 0.05).',
    flag: '--discopop-tau',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  f_divergence_type: setting({
    schema: z.enum(F_DIVERGENCE_TYPES),
    default: 'reverse_kl',
    label: 'f-divergence',
    help: 'The divergence that keeps the model near the reference (f-DPO): reverse_kl is DPO\'s; forward_kl, js_divergence, alpha_divergence.',
    flag: '--f-divergence-type',
    input: 'choice',
    choices: F_DIVERGENCE_TYPES,
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  f_alpha_divergence_coef: setting({
    schema: z.number().refine(Number.isFinite, { message: 'must be a finite number' }),
    default: 0.5,
    label: 'α of the α-divergence',
    help: 'α of alpha_divergence (1 is reverse KL, 0 forward KL).',
    flag: '--f-alpha-divergence-coef',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  use_weighting: setting({
    schema: z.boolean(),
    default: false,
    label: 'WPO weighting',
    help: 'Weight each pair by the policy\'s length-normalised probability of both responses (WPO: on-policy-like pairs count more).',
    flag: '--use-weighting',
    input: 'switch',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  ld_alpha: setting({
    schema: z.number().min(0).max(1).nullable(),
    default: null,
    label: 'LD-DPO α (ld_alpha)',
    help: 'Weight of the tokens past the shorter response\'s length (LD-DPO: less reward for verbosity); empty: off, 1: plain DPO.',
    flag: '--ld-alpha',
    input: 'optional-number',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  sync_ref_model: setting({
    schema: z.boolean(),
    default: false,
    label: 'Sync the reference (TR-DPO)',
    help: 'Move the reference toward the policy during the run (TR-DPO): every ref_model_sync_steps steps, reference = α·policy + (1 - α)·reference, on the adapter\'s weight update (an exact sum of LoRA terms).',
    flag: '--sync-ref-model',
    input: 'switch',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  ref_model_mixup_alpha: setting({
    schema: z.number().min(0).max(1),
    default: 0.6,
    label: 'TR-DPO α (ref_model_mixup_alpha)',
    help: 'How much of the policy goes into the reference at each sync (TR-DPO\'s α); needs sync_ref_model.',
    flag: '--ref-model-mixup-alpha',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  ref_model_sync_steps: setting({
    schema: positiveInt,
    default: 512,
    label: 'TR-DPO τ (ref_model_sync_steps)',
    help: 'Optimizer steps between two syncs of the reference (TR-DPO\'s τ); needs sync_ref_model.',
    flag: '--ref-model-sync-steps',
    input: 'int',
    group: 'objective',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  simpo_gamma: setting({
    schema: z.number(),
    default: 0.5,
    label: 'SimPO γ (simpo_gamma)',
    help: 'Target reward margin of SimPO.',
    flag: '--simpo-gamma',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'CPOConfig',
  }),
  cpo_alpha: setting({
    schema: z.number().nonnegative(),
    default: 1,
    label: 'CPO α (cpo_alpha)',
    help: 'Weight of the NLL term on the chosen response (0: plain SimPO).',
    flag: '--cpo-alpha',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'CPOConfig',
  }),
  desirable_weight: setting({
    schema: z.number().positive(),
    default: 1,
    label: 'Desirable weight',
    help: 'KTO weight of good examples; TRL wants weight·count balanced between the classes (ratio in [1, 4/3]).',
    flag: '--desirable-weight',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'KTOConfig',
  }),
  undesirable_weight: setting({
    schema: z.number().positive(),
    default: 1,
    label: 'Undesirable weight',
    help: 'KTO weight of bad examples.',
    flag: '--undesirable-weight',
    input: 'number',
    group: 'objective',
    view: 'advanced',
    source: 'KTOConfig',
  }),

  // ---- optimisation (transformers TrainingArguments) ----
  learning_rate: setting({
    schema: z.number().positive(),
    default: 5e-4,
    label: 'Learning rate',
    help: 'Peak learning rate of AdamW. TRL\'s default 1e-6 is for full fine-tuning; LoRA on a small model wants about 1e-4 to 1e-3.',
    flag: '--lr',
    input: 'number',
    group: 'optimisation',
    view: 'basic',
    source: 'TrainingArguments',
  }),
  max_steps: setting({
    schema: z.number().int().min(-1).refine((n) => n !== 0, { message: 'must be -1 (use num_train_epochs) or a positive number of steps' }),
    default: -1,
    label: 'Steps',
    help: 'Optimizer steps; -1: train for num_train_epochs.',
    flag: '--steps',
    input: 'int',
    group: 'optimisation',
    view: 'basic',
    source: 'TrainingArguments',
  }),
  num_train_epochs: setting({
    schema: z.number().positive(),
    default: 3,
    label: 'Epochs',
    help: 'Passes over the training records (when steps is -1).',
    flag: '--epochs',
    input: 'number',
    group: 'optimisation',
    view: 'basic',
    source: 'TrainingArguments',
  }),
  per_device_train_batch_size: setting({
    schema: positiveInt,
    default: 8,
    label: 'Batch size',
    help: 'Examples per micro-batch.',
    flag: '--batch-size',
    input: 'int',
    group: 'optimisation',
    view: 'basic',
    source: 'TrainingArguments',
  }),
  gradient_accumulation_steps: setting({
    schema: positiveInt,
    default: 1,
    label: 'Gradient accumulation',
    help: 'Micro-batches per optimizer step (the effective batch is batch size × this).',
    flag: '--grad-accum',
    input: 'int',
    group: 'optimisation',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  weight_decay: setting({
    schema: z.number().nonnegative(),
    default: 0,
    label: 'Weight decay',
    help: 'AdamW\'s decoupled weight decay.',
    flag: '--weight-decay',
    input: 'number',
    group: 'optimisation',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  max_grad_norm: setting({
    schema: z.number().nonnegative().nullable(),
    default: 1.0,
    label: 'Max gradient norm',
    help: 'Clip the global gradient norm to this; 0 or empty: no clipping (the norm is still logged).',
    flag: '--max-grad-norm',
    input: 'optional-number',
    group: 'optimisation',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  adam_beta1: setting({
    schema: z.number().min(0).lt(1),
    default: 0.9,
    label: 'Adam β1',
    help: 'Decay of AdamW\'s first moment.',
    flag: '--adam-beta1',
    input: 'number',
    group: 'optimisation',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  adam_beta2: setting({
    schema: z.number().min(0).lt(1),
    default: 0.999,
    label: 'Adam β2',
    help: 'Decay of AdamW\'s second moment.',
    flag: '--adam-beta2',
    input: 'number',
    group: 'optimisation',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  adam_epsilon: setting({
    schema: z.number().positive(),
    default: 1e-8,
    label: 'Adam ε',
    help: 'AdamW\'s denominator term.',
    flag: '--adam-epsilon',
    input: 'number',
    group: 'optimisation',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  seed: setting({
    schema: z.number().int().nonnegative(),
    default: 42,
    label: 'Seed',
    help: 'Data order, LoRA initialisation and dropout.',
    flag: '--seed',
    input: 'int',
    group: 'optimisation',
    view: 'advanced',
    source: 'TrainingArguments',
  }),

  // ---- schedule ----
  lr_scheduler_type: setting({
    schema: z.enum(SCHEDULER_TYPES),
    default: 'linear',
    label: 'Scheduler',
    help: 'How the learning rate moves after warm-up.',
    flag: '--scheduler',
    input: 'choice',
    choices: SCHEDULER_TYPES,
    group: 'schedule',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  warmup_ratio: setting({
    schema: z.number().min(0).max(1),
    default: 0,
    label: 'Warm-up ratio',
    help: 'Share of the steps with a rising learning rate (warmup_steps wins when set).',
    flag: '--warmup-ratio',
    input: 'number',
    group: 'schedule',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  warmup_steps: setting({
    schema: z.number().int().nonnegative(),
    default: 0,
    label: 'Warm-up steps',
    help: 'Steps with a rising learning rate.',
    flag: '--warmup-steps',
    input: 'int',
    group: 'schedule',
    view: 'advanced',
    source: 'TrainingArguments',
  }),

  // ---- length (TRL 1.x: max_length over prompt + completion) ----
  max_length: setting({
    schema: positiveInt.nullable(),
    default: 1024,
    label: 'Max length (tokens)',
    help: 'Prompt + completion tokens per sequence; longer ones are truncated (empty: no limit).',
    flag: '--max-length',
    input: 'optional-int',
    group: 'length',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  max_prompt_length: setting({
    schema: positiveInt.nullable(),
    default: null,
    label: 'Max prompt length',
    help: 'Truncate prompts first to this many tokens (TRL 0.x; empty: off).',
    flag: '--max-prompt-length',
    input: 'optional-int',
    group: 'length',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  max_completion_length: setting({
    schema: positiveInt.nullable(),
    default: null,
    label: 'Max completion length',
    help: 'Truncate completions first to this many tokens (TRL 0.x; empty: off).',
    flag: '--max-completion-length',
    input: 'optional-int',
    group: 'length',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  truncation_mode: setting({
    schema: z.enum(TRUNCATION_MODES),
    default: 'keep_start',
    label: 'Truncation',
    help: 'Keep the start (TRL 1.x) or the end of a sequence past max_length.',
    flag: '--truncation-mode',
    input: 'choice',
    choices: TRUNCATION_MODES,
    group: 'length',
    view: 'advanced',
    source: 'DPOConfig',
  }),
  step_separator: setting({
    schema: z.string(),
    default: '\n',
    label: 'Step separator',
    help: 'Joins the prompt and the steps of step-wise records.',
    flag: '--step-separator',
    input: 'text',
    group: 'length',
    view: 'advanced',
    source: 'PRMConfig',
  }),

  // ---- evaluation and checkpoints ----
  per_device_eval_batch_size: setting({
    schema: positiveInt,
    default: 8,
    label: 'Eval batch size',
    help: 'Examples per batch for evaluation and reference log-probs (forward only).',
    flag: '--eval-batch-size',
    input: 'int',
    group: 'checkpoints',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  eval_steps: setting({
    schema: positiveInt.nullable(),
    default: null,
    label: 'Evaluate every (steps)',
    help: 'Evaluate on the test split every this many steps (empty: at the end only).',
    flag: '--eval-steps',
    input: 'optional-int',
    group: 'checkpoints',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  save_steps: setting({
    schema: positiveInt,
    default: 50,
    label: 'Checkpoint every (steps)',
    help: 'Checkpoint every this many steps and when the run stops (transformers: 500; a LoRA checkpoint here is small, and a reload resumes from it).',
    flag: '--save-steps',
    input: 'int',
    group: 'checkpoints',
    view: 'advanced',
    source: 'TrainingArguments',
  }),

  // ---- LoRA (PEFT LoraConfig) ----
  'lora.r': setting({
    schema: positiveInt,
    default: 8,
    label: 'LoRA rank r',
    help: 'Rank of the adapter\'s matrices.',
    flag: '--lora-r',
    input: 'int',
    group: 'lora',
    view: 'basic',
    source: 'LoraConfig',
  }),
  'lora.lora_alpha': setting({
    schema: z.number().positive(),
    default: 16,
    label: 'LoRA alpha',
    help: 'The update is scaled by alpha / r (alpha / √r with rsLoRA). PEFT\'s default is 8; 2·r is the common choice.',
    flag: '--lora-alpha',
    input: 'number',
    group: 'lora',
    view: 'basic',
    source: 'LoraConfig',
  }),
  'lora.target_modules': setting({
    schema: z.union([z.literal('all-linear'), z.array(z.string().min(1)).min(1)]),
    default: ['q_proj', 'v_proj'],
    label: 'Target modules',
    help: 'Linear layers that get an adapter, by PEFT name (q_proj, v_proj, …), or all-linear (every one but the LM head).',
    flag: '--targets',
    input: 'targets',
    choices: LORA_TARGETS,
    group: 'lora',
    view: 'basic',
    source: 'LoraConfig',
  }),
  'lora.lora_dropout': setting({
    schema: z.number().min(0).lt(1),
    default: 0,
    label: 'LoRA dropout',
    help: 'Dropout on the adapter\'s input during training.',
    flag: '--lora-dropout',
    input: 'number',
    group: 'lora',
    view: 'advanced',
    source: 'LoraConfig',
  }),
  'lora.use_rslora': setting({
    schema: z.boolean(),
    default: false,
    label: 'rsLoRA',
    help: 'Scale by alpha / √r instead of alpha / r (rank-stabilised LoRA).',
    flag: '--rslora',
    input: 'switch',
    group: 'lora',
    view: 'advanced',
    source: 'LoraConfig',
  }),

  // ---- memory ----
  gradient_checkpointing: setting({
    // null: automatic (training/memory.ts resolveTrainingMemory decides from the run's estimate).
    schema: z.boolean().nullable(),
    default: null,
    label: 'Gradient checkpointing',
    help: 'Keep only each layer\'s input in the forward and recompute the rest in the backward: much less activation memory for about one more forward pass. Automatic (the default, unlike transformers\' off): on only when the run does not fit the memory budget without it and does with it.',
    flag: '--gradient-checkpointing',
    input: 'optional-switch',
    group: 'memory',
    view: 'advanced',
    source: 'TrainingArguments',
  }),
  memory_budget_bytes: setting({
    schema: positiveInt.nullable(),
    default: null,
    label: 'GPU memory budget',
    help: 'GPU memory the run may use; none: from what the GPU adapter allows (WebGPU cannot say how much memory the device has; gpu/budget.ts).',
    flag: '--memory-budget',
    input: 'optional-bytes',
    group: 'memory',
    view: 'advanced',
    source: 'PrefStudio',
  }),
} as const;

export type SettingPath = keyof typeof SETTINGS;
export const SETTING_PATHS = Object.keys(SETTINGS) as SettingPath[];

/** Objective settings: they apply to some methods only, and a method may set its own default. */
export type ObjectiveSetting = {
  [K in SettingPath]: (typeof SETTINGS)[K]['group'] extends 'objective' ? K : never;
}[SettingPath];
export const OBJECTIVE_SETTINGS = SETTING_PATHS.filter((p) => SETTINGS[p].group === 'objective') as ObjectiveSetting[];

export type SettingValue<K extends SettingPath> = z.output<(typeof SETTINGS)[K]['schema']>;
