// Rule judges: a score for each candidate from a rule the person writes (config.ts RuleSpec).
//
//   regex       1 when the response matches (0 when it does not; negate swaps), or the number of
//               matches ('count')
//   words       good words minus bad words, whole words, case-insensitive: the demo's tone lexicon
//               (scripts/demo-model/tone-lexicon.json) is one, through wordsRuleFromLexicon
//   length      1 within [min, max] characters or words, else 0
//   javascript  the body of `function (response, prompt)` returning a number or a boolean, run in
//               a sandbox the caller supplies (src/worker/rule-sandbox.ts in the browser: a
//               Worker without network or storage; src/cli/rule-sandbox.ts in Node: a worker
//               thread with a bare vm context), stopped after timeoutMs per candidate set. A rule
//               that throws, loops or returns something else stops the judging with a RuleError
//               naming the candidate set and the candidate; the judgements made before it stay.

import { promptText } from '../model/prompt.js';
import type { CandidatesRecord, Judgement, Turns } from '../../data/records.js';
import type { RuleSpec, RuleSpecInput } from './config.js';
import { RuleSpecSchema } from './config.js';

export interface RuleInput {
  response: string;
  prompt: string;
}

/** Runs a JavaScript rule on inputs; resolves with one raw result per input, or rejects with a RuleError. */
export interface RuleSandbox {
  run(source: string, inputs: readonly RuleInput[], timeoutMs: number): Promise<unknown[]>;
}

export type RuleErrorCode = 'timeout' | 'threw' | 'bad-result' | 'no-sandbox';

/** A rule that could not score: it threw, ran past its time limit, or returned neither a number nor a boolean. */
export class RuleError extends Error {
  override readonly name = 'RuleError';
  constructor(
    readonly code: RuleErrorCode,
    message: string,
    /** The candidate (0-based) it failed on, when known. */
    readonly candidate: number | null = null,
    /** The candidate set (its index among those judged), when known. */
    readonly set: number | null = null,
  ) {
    super(message);
  }
}

/** The text a rule sees of a response: text as it is; a conversation's messages joined by newlines. */
export function turnsText(t: Turns): string {
  return typeof t === 'string' ? t : t.map((m) => m.content).join('\n');
}

const WORDS = /[\p{L}']+/gu;

function words(text: string): string[] {
  return text.toLowerCase().match(WORDS) ?? [];
}

/** A raw rule result as a score: a finite number as it is, true 1, false 0; anything else a RuleError. */
export function ruleScore(value: unknown, candidate: number): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new RuleError('bad-result', `the rule returned ${describe(value)} for candidate ${candidate + 1}: it must return a finite number or true/false`, candidate);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (undefined)';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `text ${JSON.stringify(v.slice(0, 40))}`;
  return v === null ? 'null' : typeof v;
}

/** Scores without a sandbox (every rule type but javascript). */
export function scoreBuiltin(rule: Exclude<RuleSpec, { type: 'javascript' }>, response: string): number {
  switch (rule.type) {
    case 'regex': {
      if (rule.score === 'count') return (response.match(new RegExp(rule.pattern, rule.flags.includes('g') ? rule.flags : `${rule.flags}g`)) ?? []).length;
      const hit = new RegExp(rule.pattern, rule.flags).test(response);
      return hit !== rule.negate ? 1 : 0;
    }
    case 'words': {
      const good = new Set(rule.good.map((w) => w.toLowerCase()));
      const bad = new Set(rule.bad.map((w) => w.toLowerCase()));
      let score = 0;
      for (const w of words(response)) score += (good.has(w) ? 1 : 0) - (bad.has(w) ? 1 : 0);
      return score;
    }
    case 'length': {
      const n = rule.unit === 'words' ? response.trim().split(/\s+/).filter(Boolean).length : [...response].length;
      return (rule.min === undefined || n >= rule.min) && (rule.max === undefined || n <= rule.max) ? 1 : 0;
    }
  }
}

/** Good and bad word counts of a words rule in `text` (the demo's hopeful and gloomy words). */
export function wordCounts(rule: Extract<RuleSpec, { type: 'words' }>, text: string): { good: number; bad: number } {
  const good = new Set(rule.good.map((w) => w.toLowerCase()));
  const bad = new Set(rule.bad.map((w) => w.toLowerCase()));
  let g = 0;
  let b = 0;
  for (const w of words(text)) {
    if (good.has(w)) g++;
    if (bad.has(w)) b++;
  }
  return { good: g, bad: b };
}

/** Scores the candidates of one set. */
export async function scoreWithRule(rule: RuleSpec, inputs: readonly RuleInput[], sandbox?: RuleSandbox): Promise<number[]> {
  if (rule.type !== 'javascript') return inputs.map((x) => scoreBuiltin(rule, x.response));
  if (!sandbox) throw new RuleError('no-sandbox', 'a JavaScript rule needs a sandbox to run in');
  const raw = await sandbox.run(rule.source, inputs, rule.timeoutMs);
  if (raw.length !== inputs.length) throw new RuleError('bad-result', `the sandbox returned ${raw.length} results for ${inputs.length} candidates`);
  return raw.map((v, i) => ruleScore(v, i));
}

/** A rule's inputs for a candidate set: each response's text and the prompt's text (system first). */
export function ruleInputs(set: Pick<CandidatesRecord, 'prompt' | 'system' | 'responses'>): RuleInput[] {
  const prompt = promptText({ prompt: set.prompt, ...(set.system !== undefined ? { system: set.system } : {}) });
  return set.responses.map((r) => ({ response: turnsText(r), prompt }));
}

/**
 * Judges candidate sets with a rule, one judgement per set in order; `onJudged` gets each as it
 * is made (store it). A RuleError names the set (its index among `sets`) it stopped at.
 */
export async function judgeWithRule(
  rule: RuleSpec,
  sets: readonly Pick<CandidatesRecord, 'prompt' | 'system' | 'responses'>[],
  options: { sandbox?: RuleSandbox; now?: () => number; onJudged?: (index: number, j: Judgement) => void | Promise<void>; signal?: AbortSignal } = {},
): Promise<Judgement[]> {
  const out: Judgement[] = [];
  for (const [i, set] of sets.entries()) {
    if (options.signal?.aborted) break;
    let scores: number[];
    try {
      scores = await scoreWithRule(rule, ruleInputs(set), options.sandbox);
    } catch (e) {
      if (e instanceof RuleError) throw new RuleError(e.code, `rule "${rule.name}", candidate set ${i + 1}${e.candidate !== null ? `, candidate ${e.candidate + 1}` : ''}: ${e.message}`, e.candidate, i);
      throw e;
    }
    const j: Judgement = { judge: 'rule', name: rule.name, scores, at: (options.now ?? Date.now)() };
    out.push(j);
    await options.onJudged?.(i, j);
  }
  return out;
}

/** A tone lexicon as tone-lexicon.json holds it: antonym pairs [hopeful, gloomy] and extra word lists. */
export interface Lexicon {
  antonyms: [string, string][];
  positive?: string[];
  negative?: string[];
}

export function isLexicon(v: unknown): v is Lexicon {
  return typeof v === 'object' && v !== null && Array.isArray((v as Lexicon).antonyms);
}

/** A words rule from a lexicon: the first word of each antonym pair and `positive` are good; the second and `negative` bad. */
export function wordsRuleFromLexicon(lexicon: Lexicon, name = 'tone'): RuleSpec {
  return RuleSpecSchema.parse({
    type: 'words',
    name,
    good: [...lexicon.antonyms.map(([g]) => g), ...(lexicon.positive ?? [])],
    bad: [...lexicon.antonyms.map(([, b]) => b), ...(lexicon.negative ?? [])],
  } satisfies RuleSpecInput);
}
