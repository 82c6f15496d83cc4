// gradient_checkpointing through the Trainer: the same seeded DPO run (LoRA dropout on, several
// micro-batches) with and without it gives the same losses, gradient norms and adapter (the
// backward recomputes each block from its kept input with the same masks), the policy pass is
// asked to recompute, and the memory estimate's activations drop. Left automatic (null, the default), it is
// on exactly when the budget holds the run with it and not without it.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { loraAdapterConfig, loraBackend } from '../../src/engine/training/backend.js';
import { MemoryRefCache } from '../../src/engine/training/ref-cache.js';
import { Trainer } from '../../src/engine/training/trainer.js';
import type { Example } from '../../src/engine/training/tokenize.js';
import { randomRows, randomWeights, tinyConfig } from '../transformer/fixtures.js';
import { expectClose } from '../support/numeric.js';

const mc = tinyConfig('llama-gqa');

function examples(): Example[] {
  const out: Example[] = [];
  for (let i = 0; i < 6; i++) {
    const [p, c, r] = randomRows([3 + (i % 3), 2 + (i % 2), 4 - (i % 3)], mc.vocabSize, 200 + i);
    out.push({ record: i, split: 'train', kind: 'pair', sequences: [{ promptIds: p!, completionIds: c! }, { promptIds: p!, completionIds: r! }] });
  }
  return out;
}

let engine: Engine;
let model: TransformerModel;
afterAll(() => model?.destroy());

async function run(gradient_checkpointing: boolean | null, memory_budget_bytes: number | null = null) {
  engine ??= await testEngine();
  model ??= TransformerModel.create(engine, mc, randomWeights(mc, 11));
  const config = parseTrainingConfig({
    method: 'dpo', learning_rate: 1e-2, max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 2, seed: 3,
    gradient_checkpointing, memory_budget_bytes, lora: { r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj', 'down_proj'] },
  });
  const adapter = LoraAdapter.create(model, loraAdapterConfig(config.lora, config.seed));
  const backend = loraBackend(model, adapter, 0);
  const asked: (boolean | undefined)[] = [];
  const policy = backend.policy.bind(backend);
  backend.policy = (batch, options) => {
    asked.push(options.recompute);
    return policy(batch, options);
  };
  const t = await Trainer.create({ backend, config, examples: examples(), modelFingerprint: 'tiny-llama-11', refCache: new MemoryRefCache() });
  expect(await t.run(() => {})).toMatchObject({ reason: 'done', step: 2 });
  const out = { history: t.history, adapter: await adapter.save(), memory: t.memory, asked };
  t.destroy();
  adapter.destroy();
  return out;
}

let runs: { plain: Awaited<ReturnType<typeof run>>; ckpt: Awaited<ReturnType<typeof run>> } | null = null;

describe('gradient_checkpointing', () => {
  it('gives the run it gives without, from less activation memory', { timeout: 240_000 }, async () => {
    const plain = await run(false);
    const ckpt = await run(true);
    runs = { plain, ckpt };
    expect(new Set(plain.asked)).toEqual(new Set([false]));
    expect(new Set(ckpt.asked)).toEqual(new Set([true]));
    expect(ckpt.history.length).toBe(2);
    for (let i = 0; i < 2; i++) {
      const a = plain.history[i]!, b = ckpt.history[i]!;
      const [la, lb, ga, gb] = [a.loss, b.loss, a.grad_norm, b.grad_norm].map(Number) as [number, number, number, number];
      expect(Number.isFinite(la) && Number.isFinite(ga) && ga > 0).toBe(true);
      expect(Math.abs(la - lb), `step ${i + 1} loss`).toBeLessThan(1e-5 * Math.max(1, Math.abs(la)));
      expect(Math.abs(ga - gb), `step ${i + 1} grad_norm`).toBeLessThan(1e-4 * ga);
    }
    // The runs moved the adapter (so equal adapters say something) and moved it the same way.
    const moved = [...plain.adapter].filter(([n]) => n.includes('lora_B'));
    expect(moved.length).toBeGreaterThan(0);
    for (const [, w] of moved) expect(w.some((x) => Math.abs(x) > 1e-4)).toBe(true);
    for (const [name, w] of plain.adapter) expectClose(ckpt.adapter.get(name)!, w, { atol: 1e-6, rtol: 1e-4, what: name });
    expect(ckpt.memory.recompute).toBe(true);
    // Two layers: 2 blocks' activations become 3 block inputs (memory.test.ts: the formula and a deep model).
    expect(ckpt.memory.activations).toBeLessThan(0.8 * plain.memory.activations);
    expect(ckpt.memory.total).toBeLessThan(plain.memory.total);
  });

  it('automatic (the default): on when the budget lies between the two estimates, and the run records it', { timeout: 240_000 }, async () => {
    const { plain, ckpt } = runs ?? { plain: await run(false), ckpt: await run(true) };
    expect(parseTrainingConfig({ method: 'dpo' }).gradient_checkpointing).toBeNull();
    const budget = Math.round((plain.memory.total + ckpt.memory.total) / 2);
    const auto = await run(null, budget);
    expect(new Set(auto.asked)).toEqual(new Set([true]));
    expect(auto.memory).toMatchObject({ recompute: true, total: ckpt.memory.total, automatic: { without: plain.memory.total, with: ckpt.memory.total } });
    // The same run as with it on explicitly.
    for (let i = 0; i < 2; i++) expect(auto.history[i]!.loss).toBe(ckpt.history[i]!.loss);
    // A budget both fit: automatic leaves it off.
    const roomy = await run(null, plain.memory.total + 1);
    expect(new Set(roomy.asked)).toEqual(new Set([false]));
    expect(roomy.memory).toMatchObject({ recompute: false, automatic: { without: plain.memory.total, with: ckpt.memory.total } });
    // Explicit false under the same budget refuses, as before.
    await expect(run(false, budget)).rejects.toThrow(/budget of .*set by memory_budget_bytes.*: turn on gradient_checkpointing/);
  });
});
