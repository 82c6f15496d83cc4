// The memory estimate before a run, and the refusal with the numbers when it cannot fit.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TrainingMemoryError, assertTrainingFits, checkpointingNote, configAsRun, estimateTrainingMemory, resolveTrainingMemory, savedFloatsPerTokenLayer } from '../../src/engine/training/memory.js';
import { TransformerModel, releaseActivations, type LayerActivations } from '../../src/engine/transformer/model.js';
import { LOCAL } from '../model/helpers.js';
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

  it('with gradient_checkpointing keeps block inputs and one rebuilt block', () => {
    const e = estimateTrainingMemory(c, 1000, 500, 4, 10, 0, true);
    // (L + 1)·C kept + one block's 350 rebuilt, plus the same scratch.
    expect(e.activations).toBe(4 * 40 * (3 * 32 + 350) + 4 * 40 * (350 + 96));
    expect(e.recompute).toBe(true);
    // At 30 layers (SmolLM2-135M's depth) the activations fall to a fraction.
    const deep = { ...c, layers: 30 };
    const ratio = estimateTrainingMemory(deep, 0, 0, 2, 512, 0, true).activations / estimateTrainingMemory(deep, 0, 0, 2, 512).activations;
    expect(ratio).toBeLessThan(0.2);
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
    expect(msg).toMatch(/needs about [\d.]+ MiB .*weights 1\.00 MiB .*64 sequences of 512 tokens.*budget of 8\.00 MiB: turn on gradient_checkpointing, lower per_device_train_batch_size/);
    // Checkpointing keeps the largest buffer as it is: the binding refusal does not advise it.
    expect(() => assertTrainingFits(e, 1 << 30, 1 << 20)).toThrow(/largest storage binding \(1\.00 MiB\): lower per_device_train_batch_size/);
    expect(estimateTrainingMemory(c, 1 << 20, 1000, 64, 512, 0, true).largestBuffer).toEqual(e.largestBuffer);
  });

  describe('gradient_checkpointing resolved (null: automatic)', () => {
    // 30 layers, 8 sequences of 256 tokens: the activations are most of the run without it.
    const deep = { ...c, layers: 30 };
    const estimate = (recompute: boolean) => estimateTrainingMemory(deep, 1 << 20, 1000, 8, 256, 0, recompute);
    const without = estimate(false).total;
    const withIt = estimate(true).total;
    const caught = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(TrainingMemoryError);
        return e as TrainingMemoryError;
      }
      throw new Error('expected a TrainingMemoryError');
    };

    it('the two estimates are far apart, so a budget between them decides', () => {
      expect(withIt).toBeLessThan(0.5 * without);
    });

    it('automatic: off when the run fits without it', () => {
      const e = resolveTrainingMemory(null, estimate, without + 1, 1 << 30);
      expect(e.recompute).toBe(false);
      expect(e.total).toBe(without);
      expect(e.automatic).toEqual({ without, with: withIt });
      expect(checkpointingNote(e)).toMatch(/^gradient checkpointing: off \(automatic: the run fits without it; about [\d.]+ MiB with it\)$/);
    });

    it('automatic: on when the run fits only with it', () => {
      const budget = Math.round((without + withIt) / 2);
      const e = resolveTrainingMemory(null, estimate, budget, 1 << 30);
      expect(e.recompute).toBe(true);
      expect(e.total).toBe(withIt);
      expect(checkpointingNote(e)).toMatch(/^gradient checkpointing: on \(automatic: the run does not fit without it, about [\d.]+ MiB\)$/);
      // The configuration as it ran records the effective value; a run that never started keeps the setting.
      expect(configAsRun({ gradient_checkpointing: null, beta: 0.1 }, e)).toEqual({ gradient_checkpointing: true, beta: 0.1 });
      expect(configAsRun({ gradient_checkpointing: null }, undefined)).toEqual({ gradient_checkpointing: null });
      // Explicit false keeps its meaning: today's refusal, which advises turning it on.
      const off = caught(() => resolveTrainingMemory(false, estimate, budget, 1 << 30));
      expect(off.message).toMatch(/budget of [\d.]+ MiB: turn on gradient_checkpointing, lower per_device_train_batch_size/);
      expect(off.estimate.recompute).toBe(false);
      // Explicit true is on, and not marked automatic.
      const on = resolveTrainingMemory(true, estimate, budget, 1 << 30);
      expect([on.recompute, on.automatic, checkpointingNote(on)]).toEqual([true, undefined, 'gradient checkpointing: on']);
    });

    it('automatic, fitting neither way: one refusal naming both totals and what to lower', () => {
      const budget = withIt - 1;
      const err = caught(() => resolveTrainingMemory(null, estimate, budget, 1 << 30));
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(n >= 100 * 2 ** 20 ? 0 : n >= 10 * 2 ** 20 ? 1 : 2)} MiB`;
      expect(err.message).toContain(`needs about ${mib(without)} of GPU memory without gradient checkpointing and about ${mib(withIt)} with it`);
      expect(err.message).toMatch(/both more than the budget of [\d.]+ MiB: lower per_device_train_batch_size \(use gradient_accumulation_steps for the same effective batch\) or max_length$/);
      expect(err.message).not.toMatch(/turn on gradient_checkpointing/);
      expect(err.estimate.recompute).toBe(true);
      // A binding too small for one activation: checkpointing cannot help, the binding is named.
      expect(() => resolveTrainingMemory(null, estimate, 2 ** 40, 1024)).toThrow(/largest storage binding \(1\.00 KiB\): lower per_device_train_batch_size/);
      // Too many sequences for one dispatch, either way.
      expect(() => resolveTrainingMemory(null, estimate, 2 ** 40, 1 << 30, 4)).toThrow(/a micro-batch of 8 sequences is more than this GPU runs at once/);
    });
  });

  // The per-token count is what a kept forward holds: every saved tensor of every layer, for the
  // block layouts of issue 12 (Gemma's sandwich norms, OLMo 2's post-norms and whole-projection
  // q/k norms, Qwen3's per-head q/k norms, Gemma 3's both).
  afterAll(async () => (await testEngine()).pool.trim());
  it.each(['arch-gemma2', 'arch-gemma3', 'arch-olmo2', 'arch-qwen3'])('matches the tensors a kept forward holds: %s', async (name) => {
    const engine = await testEngine();
    const loaded = await loadModel(nodeDirSource(`${LOCAL}${name}`));
    const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
    const B = 2, T = 5;
    const { hidden, activations } = model.forwardHidden({ B, T, ids: new Int32Array(B * T).fill(3), mask: null }, { keepActivations: true });
    const keys: (keyof LayerActivations)[] = ['ln1', 'ln1Mean', 'ln1Rstd', 'qPre', 'qRstd', 'kPre', 'kRstd', 'q', 'k', 'v', 'att', 'attLse',
      'attnOut', 'attnPostRstd', 'residual2', 'ln2', 'ln2Mean', 'ln2Rstd', 'fcGate', 'fc', 'fcAct', 'mlpOut', 'mlpPostRstd', 'residual3'];
    for (const a of activations!.layers) {
      const floats = keys.reduce((n, k) => n + (a[k]?.size ?? 0), 0);
      expect(floats, name).toBe(B * T * savedFloatsPerTokenLayer(loaded.config));
    }
    expect(hidden).toBe(activations!.layers.at(-1)!.residual3);
    releaseActivations(engine, activations!);
    model.destroy();
  });
});
