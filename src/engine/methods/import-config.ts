// A run's settings from a JSON file: a PrefStudio configuration (training_config.json, a run's
// saved settings), a TRL hand-off's recipe.json, or a TRL trainer config as TRL writes it
// (`DPOConfig(...).to_dict()`, KTOConfig, CPOConfig, ORPOConfig, with transformers'
// TrainingArguments fields; LoRA as TRL's ModelConfig `lora_*` fields or a PEFT LoraConfig under
// `lora`). Every field is either used under its registry name or listed as ignored with why;
// values are checked by the configuration's schema afterwards (parseTrainingConfig), so an
// out-of-range value is an error naming its field, never silently dropped.

import type { TrainingConfigInput } from '../training/config.js';
import { isMethodId, METHOD_IDS, METHODS, methodDefault, type MethodId, type TrlTarget } from './registry.js';

type TrlConfigName = Extract<TrlTarget, { trainer: string }>['config'];
import { SETTING_PATHS, SETTINGS, type SettingPath } from './settings.js';

export interface ImportedConfig {
  /** The configuration input (to be checked by parseTrainingConfig). */
  input: TrainingConfigInput;
  method: MethodId;
  /** What the file was read as. */
  from: 'PrefStudio' | 'TRL hand-off' | TrlConfigName;
  ignored: { field: string; reason: string }[];
}

export class ConfigImportError extends Error {
  override name = 'ConfigImportError';
}

/** TRL ModelConfig's LoRA fields and PEFT LoraConfig's, as registry paths. */
const LORA_ALIASES: Record<string, SettingPath> = {
  lora_r: 'lora.r',
  lora_alpha: 'lora.lora_alpha',
  lora_dropout: 'lora.lora_dropout',
  lora_target_modules: 'lora.target_modules',
  use_rslora: 'lora.use_rslora',
};

/** TRL fields that PrefStudio does by itself, and why they are not settings here. */
const BUILT_IN: Record<string, string> = {
  precompute_ref_log_probs: 'reference log-probs are always cached here (computed when a batch first needs them)',
  use_peft: 'PrefStudio always trains a LoRA adapter',
  eval_strategy: 'read with eval_steps',
  save_strategy: 'read with save_steps',
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a configuration JSON. `method` picks the method when the file does not say it (an
 * ORPOConfig looks like a DPOConfig without loss_type) or overrides what it says.
 */
export function importConfig(json: unknown, method?: MethodId): ImportedConfig {
  if (!isRecord(json)) throw new ConfigImportError('a configuration must be a JSON object');
  if (isRecord(json.prefstudio_config)) return { ...importConfig(json.prefstudio_config, method), from: 'TRL hand-off' };
  if (typeof json.method === 'string') {
    if (!isMethodId(json.method)) throw new ConfigImportError(`method "${json.method}" is not one of PrefStudio's (${Object.keys(METHODS).join(', ')})`);
    return read(json, method ?? json.method, 'PrefStudio', new Set(['method']));
  }
  const trl = trlMethod(json);
  return read(json, method ?? trl.method, trl.from, trl.consumed);
}

/** The registry's methods that map to a TRL config class. */
function methodsOf(config: TrlConfigName): MethodId[] {
  return METHOD_IDS.filter((m) => { const t = METHODS[m].trl; return t.trainer !== null && t.config === config; });
}

/**
 * Which method a TRL config is for, by the fields only its config class has: KTOConfig's class
 * weights, CPOConfig's SimPO fields (the method whose cpo_alpha default matches, so 0 is SimPO),
 * DPOConfig's loss_type list (method dpo takes any), ORPOConfig by the hand-off's `trainer`.
 */
function trlMethod(c: Record<string, unknown>): { method: MethodId; from: ImportedConfig['from']; consumed: Set<string> } {
  const pick = (config: TrlConfigName, prefer?: (m: MethodId) => boolean) => {
    const all = methodsOf(config);
    return all.find((m) => prefer?.(m)) ?? all.find((m) => METHODS[m].pinned === undefined) ?? all[0]!;
  };
  if ('desirable_weight' in c || 'undesirable_weight' in c) {
    if (c.loss_type !== undefined && c.loss_type !== 'kto') throw new ConfigImportError(`KTOConfig loss_type "${String(c.loss_type)}": PrefStudio trains KTO's "kto" loss only`);
    return { method: pick('KTOConfig'), from: 'KTOConfig', consumed: new Set(['loss_type']) };
  }
  if ('simpo_gamma' in c || 'cpo_alpha' in c) {
    if (c.loss_type !== 'simpo') throw new ConfigImportError(`CPOConfig loss_type "${String(c.loss_type ?? 'sigmoid')}": PrefStudio trains CPO's "simpo" loss only`);
    const alpha = c.cpo_alpha ?? SETTINGS.cpo_alpha.default;
    return { method: pick('CPOConfig', (m) => methodDefault(m, 'cpo_alpha') === alpha), from: 'CPOConfig', consumed: new Set(['loss_type']) };
  }
  if ('loss_type' in c) return { method: pick('DPOConfig'), from: 'DPOConfig', consumed: new Set() };
  const trainer = typeof c.trainer === 'string' ? c.trainer.replace(/Trainer$|Config$/, '') : '';
  const config = `${trainer}Config` as TrlConfigName;
  if (trainer && methodsOf(config).length) return { method: pick(config), from: config, consumed: new Set(['trainer']) };
  throw new ConfigImportError('cannot tell which method this configuration is for (no method, loss_type, KTO or CPO field): choose the method and load it again');
}

function read(c: Record<string, unknown>, method: MethodId, from: ImportedConfig['from'], consumed: Set<string>): ImportedConfig {
  const spec = METHODS[method];
  const input: Record<string, unknown> = { method };
  const lora: Record<string, unknown> = {};
  const ignored: ImportedConfig['ignored'] = [];
  const put = (field: string, path: SettingPath, value: unknown) => {
    if (SETTINGS[path].group === 'objective' && !spec.options.includes(path as never)) {
      ignored.push({ field, reason: `does not apply to method ${method}` });
    } else if (path.startsWith('lora.')) lora[path.slice(5)] = value;
    else input[path] = value;
  };
  for (const [field, value] of Object.entries(c)) {
    if (consumed.has(field)) continue;
    if (field === 'lora' && isRecord(value)) {
      for (const [k, v] of Object.entries(value)) {
        const path = `lora.${k}` as SettingPath;
        if (SETTINGS[path]) put(`lora.${k}`, path, v);
        else ignored.push({ field: `lora.${k}`, reason: 'not a LoRA setting PrefStudio has' });
      }
    } else if (LORA_ALIASES[field]) {
      put(field, LORA_ALIASES[field], value);
    } else if ((SETTING_PATHS as readonly string[]).includes(field) && !field.startsWith('lora.')) {
      // TrainingArguments keep eval_steps/save_steps when their strategy is something else.
      const strategy = field === 'eval_steps' ? c.eval_strategy : field === 'save_steps' ? c.save_strategy : undefined;
      if (strategy !== undefined && strategy !== 'steps') ignored.push({ field, reason: `${field === 'eval_steps' ? 'eval' : 'save'}_strategy is "${String(strategy)}", not "steps"` });
      else put(field, field as SettingPath, value);
    } else if (BUILT_IN[field]) {
      if (field !== 'eval_strategy' && field !== 'save_strategy') ignored.push({ field, reason: BUILT_IN[field] });
    } else {
      ignored.push({ field, reason: 'not a PrefStudio setting' });
    }
  }
  if (Object.keys(lora).length) input.lora = lora;
  return { input: input as TrainingConfigInput, method, from, ignored };
}
