// The fuzz harness itself: an importer stuck in a synchronous endless loop on one input is
// reported as a hang with that input, and the pass finishes the rest in a fresh worker.
import { afterAll, describe, expect, it } from 'vitest';
import { FuzzLog, fuzzInWorkers, liveFuzzWorkers, Rng, stopFuzzWorkers } from '../support/fuzz.js';
import { toyPlan } from './hang.plan.js';

afterAll(stopFuzzWorkers);

describe('fuzz harness', () => {
  it('reports exactly the input an importer loops forever on as a hang, and runs the others', { timeout: 30_000 }, async () => {
    const n = 12;
    const loopAt = 5;
    const limitMs = 200;
    const log = new FuzzLog('toy importer');
    const { workers } = await fuzzInWorkers({ module: new URL('./hang.plan.ts', import.meta.url), plan: 'toyPlan', args: { loopAt }, seed: 42, n, limitMs, log });

    // The same inputs made here (same seed): what the other n - 1 should have given.
    const make = toyPlan(limitMs, { loopAt });
    const rng = new Rng(42);
    const cases = Array.from({ length: n }, (_, i) => make(rng, i));
    const others = await Promise.all(cases.filter((_, i) => i !== loopAt).map((c) => c.run()));
    const expected = new FuzzLog('toy importer');
    for (const o of others) expected.record('', o!, () => '');

    expect(log.tried).toBe(n);
    expect(log.bugs).toHaveLength(1);
    const bug = log.bugs[0]!;
    expect(bug.what).toContain(`${cases[loopAt]!.what} [input ${loopAt}; replay: new Rng(`);
    expect(bug.why).toMatch(/^hang: no answer in \d+ ms/);
    expect(bug.input).toBe(cases[loopAt]!.show());
    // The fresh worker went on from the right Rng state: the others' outcomes are those expected.
    expect(log.accepted).toBe(expected.accepted);
    expect(log.reasons).toEqual(expected.reasons);
    expect(log.summary()).toMatch(new RegExp(`^\\[fuzz\\] toy importer: ${n} inputs tried, .* 1 bugs; slowest \\d+ ms`));
    expect(workers).toBe(2);
    expect(liveFuzzWorkers()).toBe(0);
  });

  it('reports the inputs that pass the memory ceiling (a big buffer; a heap that fills its cap) and runs the others', { timeout: 60_000 }, async () => {
    const n = 8;
    const log = new FuzzLog('toy importer');
    const { workers } = await fuzzInWorkers({
      module: new URL('./hang.plan.ts', import.meta.url),
      plan: 'toyPlan',
      args: { loopAt: -1, bufferAt: 2, heapAt: 5 },
      seed: 7,
      n,
      limitMs: 20_000,
      memoryMb: 128,
      log,
    });
    expect(log.tried).toBe(n);
    expect(log.bugs.map((b) => [b.what.match(/^case (\d+)/)?.[1], b.why.replace(/\d+ MB/g, 'N MB')])).toEqual([
      ['2', 'memory: the input took N MB (ceiling N MB)'],
      ['5', "memory: the input filled the worker's N MB heap cap (ceiling N MB per input)"],
    ]);
    expect(log.accepted + log.refused).toBe(n - 2);
    // The 256 MB buffer, give or take what the sampler's baseline held when it was taken.
    expect(log.largestMb).toBeGreaterThan(250);
    expect(workers).toBe(2);
    expect(liveFuzzWorkers()).toBe(0);
  });
});
