// A run's settings from JSON: a PrefStudio configuration round-trips; TRL config dumps
// (DPOConfig/KTOConfig/CPOConfig with transformers' TrainingArguments fields, LoRA from TRL's
// ModelConfig) are read field by field, each used under its registry name or listed as ignored
// with why; a TRL hand-off's recipe.json gives back the run's configuration; what cannot be read
// says why.
import { describe, expect, it } from 'vitest';
import { trlHandoff } from '../../src/engine/export/trl.js';
import { ConfigImportError, importConfig } from '../../src/engine/methods/import-config.js';
import { parseTrainingConfig, TrainingConfigError } from '../../src/engine/training/config.js';
import { configAsRun, estimateTrainingMemory } from '../../src/engine/training/memory.js';
import { tinyConfig } from '../transformer/fixtures.js';
import type { PrefRecord } from '../../src/data/records.js';

/** Part of `DPOConfig(...).to_dict()` (TRL 1.9): its own fields and some of TrainingArguments'. */
const DPO_DUMP = {
  output_dir: 'out',
  overwrite_output_dir: false,
  eval_strategy: 'no',
  per_device_train_batch_size: 4,
  per_device_eval_batch_size: 8,
  gradient_accumulation_steps: 2,
  eval_steps: null,
  learning_rate: 5e-6,
  weight_decay: 0.01,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  max_grad_norm: 1.0,
  num_train_epochs: 1,
  max_steps: -1,
  lr_scheduler_type: 'cosine',
  warmup_ratio: 0.1,
  warmup_steps: 0,
  logging_steps: 10,
  save_strategy: 'steps',
  save_steps: 100,
  seed: 7,
  bf16: true,
  report_to: ['none'],
  gradient_checkpointing: false,
  max_length: 512,
  truncation_mode: 'keep_start',
  padding_free: false,
  precompute_ref_log_probs: false,
  loss_type: ['sigmoid', 'bco_pair', 'sft'],
  loss_weights: [0.8, 0.2, 1.0],
  ld_alpha: null,
  f_divergence_type: 'js_divergence',
  f_alpha_divergence_coef: 0.5,
  label_smoothing: 0.0,
  beta: 0.05,
  use_weighting: true,
  discopop_tau: 0.05,
  sync_ref_model: false,
  // TRL's ModelConfig (trl/scripts): the LoRA of `--use_peft`.
  use_peft: true,
  lora_r: 16,
  lora_alpha: 32,
  lora_dropout: 0.05,
  lora_target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
};

describe('settings from JSON', () => {
  it('a PrefStudio configuration comes back as itself', () => {
    const saved = parseTrainingConfig({ method: 'kto', beta: 0.2, desirable_weight: 1.2, learning_rate: 1e-4, lora: { r: 4, target_modules: 'all-linear' } });
    const r = importConfig(JSON.parse(JSON.stringify(saved)));
    expect(r).toMatchObject({ method: 'kto', from: 'PrefStudio', ignored: [] });
    expect(parseTrainingConfig(r.input)).toEqual(saved);
  });

  it('a TRL DPOConfig dump: every DPO and TrainingArguments field we have, LoRA from ModelConfig, the rest listed', () => {
    const r = importConfig(DPO_DUMP);
    expect(r.from).toBe('DPOConfig');
    const c = parseTrainingConfig(r.input);
    expect(c).toMatchObject({
      method: 'dpo', beta: 0.05, loss_type: ['sigmoid', 'bco_pair', 'sft'], loss_weights: [0.8, 0.2, 1], f_divergence_type: 'js_divergence', use_weighting: true, ld_alpha: null,
      learning_rate: 5e-6, per_device_train_batch_size: 4, gradient_accumulation_steps: 2, weight_decay: 0.01, lr_scheduler_type: 'cosine', warmup_ratio: 0.1,
      num_train_epochs: 1, max_steps: -1, seed: 7, save_steps: 100, eval_steps: null, max_length: 512,
      lora: { r: 16, lora_alpha: 32, lora_dropout: 0.05, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
    });
    const ignored = Object.fromEntries(r.ignored.map((i) => [i.field, i.reason]));
    expect(ignored).toMatchObject({ output_dir: 'not a PrefStudio setting', bf16: 'not a PrefStudio setting' });
    // TR-DPO's settings are ours too (TRL's names and defaults).
    expect(c).toMatchObject({ sync_ref_model: false, ref_model_mixup_alpha: 0.6, ref_model_sync_steps: 512 });
    expect(Object.keys(ignored)).not.toContain('sync_ref_model');
    expect(ignored.precompute_ref_log_probs).toMatch(/always cached/);
    expect(ignored.use_peft).toMatch(/always trains a LoRA adapter/);
    expect(Object.keys(ignored)).not.toContain('learning_rate');
  });

  it('eval and save steps only when their strategy is "steps"', () => {
    const r = importConfig({ ...DPO_DUMP, eval_strategy: 'epoch', eval_steps: 50, save_strategy: 'no', save_steps: 20 });
    expect(r.ignored.filter((i) => /_strategy is/.test(i.reason)).map((i) => i.field).sort()).toEqual(['eval_steps', 'save_steps']);
    expect(parseTrainingConfig(importConfig({ ...DPO_DUMP, eval_strategy: 'steps', eval_steps: 25 }).input).eval_steps).toBe(25);
  });

  it('KTOConfig and CPOConfig by their own fields; SimPO when cpo_alpha is 0', () => {
    const kto = importConfig({ beta: 0.1, desirable_weight: 1.33, undesirable_weight: 1, loss_type: 'kto', learning_rate: 1e-5 });
    expect(kto).toMatchObject({ method: 'kto', from: 'KTOConfig', ignored: [] });
    expect(parseTrainingConfig(kto.input).desirable_weight).toBe(1.33);
    expect(importConfig({ loss_type: 'simpo', beta: 2, simpo_gamma: 0.5, cpo_alpha: 0 }).method).toBe('simpo');
    expect(importConfig({ loss_type: 'simpo', beta: 2, simpo_gamma: 0.5, cpo_alpha: 1 }).method).toBe('cpo_simpo');
    expect(() => importConfig({ loss_type: 'sigmoid', cpo_alpha: 1 })).toThrow(/CPOConfig loss_type "sigmoid"/);
    expect(() => importConfig({ desirable_weight: 1, loss_type: 'apo_zero_unpaired' })).toThrow(/KTOConfig loss_type "apo_zero_unpaired"/);
  });

  it('a chosen method wins, and settings it does not take are listed', () => {
    const r = importConfig(DPO_DUMP, 'orpo');
    expect(r.method).toBe('orpo');
    expect(r.ignored.find((i) => i.field === 'loss_type')?.reason).toBe('does not apply to method orpo');
    expect(parseTrainingConfig(r.input)).toMatchObject({ method: 'orpo', beta: 0.05 });
  });

  it("a TRL hand-off's recipe.json gives back the run's configuration, gradient_checkpointing as it ran", () => {
    const config = parseTrainingConfig({ method: 'rpo', beta: 0.3, rpo_alpha: 0.5, learning_rate: 2e-4, lora: { r: 4 } });
    expect(config.gradient_checkpointing).toBeNull();
    const records: PrefRecord[] = [{ kind: 'pair', prompt: 'Hi?', chosen: ' Yes.', rejected: ' No.', source: { type: 'manual' }, createdAt: 0, split: 'train', tags: [] }];
    // The run decided it (automatic: on); the hand-off passes TRL's boolean, which comes back explicit.
    const ran = configAsRun(config, { ...estimateTrainingMemory(tinyConfig('llama-gqa'), 0, 0, 2, 8, 0, true), automatic: { without: 2, with: 1 } });
    const handoff = trlHandoff({ config: ran, records, baseModel: 'org/model' });
    const recipe = JSON.parse(handoff.files['recipe.json']!);
    expect(recipe.args.gradient_checkpointing).toBe(true);
    expect(handoff.files['README.md']).not.toMatch(/gradient_checkpointing was automatic/);
    const r = importConfig(recipe);
    expect(r.from).toBe('TRL hand-off');
    expect(parseTrainingConfig(r.input)).toEqual({ ...config, gradient_checkpointing: true });
    // A configuration no run decided: transformers' default, false, and the README says so.
    const unrun = trlHandoff({ config, records, baseModel: 'org/model' });
    expect(JSON.parse(unrun.files['recipe.json']!).args.gradient_checkpointing).toBe(false);
    expect(unrun.files['README.md']).toMatch(/gradient_checkpointing was automatic \(no run decided it\), so it is passed as transformers' default, false/);
  });

  it("TRL's gradient_checkpointing is explicit; a dump without it leaves it automatic", () => {
    expect(parseTrainingConfig(importConfig(DPO_DUMP).input).gradient_checkpointing).toBe(false);
    expect(parseTrainingConfig(importConfig({ ...DPO_DUMP, gradient_checkpointing: true }).input).gradient_checkpointing).toBe(true);
    const { gradient_checkpointing: _, ...without } = DPO_DUMP;
    expect(parseTrainingConfig(importConfig(without).input).gradient_checkpointing).toBeNull();
  });

  it('says why it cannot read a file, and the schema names a bad value', () => {
    expect(() => importConfig([1, 2])).toThrow(ConfigImportError);
    expect(() => importConfig({ method: 'grpo' })).toThrow(/method "grpo" is not one of PrefStudio's/);
    expect(() => importConfig({ learning_rate: 1e-5, beta: 0.1 })).toThrow(/cannot tell which method/);
    const r = importConfig({ ...DPO_DUMP, lr_scheduler_type: 'cosine_with_restarts' });
    expect(() => parseTrainingConfig(r.input)).toThrow(TrainingConfigError);
    expect(() => parseTrainingConfig(r.input)).toThrow(/lr_scheduler_type/);
  });
});
