// The run configuration: TRL/PEFT defaults, and errors that name the field at fault.
import { describe, expect, it } from 'vitest';
import { TrainingConfigError, methodConfig, needsReference, parseTrainingConfig } from '../../src/engine/training/config.js';

function issues(input: unknown): string[] {
  try {
    parseTrainingConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(TrainingConfigError);
    return (e as TrainingConfigError).issues.map((i) => `${i.field}: ${i.reason}`);
  }
  throw new Error('expected the configuration to be refused');
}

describe('training config', () => {
  it('fills in TRL and PEFT defaults', () => {
    const c = parseTrainingConfig({ method: 'dpo' });
    expect(c).toMatchObject({
      learning_rate: 1e-6,
      num_train_epochs: 3,
      max_steps: -1,
      per_device_train_batch_size: 8,
      gradient_accumulation_steps: 1,
      max_length: 1024,
      max_prompt_length: null,
      truncation_mode: 'keep_start',
      lr_scheduler_type: 'linear',
      warmup_ratio: 0,
      weight_decay: 0,
      max_grad_norm: 1,
      seed: 42,
      lora: { r: 8, lora_alpha: 8, lora_dropout: 0, use_rslora: false, target_modules: ['q_proj', 'v_proj'] },
    });
    expect(methodConfig(c)).toEqual({ method: 'dpo', options: {} });
    expect(needsReference(c)).toBe(true);
    expect(needsReference(parseTrainingConfig({ method: 'orpo' }))).toBe(false);
    expect(needsReference(parseTrainingConfig({ method: 'sft' }))).toBe(false);
  });

  it('passes objective options through under TRL names', () => {
    const c = parseTrainingConfig({ method: 'dpo', beta: 0.3, loss_type: ['sigmoid', 'sft'], loss_weights: [1, 0.5], lora: { r: 16 } });
    expect(methodConfig(c)).toEqual({ method: 'dpo', options: { beta: 0.3, loss_type: ['sigmoid', 'sft'], loss_weights: [1, 0.5] } });
    expect(c.lora).toMatchObject({ r: 16, lora_alpha: 8 });
    expect(methodConfig(parseTrainingConfig({ method: 'sft' }))).toEqual({ method: 'dpo', options: { loss_type: ['sft'] } });
  });

  it('names each bad field', () => {
    expect(issues({ method: 'dpo', learning_rate: -1 })[0]).toMatch(/^learning_rate: /);
    expect(issues({ method: 'dpo', lora: { r: 0 } })[0]).toMatch(/^lora\.r: /);
    expect(issues({ method: 'dpo', lora: { target_modules: ['q_proj', 'qq'] } })[0]).toMatch(/^lora\.target_modules\.1: unknown module "qq"/);
    expect(issues({ method: 'nope' })[0]).toMatch(/^method: /);
    expect(issues({ method: 'dpo', batch: 3 })[0]).toMatch(/batch/);
    expect(issues({ method: 'dpo', truncation_mode: 'middle' })[0]).toMatch(/^truncation_mode: /);
    expect(issues({ method: 'dpo', simpo_gamma: 1 })[0]).toMatch(/^simpo_gamma: does not apply to method dpo/);
    expect(issues({ method: 'kto', loss_type: 'ipo' })[0]).toMatch(/^loss_type: does not apply/);
    expect(issues({ method: 'dpo', max_length: 64, max_prompt_length: 64 })[0]).toMatch(/^max_prompt_length: /);
    expect(issues({ method: 'dpo', loss_type: ['sigmoid', 'ipo'], loss_weights: [1] })[0]).toMatch(/^loss_weights: .*2 loss types/);
    expect(issues({ method: 'dpo', loss_type: 'robust', label_smoothing: 0.6 })[0]).toMatch(/^label_smoothing: /);
    expect(issues({ method: 'dpo', max_steps: 0 })[0]).toMatch(/^max_steps: /);
    // Several problems are all reported.
    expect(issues({ method: 'dpo', learning_rate: 0, seed: -1 })).toHaveLength(2);
  });
});
