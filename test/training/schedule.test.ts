// Learning-rate schedules and step counts against transformers' formulas, by hand.
import { describe, expect, it } from 'vitest';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { learningRate, lrFactor, stepsPerEpoch, totalSteps, warmupSteps } from '../../src/engine/training/schedule.js';

describe('schedules', () => {
  it('linear with warm-up', () => {
    // total 10, warm-up 2: 0, 1/2, then (10 - t) / 8.
    const f = (t: number) => lrFactor('linear', t, 2, 10);
    expect([0, 1, 2, 6, 9, 10, 11].map(f)).toEqual([0, 0.5, 1, 0.5, 0.125, 0, 0]);
  });

  it('cosine with warm-up', () => {
    // total 12, warm-up 2: progress p = (t - 2) / 10, factor ½(1 + cos πp).
    const f = (t: number) => lrFactor('cosine', t, 2, 12);
    expect(f(0)).toBe(0);
    expect(f(1)).toBe(0.5);
    expect(f(2)).toBeCloseTo(1, 15);
    expect(f(7)).toBeCloseTo(0.5, 15);
    expect(f(4)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.2)), 15);
    expect(f(12)).toBeCloseTo(0, 15);
  });

  it('constant ignores warm-up; constant_with_warmup does not', () => {
    expect(lrFactor('constant', 0, 5, 10)).toBe(1);
    expect([0, 2, 5, 9].map((t) => lrFactor('constant_with_warmup', t, 5, 10))).toEqual([0, 0.4, 1, 1]);
  });

  it('warm-up from steps or ratio, total from epochs or max_steps', () => {
    expect(warmupSteps({ warmup_steps: 3, warmup_ratio: 0.5 }, 100)).toBe(3);
    expect(warmupSteps({ warmup_steps: 0, warmup_ratio: 0.1 }, 95)).toBe(10); // ceil(9.5)
    // 21 examples, batch 4 -> 6 micro-batches; accumulation 4 -> 2 steps per epoch (last partial).
    expect(stepsPerEpoch(21, 4, 4)).toEqual({ microBatches: 6, steps: 2 });
    const c = parseTrainingConfig({ method: 'dpo', per_device_train_batch_size: 4, gradient_accumulation_steps: 4, num_train_epochs: 1.5 });
    expect(totalSteps(c, 21)).toBe(3);
    expect(totalSteps({ ...c, max_steps: 7 }, 21)).toBe(7);
    const lr = parseTrainingConfig({ method: 'dpo', learning_rate: 2e-4, warmup_ratio: 0.25 });
    expect(learningRate(lr, 1, 8)).toBeCloseTo(1e-4, 18);
    expect(learningRate(lr, 5, 8)).toBeCloseTo(2e-4 * (3 / 6), 18);
  });
});
