// The configuration of a training run, under the names TRL (DPOConfig/KTOConfig/CPOConfig/
// ORPOConfig, transformers' TrainingArguments) and PEFT (LoraConfig) use, with their defaults,
// validated by zod so that a bad value is reported by its field name. A run's configuration is
// plain JSON: it is saved with the run and inside every checkpoint.
//
// Choices where TRL changed over versions:
// - max_length 1024 and truncation_mode "keep_start" are TRL 1.x's (the collator truncates
//   prompt + completion). max_prompt_length / max_completion_length are TRL 0.x options, kept
//   as optional pre-truncations (null: off, TRL 1.x's behaviour).
// - learning_rate 1e-6 is TRL's default for full fine-tuning; LoRA runs usually want ~1e-4 or
//   more, which the Train page and the CLI examples set explicitly.
// - Reference log-probs are computed once per example and cached (adapter off), when a batch
//   first needs them: the values of TRL's precompute_ref_log_probs, without its wait up front.

import { z } from 'zod';
import { zodIssues, type FieldIssue } from '../../data/validate.js';
import {
  DPO_LOSS_TYPES,
  METHODS,
  isReferenceFree,
  ktoParams,
  listwiseParams,
  pairLossParams,
  type DpoLossType,
  type MethodConfig,
  type MethodName,
} from '../losses/methods.js';

/** Methods a run can use: the loss methods plus plain SFT on the chosen responses. */
export const TRAINING_METHODS = [...METHODS, 'sft'] as const;
export type TrainingMethod = MethodName | 'sft';

export const SCHEDULER_TYPES = ['linear', 'cosine', 'constant', 'constant_with_warmup'] as const;
export type SchedulerType = (typeof SCHEDULER_TYPES)[number];

export const TRUNCATION_MODES = ['keep_start', 'keep_end'] as const;
export type TruncationMode = (typeof TRUNCATION_MODES)[number];

/** PEFT's names of the Llama/Qwen2 linear layers; GPT-2's Conv1D names too. */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'c_attn', 'c_proj', 'c_fc'] as const;

const positiveInt = z.number().int().positive();
const nonNegative = z.number().nonnegative();

export const LoraConfigSchema = z
  .object({
    r: positiveInt.default(8),
    lora_alpha: z.number().positive().default(8),
    lora_dropout: z.number().min(0).lt(1).default(0),
    use_rslora: z.boolean().default(false),
    /** Module names (PEFT matches the last part of the name), or "all-linear" (every linear layer but the LM head). */
    target_modules: z.union([z.literal('all-linear'), z.array(z.string().min(1)).min(1)]).default(['q_proj', 'v_proj']),
  })
  .strict();
export type LoraSettings = z.infer<typeof LoraConfigSchema>;

export const TrainingConfigSchema = z
  .object({
    method: z.enum(TRAINING_METHODS),

    // ---- the objective (defaults depend on the method; null/absent = the method's default) ----
    beta: z.number().positive().optional(),
    loss_type: z.union([z.enum(DPO_LOSS_TYPES), z.array(z.enum(DPO_LOSS_TYPES)).min(1)]).optional(),
    loss_weights: z.array(z.number()).min(1).nullable().optional(),
    label_smoothing: z.number().min(0).lt(1).optional(),
    discopop_tau: z.number().positive().optional(),
    rpo_alpha: z.number().nullable().optional(),
    simpo_gamma: z.number().optional(),
    cpo_alpha: nonNegative.optional(),
    desirable_weight: z.number().positive().optional(),
    undesirable_weight: z.number().positive().optional(),

    // ---- length ----
    max_length: positiveInt.nullable().default(1024),
    max_prompt_length: positiveInt.nullable().default(null),
    max_completion_length: positiveInt.nullable().default(null),
    truncation_mode: z.enum(TRUNCATION_MODES).default('keep_start'),
    /** Joins the prompt and the steps of step-wise records (TRL PRMConfig's step_separator). */
    step_separator: z.string().default('\n'),

    // ---- optimisation (transformers TrainingArguments) ----
    learning_rate: z.number().positive().default(1e-6),
    num_train_epochs: z.number().positive().default(3),
    /** > 0 overrides num_train_epochs (transformers' -1 = unset). */
    max_steps: z.number().int().min(-1).default(-1),
    per_device_train_batch_size: positiveInt.default(8),
    per_device_eval_batch_size: positiveInt.default(8),
    gradient_accumulation_steps: positiveInt.default(1),
    warmup_ratio: z.number().min(0).max(1).default(0),
    warmup_steps: z.number().int().nonnegative().default(0),
    lr_scheduler_type: z.enum(SCHEDULER_TYPES).default('linear'),
    weight_decay: nonNegative.default(0),
    adam_beta1: z.number().min(0).lt(1).default(0.9),
    adam_beta2: z.number().min(0).lt(1).default(0.999),
    adam_epsilon: z.number().positive().default(1e-8),
    /** Clip the global gradient norm to this; 0 or null: no clipping (the norm is still logged). */
    max_grad_norm: nonNegative.nullable().default(1.0),
    seed: z.number().int().nonnegative().default(42),

    // ---- evaluation and checkpoints ----
    /** Evaluate on the test split every this many steps (null: only at the end). */
    eval_steps: positiveInt.nullable().default(null),
    /** Checkpoint every this many steps (and at stop). */
    save_steps: positiveInt.default(500),

    lora: LoraConfigSchema.default(LoraConfigSchema.parse({})),

    /** GPU memory the run may use, in bytes (WebGPU cannot say how much the device has). */
    memory_budget_bytes: positiveInt.default(4 * 1024 ** 3),
  })
  .strict();

export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;
export type TrainingConfigInput = z.input<typeof TrainingConfigSchema>;

export class TrainingConfigError extends Error {
  override name = 'TrainingConfigError';
  constructor(readonly issues: FieldIssue[]) {
    super(`invalid training configuration: ${issues.map((i) => `${i.field || '(config)'}: ${i.reason}`).join('; ')}`);
  }
}

/** Objective options and the methods they belong to (an option set for another method is an error). */
const OPTION_METHODS: Record<string, readonly TrainingMethod[]> = {
  loss_type: ['dpo', 'cdpo', 'rpo', 'step_dpo'],
  loss_weights: ['dpo', 'cdpo', 'rpo', 'step_dpo'],
  label_smoothing: ['dpo', 'cdpo', 'rpo', 'step_dpo', 'simpo', 'cpo_simpo'],
  discopop_tau: ['dpo', 'cdpo', 'rpo', 'step_dpo'],
  rpo_alpha: ['dpo', 'cdpo', 'rpo', 'step_dpo'],
  simpo_gamma: ['simpo', 'cpo_simpo'],
  cpo_alpha: ['simpo', 'cpo_simpo'],
  desirable_weight: ['kto'],
  undesirable_weight: ['kto'],
};

/** Validates and fills in defaults; throws TrainingConfigError naming each bad field. */
export function parseTrainingConfig(input: unknown): TrainingConfig {
  const r = TrainingConfigSchema.safeParse(input);
  if (!r.success) throw new TrainingConfigError(zodIssues(r.error.issues));
  const c = r.data;
  const issues: FieldIssue[] = [];
  for (const [option, methods] of Object.entries(OPTION_METHODS)) {
    if (c[option as keyof TrainingConfig] !== undefined && !methods.includes(c.method)) {
      issues.push({ field: option, reason: `does not apply to method ${c.method} (only ${methods.join(', ')})` });
    }
  }
  if (c.method === 'sft' && c.beta !== undefined) issues.push({ field: 'beta', reason: 'does not apply to method sft' });
  if (c.max_length !== null && c.max_prompt_length !== null && c.max_prompt_length >= c.max_length) {
    issues.push({ field: 'max_prompt_length', reason: `${c.max_prompt_length} leaves no room for the completion within max_length ${c.max_length}` });
  }
  if (c.max_steps === 0) issues.push({ field: 'max_steps', reason: 'must be -1 (use num_train_epochs) or a positive number of steps' });
  if (c.lora.target_modules !== 'all-linear') {
    for (const [i, t] of c.lora.target_modules.entries()) {
      if (!(LORA_TARGETS as readonly string[]).includes(t)) {
        issues.push({ field: `lora.target_modules.${i}`, reason: `unknown module "${t}" (one of ${LORA_TARGETS.join(', ')}, or "all-linear")` });
      }
    }
  }
  if (issues.length === 0) {
    // The loss modules check value ranges that depend on several options (robust needs ε < 0.5, ...).
    try {
      checkObjective(methodConfig(c));
    } catch (e) {
      const m = (e as Error).message;
      // The loss modules' messages name the option at fault.
      const field = [...Object.keys(OPTION_METHODS), 'beta'].find((k) => new RegExp(`\\b${k}\\b`).test(m)) ?? 'method';
      issues.push({ field, reason: m });
    }
  }
  if (issues.length) throw new TrainingConfigError(issues);
  return c;
}

function checkObjective(m: MethodConfig): void {
  if (m.method === 'kto') ktoParams(m);
  else if (m.method === 'listwise') listwiseParams(m);
  else pairLossParams(m);
}

/** The loss module's method and options for a run (sft is DPO's `sft` loss type alone). */
export function methodConfig(c: TrainingConfig): MethodConfig {
  const defined = <T extends object>(o: T): Partial<T> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  switch (c.method) {
    case 'sft':
      return { method: 'dpo', options: { loss_type: ['sft'] } };
    case 'dpo':
    case 'cdpo':
    case 'rpo':
    case 'step_dpo':
      return {
        method: c.method,
        options: defined({
          beta: c.beta,
          loss_type: c.loss_type as DpoLossType | DpoLossType[] | undefined,
          loss_weights: c.loss_weights,
          label_smoothing: c.label_smoothing,
          discopop_tau: c.discopop_tau,
          rpo_alpha: c.rpo_alpha,
        }),
      };
    case 'orpo':
      return { method: 'orpo', options: defined({ beta: c.beta }) };
    case 'simpo':
    case 'cpo_simpo':
      return {
        method: c.method,
        options: defined({ beta: c.beta, simpo_gamma: c.simpo_gamma, cpo_alpha: c.cpo_alpha, label_smoothing: c.label_smoothing }),
      };
    case 'kto':
      return { method: 'kto', options: defined({ beta: c.beta, desirable_weight: c.desirable_weight, undesirable_weight: c.undesirable_weight }) };
    case 'listwise':
      return { method: 'listwise', options: defined({ beta: c.beta }) };
  }
}

/** Whether the run needs reference log-probs (not for ORPO, SimPO and plain SFT). */
export function needsReference(c: TrainingConfig): boolean {
  return c.method !== 'sft' && !isReferenceFree(c.method);
}

/** The data a method trains on. */
export type ExampleShape = 'pair' | 'kto' | 'listwise';

export function exampleShape(c: TrainingConfig): ExampleShape {
  return c.method === 'kto' ? 'kto' : c.method === 'listwise' ? 'listwise' : 'pair';
}
