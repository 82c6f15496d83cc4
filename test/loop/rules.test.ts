// Rule judges: the built-in rules score as written; the demo's tone lexicon is a words rule; a
// JavaScript rule runs in the Node sandbox (a worker thread with a bare vm context) without files,
// modules, process or network; a rule that loops forever, throws or returns something else is
// stopped and reported with its candidate set and candidate, and the judgements made before it stay.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeRuleSandbox } from '../../src/cli/rule-sandbox.js';
import { RuleSpecSchema, type RuleSpecInput } from '../../src/engine/loop/config.js';
import { judgeWithRule, RuleError, scoreWithRule, wordCounts, wordsRuleFromLexicon, type Lexicon } from '../../src/engine/loop/rules.js';
import { toneWords } from '../../scripts/demo-model/tone.js';

const rule = (r: RuleSpecInput) => RuleSpecSchema.parse(r);
const inputs = (...responses: string[]) => responses.map((response) => ({ response, prompt: 'Life is' }));
const lexicon = JSON.parse(readFileSync(new URL('../../scripts/demo-model/tone-lexicon.json', import.meta.url), 'utf8')) as Lexicon;

describe('built-in rules', () => {
  it('regex (match, negate, count), length (characters, words) and words score as written', async () => {
    expect(await scoreWithRule(rule({ type: 'regex', pattern: 'good|kind', flags: 'i' }), inputs('A Good day', 'a bad day'))).toEqual([1, 0]);
    expect(await scoreWithRule(rule({ type: 'regex', pattern: 'bad', negate: true }), inputs('good', 'bad'))).toEqual([1, 0]);
    expect(await scoreWithRule(rule({ type: 'regex', pattern: 'o', score: 'count' }), inputs('good food', 'x'))).toEqual([4, 0]);
    expect(await scoreWithRule(rule({ type: 'length', min: 2, max: 5 }), inputs('a', 'abcde', 'abcdef'))).toEqual([0, 1, 0]);
    expect(await scoreWithRule(rule({ type: 'length', max: 2, unit: 'words' }), inputs(' one  two ', 'one two three'))).toEqual([1, 0]);
    expect(await scoreWithRule(rule({ type: 'words', good: ['Good'], bad: ['bad'] }), inputs('good GOOD goodness', "bad, bad's bad"))).toEqual([2, -2]);
  });

  it('the demo tone lexicon as a words rule counts what scripts/demo-model/tone.ts counts', async () => {
    const tone = wordsRuleFromLexicon(lexicon);
    expect(tone).toMatchObject({ type: 'words', name: 'tone' });
    const texts = ['A good friend is always a friend.', 'War and hate, never peace; the worst of times.', "He's happy but afraid of the dark night.", ''];
    const scores = await scoreWithRule(tone, inputs(...texts));
    texts.forEach((t, i) => {
      const w = toneWords(t);
      expect(scores[i], t).toBe(w.hopeful - w.gloomy);
      expect(wordCounts(tone as Extract<typeof tone, { type: 'words' }>, t)).toEqual({ good: w.hopeful, bad: w.gloomy });
    });
    expect(scores[0]).toBeGreaterThan(0);
    expect(scores[1]).toBeLessThan(0);
  });
});

describe('JavaScript rules in the Node sandbox', () => {
  const js = (source: string, timeoutMs = 2000) => rule({ type: 'javascript', name: 'js', source, timeoutMs });

  it('scores numbers and booleans from the response and the prompt', async () => {
    const r = js('return response.length > 3 ? response.split(" ").length : prompt === "Life is"');
    expect(await scoreWithRule(r, inputs('one two three', 'ab'), nodeRuleSandbox)).toEqual([3, 1]);
  });

  it.each([
    ['require', 'return require("node:fs").readFileSync("/etc/passwd").length'],
    ['process', 'return process.pid'],
    ['fetch', 'fetch("http://127.0.0.1/"); return 1'],
    ['import', 'return import("node:fs")'],
    ['a Function built from a string', 'return this.constructor.constructor("return process")().pid'],
    ['timers', 'setTimeout(() => {}, 1); return 1'],
  ])('has no %s: the rule throws and is reported', async (_what, source) => {
    const e = await scoreWithRule(js(source), inputs('x'), nodeRuleSandbox).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RuleError);
    expect((e as RuleError).code === 'threw' || (e as RuleError).code === 'bad-result').toBe(true);
  });

  it('a rule that loops forever is stopped at its time limit', async () => {
    const t0 = performance.now();
    const e = await scoreWithRule(js('while (true) {}', 300), inputs('x'), nodeRuleSandbox).catch((x: unknown) => x);
    const ms = performance.now() - t0;
    expect(e).toBeInstanceOf(RuleError);
    expect((e as RuleError).code).toBe('timeout');
    expect((e as Error).message).toMatch(/time limit of 300 ms/);
    expect(ms).toBeLessThan(10_000);
  });

  it('a rule that returns neither a number nor a boolean is reported with the candidate', async () => {
    const e = await scoreWithRule(js('return response === "b" ? "yes" : 1'), inputs('a', 'b'), nodeRuleSandbox).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'bad-result', candidate: 1 });
    expect((e as Error).message).toMatch(/candidate 2: it must return a finite number or true\/false/);
  });

  it('judging stops at the failing set; the judgements before it were handed over and are kept', async () => {
    const sets = ['ok', 'fine', 'boom', 'never judged'].map((p) => ({ prompt: p, responses: [`${p} a`, `${p} bb`] }));
    const kept: number[] = [];
    const r = js('if (prompt === "boom") throw new Error("no boom allowed"); return response.length');
    const e = await judgeWithRule(r, sets, { sandbox: nodeRuleSandbox, onJudged: (i) => void kept.push(i) }).catch((x: unknown) => x);
    expect(kept).toEqual([0, 1]);
    expect(e).toMatchObject({ code: 'threw', set: 2, candidate: 0 });
    expect((e as Error).message).toMatch(/rule "js", candidate set 3, candidate 1: the rule threw: no boom allowed/);
  });
});
