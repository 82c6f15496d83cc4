// TRL-style sequence log-probs on the GPU (chunked LM head + logprobs kernel) against the CPU
// reference (full logits, explicit shift and masking), plus checks of the semantics themselves.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { CpuTransformer } from '../../src/engine/transformer/cpu-reference.js';
import { sequenceLogprobs, type SequencePair } from '../../src/engine/transformer/logprobs.js';
import { expectClose } from '../support/numeric.js';
import { randomRows, randomWeights, tinyConfig } from './fixtures.js';

// Sums of up to 6 log-probs of magnitude ~4 each, every one carrying the forward's error
// (~2e-6 measured on logits, see forward.test.ts) plus the f32 logsumexp: 2e-4 absolute leaves
// a wide margin; a shift by one position or a scored prompt token changes logp by units.
const TOL = { atol: 2e-4, rtol: 1e-5 };

function pairs(V: number): SequencePair[] {
  const [p0, c0, p1, c1, c2, p3, c3] = randomRows([3, 4, 1, 6, 2, 5, 1], V, 21);
  return [
    { promptIds: p0!, completionIds: c0! },
    { promptIds: p1!, completionIds: c1! },
    { promptIds: [], completionIds: c2! }, // the first completion token is not scored
    { promptIds: p3!, completionIds: c3! },
    { promptIds: p0!, completionIds: [] }, // nothing to score
  ];
}

function fields(r: { logp: number; tokens: number; meanLogit: number; alignedMean: number }[]) {
  return {
    logp: r.map((x) => x.logp),
    tokens: r.map((x) => x.tokens),
    meanLogit: r.map((x) => x.meanLogit),
    alignedMean: r.map((x) => x.alignedMean),
  };
}

describe('sequence log-probs', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(['llama-gqa', 'gpt2'] as const)('%s: GPU matches the CPU reference, in one chunk and in chunks of 2 rows', async (name) => {
    const engine = await testEngine();
    const config = tinyConfig(name);
    const weights = randomWeights(config, 31);
    const model = TransformerModel.create(engine, config, weights);
    const cpu = new CpuTransformer(config, weights);
    const batch = pairs(config.vocabSize);
    const want = fields(cpu.sequenceLogprobs(batch));
    expect(want.tokens).toEqual([4, 6, 1, 1, 0]);
    for (const chunkRows of [undefined, 2]) {
      const got = fields(await sequenceLogprobs(model, batch, { chunkRows }));
      expect(got.tokens).toEqual(want.tokens);
      expectClose(got.logp, want.logp, { ...TOL, what: `${name} logp (chunk ${chunkRows ?? 'all'})` });
      expectClose(got.meanLogit, want.meanLogit, { atol: 2e-5, rtol: 1e-5, what: `${name} meanLogit` });
      // A mean of per-token logp - log Σp²: the logp error and as much again from log Σp².
      expectClose(got.alignedMean, want.alignedMean, { ...TOL, what: `${name} alignedMean` });
    }
    expect(want.alignedMean[4]).toBe(0); // nothing scored
    model.destroy();
  });

  it('LD-DPO tail weights: GPU matches the CPU reference; weight 1 is no tail, weight 0 truncates', async () => {
    const engine = await testEngine();
    const config = tinyConfig('llama-gqa');
    const weights = randomWeights(config, 31);
    const model = TransformerModel.create(engine, config, weights);
    const cpu = new CpuTransformer(config, weights);
    const plain = pairs(config.vocabSize);
    const tails = [{ from: 2, weight: 0.3 }, { from: 0, weight: 0.3 }, { from: 0, weight: 0.3 }, { from: 1, weight: 0.3 }, { from: 0, weight: 0.3 }];
    const batch = plain.map((p, b) => ({ ...p, tail: tails[b]! }));
    const want = fields(cpu.sequenceLogprobs(batch));
    const got = fields(await sequenceLogprobs(model, batch, { chunkRows: 3 }));
    expectClose(got.logp, want.logp, { ...TOL, what: 'tail logp' });
    // Counts, mean logits and aligned means are unweighted.
    const none = fields(cpu.sequenceLogprobs(plain));
    expect(got.tokens).toEqual(none.tokens);
    expectClose(want.meanLogit, none.meanLogit, { atol: 0, rtol: 0, what: 'meanLogit' });
    expectClose(want.alignedMean, none.alignedMean, { atol: 0, rtol: 0, what: 'alignedMean' });
    // Row 2 (empty prompt) scores one token, its tail from 0: 0.3 times; row 3's single token is shared.
    expect(want.logp[2]).toBeCloseTo(0.3 * none.logp[2]!, 5);
    expect(want.logp[3]).toBe(none.logp[3]);
    const one = fields(await sequenceLogprobs(model, plain.map((p) => ({ ...p, tail: { from: 0, weight: 1 } }))));
    expectClose(one.logp, fields(await sequenceLogprobs(model, plain)).logp, { atol: 0, rtol: 0, what: 'weight 1' });
    // Weight 0: the first `from` scored tokens of row 0 alone (a causal model ignores the rest).
    const zero = fields(await sequenceLogprobs(model, [{ ...plain[0]!, tail: { from: 2, weight: 0 } }]));
    const cut = fields(await sequenceLogprobs(model, [{ ...plain[0]!, completionIds: plain[0]!.completionIds.slice(0, 2) }]));
    expectClose(zero.logp, cut.logp, TOL);
    model.destroy();
  });

  it('scores completion tokens with the logits of the position before (CPU reference)', () => {
    const config = tinyConfig('llama-gqa');
    const cpu = new CpuTransformer(config, randomWeights(config, 5));
    const V = config.vocabSize;
    const seq = [1, 9, 14, 22, 5];
    const logits = cpu.logits({ B: 1, T: 5, ids: Int32Array.from(seq), mask: null });
    const logSoftmax = (t: number, id: number) => {
      const row = Array.from(logits.subarray(t * V, (t + 1) * V));
      const m = Math.max(...row);
      return row[id]! - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    };
    const [r] = cpu.sequenceLogprobs([{ promptIds: seq.slice(0, 2), completionIds: seq.slice(2) }]);
    expect(r!.tokens).toBe(3);
    expect(r!.logp).toBeCloseTo(logSoftmax(1, 14) + logSoftmax(2, 22) + logSoftmax(3, 5), 4);
    const mean = (t: number) => logits.subarray(t * V, (t + 1) * V).reduce((s, x) => s + x, 0) / V;
    expect(r!.meanLogit).toBeCloseTo((mean(1) + mean(2) + mean(3)) / 3, 5);
  });

  it('a row scores the same alone and in a padded batch (GPU)', async () => {
    const engine = await testEngine();
    const config = tinyConfig('qwen2-bias');
    const model = TransformerModel.create(engine, config, randomWeights(config, 8));
    const batch = pairs(config.vocabSize);
    const together = await sequenceLogprobs(model, batch);
    const alone = await sequenceLogprobs(model, [batch[2]!]);
    expect(alone[0]!.tokens).toBe(together[2]!.tokens);
    expect(Math.abs(alone[0]!.logp - together[2]!.logp)).toBeLessThan(TOL.atol);
    model.destroy();
  });
});
