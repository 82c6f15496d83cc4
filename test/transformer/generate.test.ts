// KV-cache sampling on the GPU against greedy decoding by full re-forward on the CPU reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { CpuTransformer } from '../../src/engine/transformer/cpu-reference.js';
import { generate } from '../../src/engine/transformer/generate.js';
import { defaultKvCache, type KvCacheDType } from '../../src/engine/transformer/kv-dtype.js';
import { applyRepetitionPenalty, argmax, samplingDistribution } from '../../src/engine/transformer/sampling.js';
import { expectClose } from '../support/numeric.js';
import { randomRows, randomWeights, tinyConfig, type FixtureName } from './fixtures.js';

const NEW = 8;
// See forward.test.ts.
const TOL = { atol: 1e-4, rtol: 1e-5 };

describe('generate with a KV cache', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await testEngine();
  });
  afterAll(() => engine.pool.trim());

  /**
   * Greedy decoding by CPU re-forward of each prompt alone, with the logits of every step.
   * Tokens are compared exactly: the GPU logits match the CPU's to ~1e-5 and these seeds have no
   * near-tie. The logits are compared too (a KV-cache slip that leaves the argmax alone, such as a
   * position off by one, still moves them): same tolerance as forward.test.ts. With an f16 cache
   * the CPU replays it: the queries past the prompt read keys and values rounded to halves.
   */
  function cpuGreedySteps(cpu: CpuTransformer, prompt: number[], n: number, kvCache: KvCacheDType): { tokens: number[]; logits: Float32Array[] } {
    const tokens = cpu.greedy(prompt, n, [], { kvCache });
    const seq = [...prompt];
    const logits = tokens.map((t) => {
      const row = cpu.logits({ B: 1, T: seq.length, ids: Int32Array.from(seq), mask: null }, [seq.length - 1], { kvCache, prefillLength: prompt.length });
      seq.push(t);
      return row;
    });
    return { tokens, logits };
  }

  async function checkAgainstCpu(name: FixtureName, lengths: number[], seed: number, kvCache: KvCacheDType): Promise<void> {
    const config = tinyConfig(name);
    const V = config.vocabSize;
    const weights = randomWeights(config, seed);
    const model = TransformerModel.create(engine, config, weights);
    const cpu = new CpuTransformer(config, weights);
    const prompts = randomRows(lengths, V, seed + 1);
    const steps: Float32Array[] = [];
    const got = await generate(model, prompts, { maxNewTokens: NEW, temperature: 0, eosIds: [], kvCache, onLogits: (l) => steps.push(l.slice()) });
    expect(steps.length).toBe(NEW);
    for (const [b, p] of prompts.entries()) {
      const want = cpuGreedySteps(cpu, p, NEW, kvCache);
      expect(got[b]!.tokens, `row ${b}`).toEqual(want.tokens);
      expect(got[b]!.finishReason).toBe('length');
      want.logits.forEach((w, s) => expectClose(steps[s]!.subarray(b * V, (b + 1) * V), w, { ...TOL, what: `${name} row ${b} step ${s}` }));
    }
    model.destroy();
  }

  // Both caches: f32, and f16 (native halves where the device has shader-f16, unpacked elsewhere).
  const CACHES = ['f32', 'f16'] as const;
  it.each(CACHES.flatMap((kv) => (['llama-gqa', 'gpt2'] as const).map((name) => [name, kv] as const)))(
    '%s, %s cache: greedy, batch of 3 prompts of different lengths (masked cache), equals CPU re-forward',
    (name, kv) => checkAgainstCpu(name, [4, 1, 6], 41, kv),
  );

  it.each(CACHES)('qwen2-bias, %s cache: greedy, one prompt (cache prefix, no mask), equals CPU re-forward', (kv) => checkAgainstCpu('qwen2-bias', [5], 43, kv));

  it('the cache is f16 by default where the device reads halves (shader-f16), f32 elsewhere', () => {
    expect(defaultKvCache(engine)).toBe(engine.hasF16 ? 'f16' : 'f32');
  });

  it('top-k = 1 equals greedy at any temperature', async () => {
    const config = tinyConfig('llama-f16');
    const model = TransformerModel.create(engine, config, randomWeights(config, 45, true));
    const prompts = randomRows([3, 5], config.vocabSize, 4);
    const greedy = await generate(model, prompts, { maxNewTokens: NEW, temperature: 0, eosIds: [] });
    const topk = await generate(model, prompts, { maxNewTokens: NEW, temperature: 1.3, topK: 1, eosIds: [], seed: 9 });
    expect(topk.map((r) => r.tokens)).toEqual(greedy.map((r) => r.tokens));
    model.destroy();
  });

  it('stops at EOS and at stop strings, streams tokens, and aborts', async () => {
    const config = tinyConfig('llama-gqa');
    const model = TransformerModel.create(engine, config, randomWeights(config, 47));
    const prompt = [1, 10, 20];
    const [free] = await generate(model, [prompt], { maxNewTokens: NEW, temperature: 0, eosIds: [] });
    const tokens = free!.tokens;

    // EOS: the third generated token declared an end of sequence (kept, then stop).
    const [eos] = await generate(model, [prompt], { maxNewTokens: NEW, temperature: 0, eosIds: [tokens[2]!] });
    const firstEos = tokens.indexOf(tokens[2]!);
    expect(eos!.tokens).toEqual(tokens.slice(0, firstEos + 1));
    expect(eos!.finishReason).toBe('eos');

    // Stop string: one letter per token; stop at the text of tokens 3..4.
    const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(65 + (i % 26))).join('');
    const stop = decode(tokens.slice(3, 5));
    const [s] = await generate(model, [prompt], { maxNewTokens: NEW, temperature: 0, eosIds: [], stopStrings: [stop], decode });
    const at = decode(tokens).indexOf(stop);
    expect(s!.finishReason).toBe('stop');
    expect(s!.tokens).toEqual(tokens.slice(0, at + stop.length));
    expect(s!.text).toBe(decode(tokens).slice(0, at));

    // Streaming, and an abort after the second token.
    const seen: number[] = [];
    const controller = new AbortController();
    const [a] = await generate(model, [prompt], {
      maxNewTokens: NEW,
      temperature: 0,
      eosIds: [],
      signal: controller.signal,
      onToken: ({ token, index }) => {
        expect(index).toBe(seen.length);
        seen.push(token);
        if (seen.length === 2) controller.abort();
      },
    });
    expect(a!.finishReason).toBe('abort');
    expect(a!.tokens).toEqual(tokens.slice(0, 2));
    expect(seen).toEqual(a!.tokens);
    model.destroy();
  });

  it('sampling with a seed is reproducible and draws from the top-k / top-p set', async () => {
    const config = tinyConfig('gpt2');
    const weights = randomWeights(config, 53);
    const model = TransformerModel.create(engine, config, weights);
    const cpu = new CpuTransformer(config, weights);
    const opts = { maxNewTokens: 6, temperature: 0.8, topK: 5, topP: 0.9, seed: 123, eosIds: [] };
    const [a] = await generate(model, [[3, 4, 5]], opts);
    const [b] = await generate(model, [[3, 4, 5]], opts);
    expect(a!.tokens).toEqual(b!.tokens);
    expect(a!.tokens.length).toBe(6);
    const seq = [3, 4, 5];
    for (const token of a!.tokens) {
      const logits = cpu.logits({ B: 1, T: seq.length, ids: Int32Array.from(seq), mask: null }, [seq.length - 1]);
      expect(samplingDistribution(logits, opts).ids).toContain(token);
      seq.push(token);
    }
    model.destroy();
  });

  /**
   * Batched = alone, for a fixed seed: each row draws from its own generator (rowSeeds) and its
   * keys sit at the slots they would have alone, so every row's logits are bit for bit those of
   * the row generated alone, and its sampled tokens the same: K candidates of one prompt, and
   * prompts of different lengths (padding) in one batch. Repetition penalty and min-p on.
   */
  it.each(['llama-gqa', 'gpt2'] as const)('%s: batched K-candidate sampling with per-row seeds equals each row generated alone', async (name) => {
    const config = tinyConfig(name);
    const V = config.vocabSize;
    const model = TransformerModel.create(engine, config, randomWeights(config, 61));
    const [short, long] = randomRows([3, 9], V, 62);
    const prompts = [short!, short!, short!, short!, long!, long!];
    const rowSeeds = [11, 12, 13, 14, 15, 16];
    // 22 new tokens: the short rows cross a 16-key attention block at another step than when padded.
    const opts = { maxNewTokens: 22, temperature: 1.2, topP: 0.95, minP: 0.02, repetitionPenalty: 1.3, eosIds: [] };
    const batchedLogits: Float32Array[] = [];
    const batched = await generate(model, prompts, { ...opts, rowSeeds, onLogits: (l) => batchedLogits.push(l.slice()) });
    // The four candidates of the short prompt differ: the seeds do matter.
    expect(new Set(batched.slice(0, 4).map((r) => r.tokens.join(','))).size).toBeGreaterThan(1);
    for (const [b, p] of prompts.entries()) {
      const steps: Float32Array[] = [];
      const [alone] = await generate(model, [p], { ...opts, rowSeeds: [rowSeeds[b]!], onLogits: (l) => steps.push(l.slice()) });
      expect(batched[b]!.tokens, `row ${b}`).toEqual(alone!.tokens);
      steps.forEach((w, s) => {
        const got = batchedLogits[s]!.subarray(b * V, (b + 1) * V);
        let diff = 0;
        for (let i = 0; i < V; i++) diff = Math.max(diff, Math.abs(got[i]! - w[i]!));
        expect(diff, `row ${b} step ${s}: max |batched - alone| of the logits`).toBe(0);
      });
    }
    model.destroy();
  });

  it('repetition penalty: greedy with a penalty equals CPU re-forward with HF\'s penalty on the prompt and the tokens so far', async () => {
    const config = tinyConfig('llama-gqa');
    const weights = randomWeights(config, 67);
    const model = TransformerModel.create(engine, config, weights);
    const cpu = new CpuTransformer(config, weights);
    const prompt = randomRows([4], config.vocabSize, 68)[0]!;
    const [got] = await generate(model, [prompt], { maxNewTokens: NEW, temperature: 0, repetitionPenalty: 5, eosIds: [] });
    const seq = [...prompt];
    const kvCache = defaultKvCache(engine);
    for (let s = 0; s < NEW; s++) {
      const logits = cpu.logits({ B: 1, T: seq.length, ids: Int32Array.from(seq), mask: null }, [seq.length - 1], { kvCache, prefillLength: prompt.length });
      applyRepetitionPenalty(logits, seq, 5);
      seq.push(argmax(logits));
    }
    expect(got!.tokens).toEqual(seq.slice(prompt.length));
    // The penalty changes the greedy path here (else the check above says little).
    const [plain] = await generate(model, [prompt], { maxNewTokens: NEW, temperature: 0, eosIds: [] });
    expect(plain!.tokens).not.toEqual(got!.tokens);
    model.destroy();
  });
});

