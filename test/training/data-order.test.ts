// Data order: seeded, repeatable, a permutation per epoch, resumable from the step number alone.
import { describe, expect, it } from 'vitest';
import { DataOrder, Rng, permutation } from '../../src/engine/training/data-order.js';

describe('data order', () => {
  it('the PRNG is repeatable and its state resumes the sequence', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const xs = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xs);
    const saved = JSON.parse(JSON.stringify(a.state)) as number[];
    const next = Array.from({ length: 5 }, () => a.next());
    const resumed = new Rng(saved);
    expect(Array.from({ length: 5 }, () => resumed.next())).toEqual(next);
    expect(new Rng(8).nextU32()).not.toBe(new Rng(7).nextU32());
    expect(() => new Rng([1, 2, 3])).toThrow(/four 32-bit/);
  });

  it('int() is roughly uniform', () => {
    const r = new Rng(1);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
  });

  it('each epoch is a permutation, different per epoch and per seed, the same per (seed, epoch)', () => {
    const o = new DataOrder({ seed: 3, examples: 10, batchSize: 3, gradAccum: 2 });
    const e0 = Array.from(o.epochOrder(0));
    expect([...e0].sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    expect(Array.from(o.epochOrder(1))).not.toEqual(e0);
    expect(Array.from(new DataOrder({ seed: 4, examples: 10, batchSize: 3, gradAccum: 2 }).epochOrder(0))).not.toEqual(e0);
    expect(Array.from(new DataOrder({ seed: 3, examples: 10, batchSize: 3, gradAccum: 2 }).epochOrder(0))).toEqual(e0);
    expect(Array.from(permutation(1, new Rng(1)))).toEqual([0]);
  });

  it('steps cover each epoch once, in micro-batches, with a short last step', () => {
    const o = new DataOrder({ seed: 11, examples: 10, batchSize: 3, gradAccum: 2 });
    // 10 examples / 3 -> 4 micro-batches (3, 3, 3, 1) -> 2 steps per epoch.
    expect(o.stepsPerEpoch).toBe(2);
    const s0 = o.plan(0);
    const s1 = o.plan(1);
    expect(s0.microBatches.map((m) => m.length)).toEqual([3, 3]);
    expect(s1.microBatches.map((m) => m.length)).toEqual([3, 1]);
    expect([...s0.microBatches.flat(), ...s1.microBatches.flat()]).toEqual(Array.from(o.epochOrder(0)));
    const s2 = o.plan(2);
    expect(s2.epoch).toBe(1);
    expect(s2.microBatches.flat()).toEqual(Array.from(o.epochOrder(1)).slice(0, 6));
    // A fresh order (a resumed run) plans the same step identically.
    expect(new DataOrder(o.settings).plan(5)).toEqual(o.plan(5));
    expect(o.epochAfter(3)).toBe(1.5);
  });

  it('without shuffling, dataset order', () => {
    const o = new DataOrder({ seed: 1, examples: 5, batchSize: 2, gradAccum: 1, shuffle: false });
    expect([0, 1, 2].map((s) => o.plan(s).microBatches)).toEqual([[[0, 1]], [[2, 3]], [[4]]]);
  });
});
