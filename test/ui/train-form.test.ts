// The Train page's form: each method's settings become a valid TrainingConfig with TRL's names
// (IPO as DPO's ipo loss, no beta for SFT, steps or epochs, LoRA targets), usable record counts
// by kind, and the ETA from recent step times.
import { describe, expect, it } from 'vitest';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { DEFAULT_FORM, formConfig, METHOD_CHOICES, METHOD_INFO, usableRecords } from '../../src/stores/train-form.js';
import { etaSeconds } from '../../src/stores/train.js';
import { emptyCounts } from '../../src/db/index.js';

describe('train form', () => {
  it('gives a valid configuration for every method, with the method-specific fields only where they apply', () => {
    for (const method of METHOD_CHOICES) {
      const c = parseTrainingConfig(formConfig({ ...DEFAULT_FORM, method, beta: METHOD_INFO[method].beta ?? 0.1 }));
      expect(c.method).toBe(METHOD_INFO[method].method);
      expect(c.beta).toBe(METHOD_INFO[method].beta ?? undefined);
      expect(c.max_steps).toBe(DEFAULT_FORM.maxSteps);
      expect(c.lora).toMatchObject({ r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
      expect(METHOD_INFO[method].summary.split('. ').length).toBe(1);
    }
    expect(parseTrainingConfig(formConfig({ ...DEFAULT_FORM, method: 'ipo' })).loss_type).toBe('ipo');
  });

  it('trains by epochs when steps is 0, takes all-linear, and keeps eval batches at least 8', () => {
    const c = parseTrainingConfig(formConfig({ ...DEFAULT_FORM, maxSteps: 0, epochs: 2, targets: 'all-linear', batchSize: 2, evalSteps: 5 }));
    expect(c.max_steps).toBe(-1);
    expect(c.num_train_epochs).toBe(2);
    expect(c.lora.target_modules).toBe('all-linear');
    expect(c.per_device_train_batch_size).toBe(2);
    expect(c.per_device_eval_batch_size).toBe(8);
    expect(c.eval_steps).toBe(5);
    expect(parseTrainingConfig(formConfig({ ...DEFAULT_FORM, batchSize: 12 })).per_device_eval_batch_size).toBe(12);
  });

  it('names a bad field', () => {
    expect(() => parseTrainingConfig(formConfig({ ...DEFAULT_FORM, targets: 'q_proj,wq' }))).toThrow(/lora\.target_modules\.1: unknown module "wq"/);
    expect(() => parseTrainingConfig(formConfig({ ...DEFAULT_FORM, learningRate: -1 }))).toThrow(/learning_rate/);
  });

  it('counts the records a method can use by kind', () => {
    const counts = emptyCounts();
    Object.assign(counts.byKind, { pair: 10, unpaired: 4, ranking: 3, stepwise: 2 });
    expect(usableRecords('dpo', counts)).toBe(13);
    expect(usableRecords('kto', counts)).toBe(17);
    expect(usableRecords('step_dpo', counts)).toBe(12);
  });

  it('estimates the time left from the recent step times', () => {
    const m = (step: number, ms: number) => ({ step, loss: 1, step_time_ms: ms });
    expect(etaSeconds([], 10)).toBeNull();
    expect(etaSeconds([m(1, 1000), m(2, 3000)], 10)).toBe(16);
    expect(etaSeconds([m(10, 500)], 10)).toBe(0);
  });
});
