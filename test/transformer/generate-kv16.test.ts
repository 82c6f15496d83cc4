// The KV cache in f16 (half its memory; the default where the device has shader-f16): keys and
// values rounded to f16 as they are stored, the attention reading the halves natively, or unpacked
// to f32 per layer on a device without shader-f16. Sampling with it follows the f32 cache within
// f16's rounding (one row: the prefix read; several rows: the masked cache), and is not the same
// to the bit (the cache really holds halves). generate.test.ts checks it against the CPU twin.
import { describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { KvCache, generate } from '../../src/engine/transformer/generate.js';
import { defaultKvCache } from '../../src/engine/transformer/kv-dtype.js';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { expectClose } from '../support/numeric.js';
import { byteLength } from '../../src/engine/gpu/tensor.js';
import { randomRows, randomWeights, tinyConfig, type FixtureName } from './fixtures.js';

const NEW = 5;

describe('KV cache in f16', () => {
  it.each([
    ['llama-gqa', [4, 1, 6]],
    ['llama-gqa', [5]],
    ['qwen2-bias', [3, 7]],
    ['gpt2', [4, 2]],
  ] as [FixtureName, number[]][])('%s, prompts %j: logits within f16 rounding of the f32 cache', async (name, lengths) => {
    const engine = await testEngine();
    const config = tinyConfig(name);
    const model = TransformerModel.create(engine, config, randomWeights(config, 17));
    const prompts = randomRows(lengths, config.vocabSize, 23);
    const run = async (kvCache: 'f32' | 'f16') => {
      const steps: Float32Array[] = [];
      const r = await generate(model, prompts, { maxNewTokens: NEW, temperature: 0, eosIds: [], kvCache, onLogits: (l) => steps.push(l.slice()) });
      return { tokens: r.map((x) => x.tokens), steps };
    };
    const f32 = await run('f32');
    const f16 = await run('f16');
    expect(f16.steps.length).toBe(NEW);
    let maxDiff = 0, scale = 0;
    // Step 0 comes from the prefill (it attends to its own batch, not the cache): equal.
    expect(Array.from(f16.steps[0]!)).toEqual(Array.from(f32.steps[0]!));
    for (let s = 1; s < NEW; s++) {
      if (f16.tokens.some((t, b) => t.slice(0, s).join() !== f32.tokens[b]!.slice(0, s).join())) break; // diverged: not comparable
      f16.steps[s]!.forEach((x, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(x - f32.steps[s]![i]!));
        scale = Math.max(scale, Math.abs(f32.steps[s]![i]!));
      });
    }
    expect(maxDiff).toBeGreaterThan(0); // the cache holds halves
    expect(maxDiff).toBeLessThan(2e-2 * scale);
    model.destroy();
  });

  it('on a device without shader-f16 the cache is unpacked per layer: the same logits as the native read; f32 by default there', { timeout: 60_000 }, async () => {
    const native = await testEngine();
    const plain = await createNodeEngine({ preferF16: false });
    try {
      expect(plain.hasF16).toBe(false);
      expect(defaultKvCache(plain)).toBe('f32');
      const config = tinyConfig('llama-gqa');
      const weights = randomWeights(config, 29);
      const prompts = randomRows([4, 1, 6], config.vocabSize, 31);
      const run = async (engine: Engine) => {
        const model = TransformerModel.create(engine, config, weights);
        const steps: Float32Array[] = [];
        const r = await generate(model, prompts, { maxNewTokens: NEW, temperature: 0, eosIds: [], kvCache: 'f16', onLogits: (l) => steps.push(l.slice()) });
        model.destroy();
        return { tokens: r.map((x) => x.tokens), steps };
      };
      const unpacked = await run(plain);
      const read = await run(native);
      expect(unpacked.tokens).toEqual(read.tokens);
      unpacked.steps.forEach((l, s) => expectClose(l, read.steps[s]!, { atol: 1e-5, rtol: 1e-5, what: `step ${s}` }));
    } finally {
      plain.destroy();
    }
  });

  it('takes half the memory, and refuses a row that is not whole words', async () => {
    const engine = await testEngine();
    const f32 = new KvCache(engine, 2, 2, 8, 2, 8);
    const f16 = new KvCache(engine, 2, 2, 8, 2, 8, 'f16');
    expect(f16.k[0]!.dtype).toBe('f16');
    expect(byteLength(f16.k[0]!.dtype, f16.k[0]!.size) * 2).toBe(byteLength(f32.k[0]!.dtype, f32.k[0]!.size));
    expect(() => new KvCache(engine, 1, 1, 8, 1, 5, 'f16')).toThrow(/not whole u32 words/);
    f32.release();
    f16.release();
  });
});
