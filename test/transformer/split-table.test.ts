// Embedding and LM-head tables larger than one buffer are split by rows (Qwen2.5's 151,936 × 896
// in f32 is 519 MiB, past many adapters' storage binding): with a small maxTableBytes the split
// model's logits, log-probs, LoRA gradients (through the LM head's input gradient) and greedy
// tokens equal the unsplit model's, for an untied head, a tied one, f16 tables and GPT-2's wpe.
import { describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { generate } from '../../src/engine/transformer/generate.js';
import { sequenceLogprobs, type SequencePair } from '../../src/engine/transformer/logprobs.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { policyLogprobs } from '../../src/engine/transformer/train-logprobs.js';
import { expectClose, randn } from '../support/numeric.js';
import { randomRows, randomWeights, tinyConfig, type FixtureName } from './fixtures.js';

describe('split embedding and LM-head tables', () => {
  it.each(['llama-gqa', 'qwen2-bias', 'llama-f16', 'gpt2'] as FixtureName[])('%s: the same results as one buffer', { timeout: 120_000 }, async (name) => {
    const engine = await testEngine();
    const config = tinyConfig(name);
    const weights = randomWeights(config, 5, name === 'llama-f16');
    const whole = TransformerModel.create(engine, config, weights);
    // V = 50 rows of C = 32: 7 rows a part at 4 bytes (8 parts), 15 at 2 bytes (f16).
    const split = TransformerModel.create(engine, config, weights, { maxTableBytes: 900 });
    expect(whole.weights.embedParts ?? null).toBeNull();
    const parts = split.weights.embedParts!;
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.map((p) => p.rows).reduce((a, b) => a + b)).toBe(config.vocabSize);
    expect(split.weights.headParts!.length).toBe(parts.length);
    expect(split.weights.headParts === parts).toBe(config.tiedEmbeddings);
    // Each part in its table's dtype and within the limit (an f16 table's parts once went up as f32, twice the size).
    const bytesPer = name === 'llama-f16' ? 2 : 4;
    for (const p of parts) {
      expect((p.weight as { dtype: string }).dtype).toBe(bytesPer === 2 ? 'f16' : 'f32');
      expect(p.rows * config.hidden * bytesPer).toBeLessThanOrEqual(900);
    }

    const B = 2, T = 6;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 17 + 3) % config.vocabSize);
    ids[0] = config.vocabSize - 1; // the last row of the last part
    const batch = { B, T, ids, mask: null };
    expectClose(await split.logits(batch), await whole.logits(batch), { atol: 1e-6, rtol: 1e-5, what: `${name} logits` });

    const pairs: SequencePair[] = [0, 1, 2].map((i) => {
      const [p, c] = randomRows([3 + i, 2 + i], config.vocabSize, 40 + i);
      return { promptIds: p!, completionIds: c! };
    });
    const lp = async (m: TransformerModel) => (await sequenceLogprobs(m, pairs)).map((s) => s.logp);
    expectClose(await lp(split), await lp(whole), { atol: 1e-5, rtol: 1e-5, what: `${name} log-probs` });

    // LoRA gradients: the log-prob backward goes through the head's input gradient, part by part.
    const grads = async (m: TransformerModel) => {
      const adapter = LoraAdapter.create(m, { r: 2, alpha: 4, targetModules: 'all-linear', seed: 3 });
      let s = 9;
      adapter.load(new Map(adapter.params().map((p) => [p.name, randn(p.shape[0] * p.shape[1], ++s, 0.3)])));
      const dl = engine.fromArray(Float32Array.from([1, -2, 0.5]), [3]);
      const pl = await policyLogprobs(m, adapter, pairs, { accumulateGrads: false });
      pl.backward(dl);
      pl.release();
      const g = await adapter.readGrads();
      engine.release(dl);
      adapter.destroy();
      return g;
    };
    const gw = await grads(whole);
    const gs = await grads(split);
    for (const [k, g] of gw) {
      expect(g.some((x) => x !== 0), k).toBe(true);
      // dlnf sums over the vocabulary part by part: another order, a few ulps of the largest value.
      const scale = g.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
      expectClose(gs.get(k)!, g, { atol: 2e-5 * scale, rtol: 1e-4, what: `${name} ${k}` });
    }

    const prompts = [[1, 5, 9], [7, 3]];
    const greedy = async (m: TransformerModel) => (await generate(m, prompts, { maxNewTokens: 4, eosIds: [], temperature: 0 })).map((r) => r.tokens);
    expect(await greedy(split)).toEqual(await greedy(whole));
    whole.destroy();
    split.destroy();
  });

  it('a row wider than one buffer is refused, naming the table', async () => {
    const engine = await testEngine();
    const config = tinyConfig('llama-gqa');
    expect(() => TransformerModel.create(engine, config, randomWeights(config, 5), { maxTableBytes: 64 })).toThrow(/model\.embed_tokens\.weight: one row of 32 values is more than one buffer may hold \(64 bytes\)/);
  });
});
