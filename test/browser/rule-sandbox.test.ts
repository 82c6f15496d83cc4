// The browser's rule sandbox (src/services/rule-sandbox.ts + src/worker/rule.worker.ts) in
// Chromium: a rule that loops forever is terminated at its time limit and reported, one that
// throws is reported with the candidate, and the Worker has no network, storage or timers to use.
import { describe, expect, it } from 'vitest';
import { browserRuleSandbox } from '../../src/services/rule-sandbox.js';
import { RuleError } from '../../src/engine/loop/rules.js';

const inputs = [{ response: ' a hopeful day', prompt: 'p' }, { response: ' rain', prompt: 'p' }];

describe('browser rule sandbox', () => {
  it('scores with a rule', async () => {
    expect(await browserRuleSandbox.run('return response.length;', inputs, 2000)).toEqual([14, 5]);
    expect(await browserRuleSandbox.run('return response.includes("hope");', inputs, 2000)).toEqual([true, false]);
  });

  it('stops a rule that loops forever at its time limit and reports it; the page goes on', async () => {
    const t0 = performance.now();
    const e = await browserRuleSandbox.run('for (;;) {}', inputs, 300).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RuleError);
    expect((e as RuleError).code).toBe('timeout');
    expect((e as Error).message).toMatch(/time limit of 300 ms .*stopped/);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(await browserRuleSandbox.run('return 1;', inputs, 2000)).toEqual([1, 1]);
  });

  it('reports a rule that throws, naming the candidate, and one that does not compile', async () => {
    const e = (await browserRuleSandbox.run('if (response === " rain") throw new Error("wet"); return 1;', inputs, 2000).catch((x: unknown) => x)) as RuleError;
    expect(e).toBeInstanceOf(RuleError);
    expect(e.candidate).toBe(1);
    expect(e.message).toMatch(/threw: wet/);
    const s = (await browserRuleSandbox.run('return (', inputs, 2000).catch((x: unknown) => x)) as RuleError;
    expect(s).toBeInstanceOf(RuleError);
    expect(s.candidate).toBeNull();
  });

  it('gives the rule no network, storage, timers or workers', async () => {
    const names = ['fetch', 'XMLHttpRequest', 'WebSocket', 'indexedDB', 'caches', 'setTimeout', 'Worker', 'importScripts', 'postMessage'];
    const src = `return [${names.map((n) => `typeof ${n} === 'undefined'`).join(', ')}].every(Boolean);`;
    expect(await browserRuleSandbox.run(src, inputs.slice(0, 1), 2000)).toEqual([true]);
    expect(await browserRuleSandbox.run('return typeof self.fetch === "undefined" && typeof globalThis.indexedDB === "undefined";', inputs.slice(0, 1), 2000)).toEqual([true]);
  });
});
