// The memory estimate before a run, and the refusal with the numbers when it cannot fit.
import { describe, expect, it } from 'vitest';
import { TrainingMemoryError, assertTrainingFits, estimateTrainingMemory, savedFloatsPerTokenLayer } from '../../src/engine/training/memory.js';
import { tinyConfig } from '../transformer/fixtures.js';

describe('training memory estimate', () => {
  const c = tinyConfig('llama-gqa'); // C 32, 2 layers, 4 heads of 8, 2 kv heads, I 40, V 50

  it('adds weights, adapter state and activations', () => {
    // 4C + 2·NH·HS + 2·NKV·HS + NH + 2 (rstd) + 3I = 128 + 64 + 32 + 4 + 2 + 120.
    expect(savedFloatsPerTokenLayer(c)).toBe(350);
    const e = estimateTrainingMemory(c, 1000, 500, 4, 10);
    expect(e.adapter).toBe(16 * 500);
    expect(e.activations).toBe(4 * 40 * (2 * 350 + 32) + 4 * 40 * (350 + 96));
    expect(e.total).toBe(e.weights + e.adapter + e.activations + e.head);
    // Twice the sequences, twice the activations.
    expect(estimateTrainingMemory(c, 1000, 500, 8, 10).activations).toBe(2 * e.activations);
  });

  it('refuses a run that does not fit, with the numbers and what to change', () => {
    const e = estimateTrainingMemory(c, 1 << 20, 1000, 64, 512);
    expect(() => assertTrainingFits(e, 1 << 30, 1 << 30)).not.toThrow();
    let msg = '';
    try {
      assertTrainingFits(e, 8 << 20, 1 << 30);
    } catch (err) {
      expect(err).toBeInstanceOf(TrainingMemoryError);
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/needs about [\d.]+ MiB .*weights 1\.00 MiB .*64 sequences of 512 tokens.*budget of 8\.00 MiB.*per_device_train_batch_size/);
    expect(() => assertTrainingFits(e, 1 << 30, 1 << 20)).toThrow(/largest storage binding/);
  });
});
