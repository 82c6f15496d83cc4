// The run configuration: the registry's defaults (TRL/PEFT's, or ours where a LoRA run in a
// browser wants another), the method's objective settings filled in, and errors that name the
// field at fault.
import { describe, expect, it } from 'vitest';
import { TrainingConfigError, methodConfig, needsReference, parseTrainingConfig } from '../../src/engine/training/config.js';
import { objectiveOf } from '../../src/engine/losses/methods.js';

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
      learning_rate: 5e-4,
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
      save_steps: 50,
      lora: { r: 8, lora_alpha: 16, lora_dropout: 0, use_rslora: false, target_modules: ['q_proj', 'v_proj'] },
      // The method's objective settings, TRL's defaults filled in.
      beta: 0.1,
      loss_type: ['sigmoid'],
      label_smoothing: 0,
      f_divergence_type: 'reverse_kl',
      use_weighting: false,
      ld_alpha: null,
    });
    expect(c).not.toHaveProperty('simpo_gamma');
    expect(methodConfig(c)).toEqual({
      method: 'dpo',
      options: {
        beta: 0.1, loss_type: ['sigmoid'], loss_weights: null, label_smoothing: 0, discopop_tau: 0.05, rpo_alpha: null,
        f_divergence_type: 'reverse_kl', f_alpha_divergence_coef: 0.5, use_weighting: false, ld_alpha: null,
        sync_ref_model: false, ref_model_mixup_alpha: 0.6, ref_model_sync_steps: 512,
      },
    });
    expect(parseTrainingConfig({ method: 'cpo_simpo' })).toMatchObject({ beta: 0.1, simpo_gamma: 0.5, cpo_alpha: 1, label_smoothing: 0 });
    expect(parseTrainingConfig({ method: 'simpo' }).cpo_alpha).toBe(0);
    expect(parseTrainingConfig({ method: 'cdpo' }).label_smoothing).toBe(0.1);
    expect(parseTrainingConfig({ method: 'sft' })).not.toHaveProperty('beta');
    expect(needsReference(c)).toBe(true);
    expect(needsReference(parseTrainingConfig({ method: 'orpo' }))).toBe(false);
    expect(needsReference(parseTrainingConfig({ method: 'sft' }))).toBe(false);
  });

  it('passes objective options through under TRL names', () => {
    const c = parseTrainingConfig({ method: 'dpo', beta: 0.3, loss_type: ['sigmoid', 'sft'], loss_weights: [1, 0.5], lora: { r: 16 } });
    expect(methodConfig(c)).toMatchObject({ method: 'dpo', options: { beta: 0.3, loss_type: ['sigmoid', 'sft'], loss_weights: [1, 0.5] } });
    expect(c.lora).toMatchObject({ r: 16, lora_alpha: 16 });
    // The method's pinned values reach the loss module; TRL's old aot_pair is saved as aot_unpaired.
    expect(methodConfig(parseTrainingConfig({ method: 'sft' }))).toEqual({ method: 'sft', options: {} });
    expect(objectiveOf(methodConfig(parseTrainingConfig({ method: 'sft' })))).toEqual({ loss_type: ['sft'] });
    expect(objectiveOf(methodConfig(parseTrainingConfig({ method: 'ipo', beta: 0.5 })))).toMatchObject({ beta: 0.5, loss_type: ['ipo'] });
    expect(parseTrainingConfig({ method: 'dpo', loss_type: 'hinge' }).loss_type).toEqual(['hinge']);
    expect(parseTrainingConfig({ method: 'dpo', loss_type: ['sigmoid', 'aot_pair'] }).loss_type).toEqual(['sigmoid', 'aot_unpaired']);
    const f = parseTrainingConfig({ method: 'dpo', f_divergence_type: 'js_divergence', ld_alpha: 0.5, use_weighting: true });
    expect(methodConfig(f).options).toMatchObject({ f_divergence_type: 'js_divergence', ld_alpha: 0.5, use_weighting: true });
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
    expect(issues({ method: 'ipo', loss_type: 'hinge' })[0]).toMatch(/^loss_type: is \["ipo"\] for method ipo and cannot be changed/);
    expect(issues({ method: 'dpo', loss_type: 'aot', use_weighting: true })[0]).toMatch(/^use_weighting: does not work with aot/);
    expect(issues({ method: 'dpo', ld_alpha: 1.5 })[0]).toMatch(/^ld_alpha: /);
    expect(issues({ method: 'dpo', f_divergence_type: 'kl' })[0]).toMatch(/^f_divergence_type: /);
    expect(issues({ method: 'dpo', loss_type: 'nope' })[0]).toMatch(/^loss_type\.0: expected one of sigmoid, hinge/);
    // Several problems are all reported.
    expect(issues({ method: 'dpo', learning_rate: 0, seed: -1 })).toHaveLength(2);
  });
});
