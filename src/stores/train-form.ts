// The Train page's settings form, read from the method registry (src/engine/methods): the methods
// offered with what they do and the data they need, and every setting of the run with its
// TRL/PEFT name, help and default. The form keeps the text of each field the user changed
// (`values`, by setting path), read with the same codec as the CLI's flags; everything else is
// the registry's default for the chosen method. formConfig() turns it into a TrainingConfig
// input; the configuration's schema checks it.
import type { DatasetCounts } from '../db/index.js';
import { METHOD_IDS, METHODS, methodDefault, type MethodId, type MethodSpec } from '../engine/methods/registry.js';
import { SETTING_GROUPS, SETTING_PATHS, SETTINGS, type ObjectiveSetting, type SettingGroup, type SettingPath } from '../engine/methods/settings.js';
import { settingFromText, settingToText, SettingTextError } from '../engine/methods/text.js';
import { TrainingConfigError, type TrainingConfig, type TrainingConfigInput } from '../engine/training/config.js';

export type { MethodId } from '../engine/methods/registry.js';
export const METHOD_CHOICES = METHOD_IDS;

export interface TrainForm {
  name: string;
  datasetId: string | null;
  method: MethodId;
  /** Text of the fields the user set, by setting path; the others show their default. */
  values: Partial<Record<SettingPath, string>>;
  /** The run whose adapter this run starts from (iterative rounds); its LoRA settings are kept. */
  initFromRunId: string | null;
}

export const DEFAULT_FORM: TrainForm = { name: '', datasetId: null, method: 'dpo', values: {}, initFromRunId: null };

const isObjective = (p: SettingPath): p is ObjectiveSetting => SETTINGS[p].group === 'objective';

/** Whether a setting is on the form for a method (objective settings only for the methods that take them). */
export function appliesTo(method: MethodId, path: SettingPath): boolean {
  return !isObjective(path) || METHODS[method].options.includes(path);
}

/** A setting's default under a method. */
export function defaultValue(method: MethodId, path: SettingPath): unknown {
  return isObjective(path) ? methodDefault(method, path) : SETTINGS[path].default;
}

/** The text a field shows: the user's, or the default's. */
export function fieldText(form: TrainForm, path: SettingPath): string {
  return form.values[path] ?? settingToText(path, defaultValue(form.method, path));
}

export interface FieldView {
  path: SettingPath;
  /** The name TRL/PEFT give it (LoraConfig fields without the `lora.` prefix). */
  trlName: string;
}

/** The fields of a view, by group: basic (method's primary options, lr, steps, batch, LoRA r/alpha/targets) or advanced (the rest). */
export function formGroups(method: MethodId, view: 'basic' | 'advanced'): { group: SettingGroup; title: string; fields: FieldView[] }[] {
  const spec: MethodSpec = METHODS[method];
  const inView = (p: SettingPath) =>
    isObjective(p) ? spec.options.includes(p) && spec.primary.includes(p) === (view === 'basic') : SETTINGS[p].view === view;
  // Objective fields in the method's own order (primary first).
  const objective = view === 'basic' ? spec.primary : spec.options.filter((o) => !spec.primary.includes(o));
  const order = [...objective, ...SETTING_PATHS.filter((p) => !isObjective(p))].filter(inView);
  const groups = new Map<SettingGroup, FieldView[]>();
  for (const p of order) groups.set(SETTINGS[p].group, [...(groups.get(SETTINGS[p].group) ?? []), { path: p, trlName: p.replace(/^lora\./, '') }]);
  return [...groups].map(([group, fields]) => ({ group, title: SETTING_GROUPS[group], fields }));
}

/**
 * Settings that show the demo model learning the demo dataset's preference in ten steps
 * (test/demo/learning.test.ts runs the same recipe through `prefstudio train`: held-out accuracy
 * 0.89). Made for the 1M-parameter demo model: larger models want the defaults' smaller
 * learning rate.
 */
export const DEMO_RECIPE: Pick<TrainForm, 'method' | 'values' | 'initFromRunId'> = {
  method: 'dpo',
  values: {
    beta: '0.1',
    learning_rate: '0.01',
    max_steps: '10',
    per_device_train_batch_size: '8',
    gradient_accumulation_steps: '1',
    max_length: '32',
    'lora.r': '8',
    'lora.lora_alpha': '16',
    'lora.lora_dropout': '0',
    'lora.target_modules': 'all-linear',
    seed: '1',
    eval_steps: '5',
  },
  initFromRunId: null,
};

function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const [head, ...rest] = path.split('.');
  if (rest.length === 0) o[head!] = v;
  else setPath((o[head!] ??= {}) as Record<string, unknown>, rest.join('.'), v);
}

/**
 * The form as a TrainingConfig input (parseTrainingConfig validates it and fills the rest): the
 * method and the fields the user set that apply to it. A field whose text cannot be read is a
 * TrainingConfigError naming it.
 */
export function formConfig(f: TrainForm): TrainingConfigInput {
  const out: Record<string, unknown> = { method: f.method };
  const issues = [];
  for (const path of SETTING_PATHS) {
    const text = f.values[path];
    if (text === undefined || !appliesTo(f.method, path)) continue;
    try {
      setPath(out, path, settingFromText(path, text));
    } catch (e) {
      if (!(e instanceof SettingTextError)) throw e;
      issues.push({ field: path, reason: e.message });
    }
  }
  if (issues.length) throw new TrainingConfigError(issues);
  return out as TrainingConfigInput;
}

/** The form's fields from a whole configuration (a saved run's, or one imported from TRL). */
export function formValues(config: Partial<TrainingConfig>): TrainForm['values'] {
  const values: TrainForm['values'] = {};
  for (const path of SETTING_PATHS) {
    const v = path.startsWith('lora.') ? (config.lora as Record<string, unknown> | undefined)?.[path.slice(5)] : (config as Record<string, unknown>)[path];
    if (v !== undefined) values[path] = settingToText(path, v);
  }
  return values;
}

/** Records of a dataset the method can use (by kind), for the picker. */
export function usableRecords(method: MethodId, counts: DatasetCounts): number {
  return METHODS[method].kinds.reduce((a, k) => a + counts.byKind[k], 0);
}

