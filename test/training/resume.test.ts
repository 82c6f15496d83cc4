// Kill and resume: a run interrupted after some steps, checkpointed to bytes and resumed on a
// fresh adapter, ends with the same adapter (bit for bit) and the same per-step metrics as an
// uninterrupted run with the same seed. Tiny random Llama, LoRA with dropout (the masks come
// from the seeded generator, so they must be drawn identically after the resume).
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { parseTrainingConfig, type TrainingConfig } from '../../src/engine/training/config.js';
import { loraAdapterConfig, loraBackend } from '../../src/engine/training/backend.js';
import { MemoryRefCache } from '../../src/engine/training/ref-cache.js';
import { Trainer, decodeCheckpoint, encodeCheckpoint, type StepMetrics } from '../../src/engine/training/trainer.js';
import type { Example } from '../../src/engine/training/tokenize.js';
import { randomRows, randomWeights, tinyConfig } from '../transformer/fixtures.js';

const mc = tinyConfig('llama-gqa');

function examples(): Example[] {
  const out: Example[] = [];
  for (let i = 0; i < 8; i++) {
    const [p, c, r] = randomRows([3 + (i % 3), 2 + (i % 2), 4 - (i % 3)], mc.vocabSize, 100 + i);
    out.push({ record: i, split: i < 6 ? 'train' : 'test', kind: 'pair', sequences: [{ promptIds: p!, completionIds: c! }, { promptIds: p!, completionIds: r! }] });
  }
  return out;
}

let engine: Engine;
let model: TransformerModel;
afterAll(() => model?.destroy());

async function setup(config: TrainingConfig, cache: MemoryRefCache) {
  engine ??= await testEngine();
  model ??= TransformerModel.create(engine, mc, randomWeights(mc, 7));
  const adapter = LoraAdapter.create(model, loraAdapterConfig(config.lora, config.seed));
  const options = { backend: loraBackend(model, adapter, 0), config, examples: examples(), modelFingerprint: 'tiny-llama-7', refCache: cache };
  return { adapter, options };
}

const strip = (m: StepMetrics) => {
  // Timing and memory differ between runs; everything else must not.
  const { tokens_per_second: _t, step_time_ms: _s, gpu_memory_bytes: _g, gpu_memory_peak_bytes: _p, ...rest } = m;
  return rest;
};

describe('kill and resume', () => {
  it('gives the same adapter and metrics as an uninterrupted run', { timeout: 240_000 }, async () => {
    const config = parseTrainingConfig({
      method: 'dpo', learning_rate: 5e-3, max_steps: 4, per_device_train_batch_size: 2, per_device_eval_batch_size: 4,
      gradient_accumulation_steps: 2, warmup_steps: 1, lr_scheduler_type: 'cosine', weight_decay: 0.01, seed: 5, eval_steps: 2,
      lora: { r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj', 'down_proj'] },
    });
    const cache = new MemoryRefCache();

    const full = await setup(config, cache);
    const t1 = await Trainer.create(full.options);
    expect(t1.totalSteps).toBe(4);
    const r1 = await t1.run(() => {});
    expect(r1).toEqual({ reason: 'done', step: 4, totalSteps: 4 });
    const uninterrupted = await full.adapter.save();
    const history = t1.history.map(strip);
    if (process.env.PREFSTUDIO_REPORT_ERRORS) console.log(history);
    t1.destroy();
    full.adapter.destroy();
    // The references were computed once and came from the cache afterwards.
    expect(cache.entries.size).toBe(8);

    const first = await setup(config, cache);
    const t2 = await Trainer.create(first.options);
    const stop = new AbortController();
    let bytes: Uint8Array | null = null;
    const r2 = await t2.run((m) => m.step === 2 && stop.abort(), { signal: stop.signal, onCheckpoint: (c) => void (bytes = encodeCheckpoint(c)) });
    expect(r2.reason).toBe('aborted');
    expect(r2.step).toBe(2);
    t2.destroy();
    first.adapter.destroy();

    const second = await setup(config, cache);
    const t3 = await Trainer.resume(second.options, decodeCheckpoint(bytes!));
    expect(t3.stepCount).toBe(2);
    await t3.run(() => {});
    const resumed = await second.adapter.save();
    expect(t3.history.map(strip)).toEqual(history);
    for (const [name, v] of uninterrupted) expect(new Uint32Array(resumed.get(name)!.buffer), name).toEqual(new Uint32Array(v.buffer));
    // The adapter moved: B started at zero.
    expect([...uninterrupted].some(([n, v]) => n.endsWith('lora_B.weight') && v.some((x) => x !== 0))).toBe(true);
    expect(history[1]).toHaveProperty('eval_loss');
    t3.destroy();
    second.adapter.destroy();
  });
});

describe('every example kind trains', () => {
  function kindExamples(kind: 'kto' | 'listwise'): Example[] {
    return Array.from({ length: 6 }, (_, i) => {
      const [p, a, b, c] = randomRows([3, 2 + (i % 2), 3, 2], mc.vocabSize, 300 + i);
      const seq = (x: number[]) => ({ promptIds: p!, completionIds: x });
      const split = i < 4 ? ('train' as const) : ('test' as const);
      return kind === 'kto'
        ? { record: i, split, kind, sequences: [seq(a!), seq(c!)], label: i % 2 === 0 }
        : { record: i, split, kind, sequences: [seq(a!), seq(b!), seq(c!)] };
    });
  }

  for (const method of ['kto', 'listwise', 'orpo', 'sft'] as const) {
    it(method, { timeout: 120_000 }, async () => {
      const config = parseTrainingConfig({ method, learning_rate: 1e-2, max_steps: 2, per_device_train_batch_size: 4, lora: { r: 2 } });
      const { adapter, options } = await setup(config, new MemoryRefCache());
      const ex = method === 'kto' || method === 'listwise' ? kindExamples(method) : examples();
      const t = await Trainer.create({ ...options, examples: ex });
      const ms: StepMetrics[] = [];
      await t.run((m) => ms.push(m));
      expect(ms).toHaveLength(2);
      for (const m of ms) expect(Number.isFinite(m.loss) && Number.isFinite(m.grad_norm), JSON.stringify(m)).toBe(true);
      if (method === 'kto') expect(ms[0]).toHaveProperty('kl');
      expect(ms[1]).toHaveProperty('eval_loss');
      // The second step starts where the first moved the adapter.
      expect(ms[1]!.loss).not.toBe(ms[0]!.loss);
      t.destroy();
      adapter.destroy();
    });
  }
});
