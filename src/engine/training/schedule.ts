// How many optimizer steps a run takes and the learning rate of each, as transformers' Trainer
// and get_scheduler compute them (optimization.py):
//   warmup  = warmup_steps > 0 ? warmup_steps : ceil(warmup_ratio · total)
//   linear   : t < warmup ? t / warmup : max(0, (total - t) / (total - warmup))
//   cosine   : t < warmup ? t / warmup : max(0, ½·(1 + cos(π · (t - warmup) / (total - warmup))))
//   constant : 1 (warm-up ignored, as transformers does);  constant_with_warmup: min(1, t / warmup)
// where t is the number of optimizer steps taken before this one (the first step uses t = 0,
// so a warm-up starts at learning rate 0, like torch's LambdaLR).

import type { SchedulerType, TrainingConfig } from './config.js';

/** Micro-batches per epoch and optimizer steps per epoch (a last partial accumulation counts). */
export function stepsPerEpoch(examples: number, batchSize: number, gradAccum: number): { microBatches: number; steps: number } {
  const microBatches = Math.ceil(examples / batchSize);
  return { microBatches, steps: Math.max(1, Math.ceil(microBatches / gradAccum)) };
}

/** Total optimizer steps: max_steps when set, else ceil(num_train_epochs · steps per epoch). */
export function totalSteps(c: Pick<TrainingConfig, 'max_steps' | 'num_train_epochs' | 'per_device_train_batch_size' | 'gradient_accumulation_steps'>, examples: number): number {
  if (c.max_steps > 0) return c.max_steps;
  const { steps } = stepsPerEpoch(examples, c.per_device_train_batch_size, c.gradient_accumulation_steps);
  return Math.max(1, Math.ceil(c.num_train_epochs * steps));
}

export function warmupSteps(c: Pick<TrainingConfig, 'warmup_steps' | 'warmup_ratio'>, total: number): number {
  return c.warmup_steps > 0 ? c.warmup_steps : Math.ceil(c.warmup_ratio * total);
}

/** The multiplier of the base learning rate after `t` optimizer steps. */
export function lrFactor(type: SchedulerType, t: number, warmup: number, total: number): number {
  if (type === 'constant') return 1;
  if (t < warmup) return t / Math.max(1, warmup);
  if (type === 'constant_with_warmup') return 1;
  const progress = (t - warmup) / Math.max(1, total - warmup);
  if (type === 'linear') return Math.max(0, (total - t) / Math.max(1, total - warmup));
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Learning rate of optimizer step `t` (0-based) of a run of `total` steps. */
export function learningRate(c: Pick<TrainingConfig, 'learning_rate' | 'lr_scheduler_type' | 'warmup_steps' | 'warmup_ratio'>, t: number, total: number): number {
  return c.learning_rate * lrFactor(c.lr_scheduler_type, t, warmupSteps(c, total), total);
}
