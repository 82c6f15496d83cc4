// The configuration of a training run: every setting of the registry's table
// (src/engine/methods/settings.ts: TRL/transformers/PEFT names, ranges, defaults) plus the
// method (src/engine/methods/registry.ts), validated by zod so that a bad value is reported by
// its field name. The schema is built from the table: this file lists no setting of its own.
// A run's configuration is plain JSON: it is saved with the run and inside every checkpoint.
//
// Objective settings apply to the methods that list them: one set for another method is an
// error, and the parsed configuration holds every one that applies (the method's default where
// not given), so a saved configuration says exactly what the run used.
//
// Choices where TRL changed over versions:
// - max_length 1024 and truncation_mode "keep_start" are TRL 1.x's (the collator truncates
//   prompt + completion). max_prompt_length / max_completion_length are TRL 0.x options, kept
//   as optional pre-truncations (null: off, TRL 1.x's behaviour).
// - Reference log-probs are computed once per example and cached (adapter off), when a batch
//   first needs them: the values of TRL's precompute_ref_log_probs, without its wait up front.

import { z } from 'zod';
import { zodIssues, type FieldIssue } from '../../data/validate.js';
import { ktoParams, listwiseParams, lossFamily, pairLossParams, type MethodConfig } from '../losses/methods.js';
import { LOSS_TYPES } from '../methods/loss-types.js';
import { METHOD_IDS, METHODS, methodDefault, type ExampleShape, type MethodId } from '../methods/registry.js';
import { LORA_TARGETS, OBJECTIVE_SETTINGS, SETTINGS, SETTING_PATHS, type ObjectiveSetting, type SettingPath } from '../methods/settings.js';

export { LORA_TARGETS, SCHEDULER_TYPES, TRUNCATION_MODES, type SchedulerType, type TruncationMode } from '../methods/settings.js';
export type { ExampleShape } from '../methods/registry.js';

// ---- the schema, from the settings table ----

type Table = typeof SETTINGS;
type TopPath = Exclude<SettingPath, `lora.${string}`>;
type LoraField = SettingPath extends infer P ? (P extends `lora.${infer F}` ? F : never) : never;
type Field<K extends SettingPath> = Table[K]['group'] extends 'objective' ? z.ZodOptional<Table[K]['schema']> : z.ZodDefault<Table[K]['schema']>;
type LoraShape = { [F in LoraField]: Field<`lora.${F}` & SettingPath> };
type TopShape = { [K in TopPath]: Field<K> };

function field(path: SettingPath): z.ZodType {
  const s = SETTINGS[path] as { schema: z.ZodType; default: unknown; group: string };
  // Objective settings stay absent when not given: whether one applies is checked, then the
  // method's default is filled in (parseTrainingConfig).
  return s.group === 'objective' ? s.schema.optional() : s.schema.default(s.default as never);
}

const LORA_PATHS = SETTING_PATHS.filter((p) => p.startsWith('lora.'));

export const LoraConfigSchema = z.strictObject(Object.fromEntries(LORA_PATHS.map((p) => [p.slice('lora.'.length), field(p)])) as LoraShape);
export type LoraSettings = z.infer<typeof LoraConfigSchema>;

export const TrainingConfigSchema = z.strictObject({
  method: z.enum(METHOD_IDS),
  ...(Object.fromEntries(SETTING_PATHS.filter((p) => !p.startsWith('lora.')).map((p) => [p, field(p)])) as TopShape),
  lora: LoraConfigSchema.default(LoraConfigSchema.parse({})),
});

export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;
export type TrainingConfigInput = z.input<typeof TrainingConfigSchema>;
export type TrainingMethod = MethodId;

export class TrainingConfigError extends Error {
  override name = 'TrainingConfigError';
  constructor(readonly issues: FieldIssue[]) {
    super(`invalid training configuration: ${issues.map((i) => `${i.field || '(config)'}: ${i.reason}`).join('; ')}`);
  }
}

/** The methods an objective setting applies to. */
export function methodsWith(option: ObjectiveSetting): MethodId[] {
  return METHOD_IDS.filter((m) => METHODS[m].options.includes(option));
}

/** Validates and fills in defaults; throws TrainingConfigError naming each bad field. */
export function parseTrainingConfig(input: unknown): TrainingConfig {
  const r = TrainingConfigSchema.safeParse(input);
  if (!r.success) throw new TrainingConfigError(zodIssues(r.error.issues));
  const c = r.data;
  const spec = METHODS[c.method];
  const issues: FieldIssue[] = [];
  const values = c as Record<ObjectiveSetting, unknown>;
  for (const option of OBJECTIVE_SETTINGS) {
    if (values[option] === undefined || spec.options.includes(option)) continue;
    const pinned = spec.pinned?.[option];
    issues.push({
      field: option,
      reason: pinned !== undefined
        ? `is ${JSON.stringify(pinned)} for method ${c.method} and cannot be changed (use method dpo to choose loss types)`
        : `does not apply to method ${c.method} (only ${methodsWith(option).join(', ')})`,
    });
  }
  if (c.max_length !== null && c.max_prompt_length !== null && c.max_prompt_length >= c.max_length) {
    issues.push({ field: 'max_prompt_length', reason: `${c.max_prompt_length} leaves no room for the completion within max_length ${c.max_length}` });
  }
  if (c.lora.target_modules !== 'all-linear') {
    for (const [i, t] of c.lora.target_modules.entries()) {
      if (!(LORA_TARGETS as readonly string[]).includes(t)) {
        issues.push({ field: `lora.target_modules.${i}`, reason: `unknown module "${t}" (one of ${LORA_TARGETS.join(', ')}, or "all-linear")` });
      }
    }
  }
  if (issues.length) throw new TrainingConfigError(issues);
  for (const option of spec.options) {
    if (values[option] === undefined) values[option] = methodDefault(c.method, option);
  }
  checkObjective(c, issues);
  if (issues.length) throw new TrainingConfigError(issues);
  return c;
}

/** Range checks that span several options, made by the loss modules (robust needs ε < 0.5, ...). */
function checkObjective(c: TrainingConfig, issues: FieldIssue[]): void {
  const types = c.loss_type ?? [];
  if (c.use_weighting) {
    const sorted = types.filter((t) => LOSS_TYPES[t].sortsBatch);
    if (sorted.length) issues.push({ field: 'use_weighting', reason: `does not work with ${sorted.join(', ')}: those sort the batch, which would misalign the per-pair weights (as in TRL)` });
  }
  if (issues.length) return;
  try {
    const m = methodConfig(c);
    const family = lossFamily(m.method);
    if (family === 'kto') ktoParams(m);
    else if (family === 'listwise') listwiseParams(m);
    else pairLossParams(m);
  } catch (e) {
    const message = (e as Error).message;
    // The loss modules' messages name the option at fault.
    const field = OBJECTIVE_SETTINGS.find((k) => new RegExp(`\\b${k}\\b`).test(message)) ?? 'method';
    issues.push({ field, reason: message });
  }
}

/** The loss module's method and options for a run: the objective settings the method takes. */
export function methodConfig(c: TrainingConfig): MethodConfig {
  const values = c as Record<ObjectiveSetting, unknown>;
  const options: Record<string, unknown> = {};
  for (const option of METHODS[c.method].options) if (values[option] !== undefined) options[option] = values[option];
  return { method: c.method, options } as MethodConfig;
}

/** Whether the run needs reference log-probs (not for ORPO, SimPO and plain SFT). */
export function needsReference(c: TrainingConfig): boolean {
  return METHODS[c.method].reference;
}

/** The examples a method trains on. */
export function exampleShape(c: Pick<TrainingConfig, 'method'>): ExampleShape {
  return METHODS[c.method].shape;
}
