// CPU-side token choice: greedy, temperature, top-k, top-p.
import { describe, expect, it } from 'vitest';
import { applyRepetitionPenalty, argmax, sampleToken, samplingDistribution, seededRandom } from '../../src/engine/transformer/sampling.js';
import { randn } from '../support/numeric.js';

const softmax = (x: number[]) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('sampling', () => {
  it('greedy is the argmax, first index on ties', () => {
    expect(argmax([0.1, 3, -2, 3])).toBe(1);
    const logits = randn(37, 1);
    expect(sampleToken(logits, { temperature: 0 }, () => 0.999)).toBe(argmax(logits));
  });

  it('top-k = 1 is greedy at any temperature', () => {
    const random = seededRandom(3);
    for (let s = 0; s < 20; s++) {
      const logits = randn(50, 100 + s);
      expect(sampleToken(logits, { temperature: 1.5, topK: 1 }, random)).toBe(argmax(logits));
    }
  });

  it('temperature scales logits before the softmax', () => {
    const logits = [1, 2, 0.5, -1];
    const { ids, probs } = samplingDistribution(logits, { temperature: 2 });
    const want = softmax(logits.map((x) => x / 2));
    ids.forEach((id, i) => expect(probs[i]).toBeCloseTo(want[id]!, 12));
    expect(ids).toEqual([1, 0, 2, 3]);
  });

  it('top-k keeps the k largest, renormalized', () => {
    const logits = [1, 2, 0.5, -1, 3];
    const { ids, probs } = samplingDistribution(logits, { topK: 2 });
    expect(ids).toEqual([4, 1]);
    const want = softmax([3, 2]);
    expect(probs[0]).toBeCloseTo(want[0]!, 12);
    expect(probs[1]).toBeCloseTo(want[1]!, 12);
  });

  it('top-p keeps the smallest head reaching p (the crossing token included)', () => {
    // Probabilities 0.5, 0.3, 0.15, 0.05 (logits are their logs).
    const logits = [0.15, 0.5, 0.05, 0.3].map(Math.log);
    expect(samplingDistribution(logits, { topP: 0.5 }).ids).toEqual([1]);
    expect(samplingDistribution(logits, { topP: 0.6 }).ids).toEqual([1, 3]);
    expect(samplingDistribution(logits, { topP: 0.9 }).ids).toEqual([1, 3, 0]);
    const { probs } = samplingDistribution(logits, { topP: 0.6 });
    expect(probs[0]).toBeCloseTo(0.5 / 0.8, 12);
  });

  it('draws follow the distribution (chi-square over 20000 draws)', () => {
    const logits = [0.2, -0.4, 1.1, 0.0, -2.0];
    const p = softmax(logits);
    const counts = new Array(5).fill(0) as number[];
    const random = seededRandom(42);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 1 }, random)]! += 1;
    const chi2 = counts.reduce((s, c, i) => s + (c - n * p[i]!) ** 2 / (n * p[i]!), 0);
    // 4 degrees of freedom: P(chi2 > 18.5) ≈ 0.001.
    expect(chi2).toBeLessThan(18.5);
  });

  it('the seeded generator is reproducible', () => {
    const a = seededRandom(7), b = seededRandom(7);
    for (let i = 0; i < 5; i++) expect(a()).toBe(b());
  });
});

describe('min-p and repetition penalty (Hugging Face semantics)', () => {
  it('min-p keeps the tokens at least min_p times as likely as the top one, after top-k and top-p', () => {
    // Probabilities 0.5, 0.3, 0.15, 0.05.
    const logits = [0.15, 0.5, 0.05, 0.3].map(Math.log);
    expect(samplingDistribution(logits, { minP: 0.5 }).ids).toEqual([1, 3]); // 0.3 >= 0.25, 0.15 < 0.25
    expect(samplingDistribution(logits, { minP: 0.3 }).ids).toEqual([1, 3, 0]); // 0.15 >= 0.15
    expect(samplingDistribution(logits, { minP: 0.99 }).ids).toEqual([1]);
    const { probs } = samplingDistribution(logits, { minP: 0.5 });
    expect(probs[0]).toBeCloseTo(0.5 / 0.8, 12);
    // After top-p 0.9 (three tokens) a min-p of 0.1 removes nothing more; of 0.31, the third.
    expect(samplingDistribution(logits, { topP: 0.9, minP: 0.1 }).ids).toEqual([1, 3, 0]);
    expect(samplingDistribution(logits, { topP: 0.9, minP: 0.31 }).ids).toEqual([1, 3]);
  });

  it('the repetition penalty divides positive logits of seen tokens and multiplies negative ones, once per token', () => {
    const logits = Float32Array.from([2, -1, 0.5, 3]);
    applyRepetitionPenalty(logits, [0, 1, 1, 0, 7], 2);
    expect([...logits]).toEqual([1, -2, 0.5, 3]);
    const same = Float32Array.from([2, -1]);
    applyRepetitionPenalty(same, [0, 1], 1);
    expect([...same]).toEqual([2, -1]);
  });
});
