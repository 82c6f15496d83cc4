// `prefstudio judge --candidates <file> --judge model|rule|reward [judge options] [pair options]
// --out pairs.jsonl`: judges candidate sets (prefstudio generate's output, or any file of
// `candidates` records) and turns the judgements into preference records (engine/loop):
//
//   --judge rule     a rule file (--rule: a RuleSpec JSON, or a lexicon like the demo's
//                    scripts/demo-model/tone-lexicon.json), or --regex / --good-words and
//                    --bad-words / --min-length and --max-length; JavaScript rules run in a
//                    sandboxed worker thread with a time limit (src/cli/rule-sandbox.ts)
//   --judge model    LLM-as-a-judge: --model (the judge), --mode pointwise|pairwise, --rubric <file>
//   --judge reward   β · log π/π_ref of --adapter against --ref-adapter (default: the base --model)
//
// Pairs: --pairs best-worst|all-gaps|rso|ranking. Ties, "every response is bad" and unscored
// candidates never become preferences. Output: PrefStudio records (pairs or rankings) as JSON
// lines, each with the candidates' provenance and the judgement (scores, and a model judge's
// prompts and raw answers); `prefstudio train --data pairs.jsonl` trains on them. --judged <file>
// also writes the candidate sets with their judgements.

import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { inflateLimitsHelp } from '../data/io/limits.js';
import type { CandidatesRecord, Judgement, PrefRecord } from '../data/records.js';
import { JudgeSpecSchema, LoopConfigError, PairsSpecSchema, parseWith, RuleSpecSchema, type JudgeSpec, type PairsSpec, type RuleSpec } from '../engine/loop/config.js';
import { judgeWithModel, modelJudgeBackend } from '../engine/loop/model-judge.js';
import { pairsFromJudgement } from '../engine/loop/pairs.js';
import { adapterRewardScorer, judgeWithReward } from '../engine/loop/reward-judge.js';
import { isLexicon, judgeWithRule, RuleError, wordsRuleFromLexicon } from '../engine/loop/rules.js';
import { LoraAdapter } from '../engine/lora/adapter.js';
import type { LoadedModel } from '../engine/model/load.js';
import { loraAdapterConfig } from '../engine/training/backend.js';
import { readSettingsText } from './input.js';
import { planOutputs, writeOutputFile } from './output.js';
import { modelInput } from './hub-model.js';
import { nodeRuleSandbox } from './rule-sandbox.js';
import { configFrom, err, openSession, readModel, readPeftAdapter, readRecords, runCommand, UsageError } from './train.js';

const USAGE = `usage: prefstudio judge --candidates <file> --judge model|rule|reward [options] --out pairs.jsonl

  --candidates <file>      candidate sets (prefstudio generate's output; records of kind "candidates")
  --judge <kind>           rule, model or reward
  --out <file>             the preference records, JSON lines (trainable with prefstudio train --data)
  --judged <file>          also write the candidate sets with their judgements
  --force                  replace existing outputs

  rule judge:
  --rule <file.json>       a rule: {"type": "regex"|"words"|"length"|"javascript", ...}, or a lexicon
                           {"antonyms": [[good, bad], ...], "positive": [...], "negative": [...]}
                           (scripts/demo-model/tone-lexicon.json): good words minus bad words
  --regex <pattern>        1 when a candidate matches, else 0 (--flags i, m, s, u)
  --good-words <a,b,...>   with --bad-words: good words minus bad words (whole words, any case)
  --bad-words <a,b,...>
  --min-length <n>         with --max-length: 1 within the bounds (characters), else 0
  --max-length <n>
  --timeout <ms>           a JavaScript rule's time limit per candidate set (default 1000)

  model judge (LLM-as-a-judge):
  --model <dir or org/name>
                           the judge model: a folder, or a Hugging Face Hub id (fetched once into
                           PREFSTUDIO_CACHE)
  --adapter <dir>          a PEFT adapter on the judge
  --mode <mode>            pointwise (a 1-5 score from its answer, default) or pairwise (A or B from
                           the next-token log-probs, positions swapped)
  --rubric <file>          the instructions (text); default: a 5-point additive rubric / A-or-B
  --max-new-tokens <n>     pointwise: tokens of the judge's answer (default 64)
  --chat-template / --no-chat-template   (default: the judge's template when it has one)

  reward judge (implicit reward, RSO):
  --model <dir or org/name>
                           the base model (a folder or a Hub id)
  --adapter <dir>          the tuned adapter whose reward scores
  --ref-adapter <dir>      its reference (default: the base model)
  --beta <b>               (default 0.1)

  pairs:
  --pairs <rule>           best-worst (default), all-gaps, rso or ranking
  --min-gap <g>            all-gaps: scores must differ by more than this (default 0)
  --rso-beta <b>           rso: the rejection sampling temperature β (default 0.5)
  --rso-samples <n>        rso: candidates accepted per set at most (default all)
  --seed <s>               rso's random draws (default 0)

${inflateLimitsHelp()}`;

export function run(args: string[]): Promise<number> {
  return runCommand('judge', USAGE, args, judgeCommand);
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got "${v}"`);
  return n;
}

function parsed<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof LoopConfigError) throw new UsageError(`${what}: ${e.message}`);
    throw e;
  }
}

/** A rule from a file: a RuleSpec, or a lexicon (a words rule named after the file). */
export async function readRule(file: string, timeoutMs?: number): Promise<RuleSpec> {
  let json: unknown;
  try {
    json = JSON.parse(await readSettingsText(file));
  } catch (e) {
    throw new UsageError(`--rule ${file}: ${(e as Error).message}`);
  }
  if (isLexicon(json)) return wordsRuleFromLexicon(json, basename(file).replace(/\.json$/, '').replace(/-lexicon$/, ''));
  const rule = parsed(`--rule ${file}`, () => parseWith(RuleSpecSchema, json));
  return rule.type === 'javascript' && timeoutMs !== undefined ? { ...rule, timeoutMs } : rule;
}

export interface JudgeContext {
  /** The model folder read (model and reward judges). */
  model?: LoadedModel;
  modelName?: string;
  adapterDir?: string;
  refAdapterDir?: string;
  tag: string;
  onJudged?: (index: number, j: Judgement) => void | Promise<void>;
}

/** Judges the sets with a judge spec (rule, model or reward; a person cannot judge here). */
export async function judgeSets(spec: JudgeSpec, sets: readonly CandidatesRecord[], ctx: JudgeContext): Promise<Judgement[]> {
  if (spec.type === 'person') throw new UsageError('a person judges in the studio (Label page); the CLI judges with a rule, a model or a reward');
  if (spec.type === 'rule') return judgeWithRule(spec.rule, sets, { sandbox: nodeRuleSandbox, ...(ctx.onJudged ? { onJudged: ctx.onJudged } : {}) });
  const m = ctx.model;
  if (!m) throw new UsageError(`--judge ${spec.type} needs --model`);
  const tok = m.tokenizer!;
  if (spec.type === 'model') {
    const lora = ctx.adapterDir ? (await readPeftAdapter(ctx.adapterDir)).lora : undefined;
    const session = await openSession(m, configFrom({ method: 'sft', ...(lora ? { lora } : {}) }), ctx.tag, ctx.adapterDir);
    try {
      if (!ctx.adapterDir) session.adapter.enabled = false;
      const backend = modelJudgeBackend(session.model, tok, { eosIds: [...new Set([...m.config.eosIds, ...tok.eosIds])] });
      return await judgeWithModel(backend, tok, sets, spec, { name: ctx.modelName ?? 'model', ...(ctx.onJudged ? { onJudged: ctx.onJudged } : {}) });
    } finally {
      session.close();
    }
  }
  // reward
  const policy = await readPeftAdapter(ctx.adapterDir ?? spec.adapter);
  const session = await openSession(m, configFrom({ method: 'sft', lora: policy.lora }), ctx.tag, ctx.adapterDir ?? spec.adapter);
  let reference: LoraAdapter | null = null;
  try {
    session.adapter.detach();
    const refDir = ctx.refAdapterDir ?? spec.reference;
    if (refDir) {
      const ref = await readPeftAdapter(refDir);
      reference = LoraAdapter.create(session.model, loraAdapterConfig(configFrom({ method: 'sft', lora: ref.lora }).lora, 0));
      reference.load(ref.tensors);
      reference.detach();
    }
    const scorer = adapterRewardScorer(session.model, session.adapter, reference);
    return await judgeWithReward(scorer, tok, sets, { beta: spec.beta, name: basename(spec.adapter), ...(ctx.onJudged ? { onJudged: ctx.onJudged } : {}) });
  } finally {
    reference?.destroy();
    session.adapter.attach();
    session.close();
  }
}

/** Pairs from judged sets, with counts of sets that gave none and why. */
export function makePairs(sets: readonly CandidatesRecord[], judgements: readonly Judgement[], spec: PairsSpec): { records: PrefRecord[]; none: Map<string, number> } {
  const records: PrefRecord[] = [];
  const none = new Map<string, number>();
  judgements.forEach((j, i) => {
    const r = pairsFromJudgement(sets[i]!, j, spec);
    records.push(...r.records);
    if (r.none) none.set(r.none, (none.get(r.none) ?? 0) + 1);
  });
  return { records, none };
}

async function judgeCommand(args: string[]): Promise<number> {
  const tag = 'judge';
  const { values: o } = parseArgs({
    args,
    strict: true,
    options: {
      candidates: { type: 'string' },
      judge: { type: 'string' },
      out: { type: 'string' },
      judged: { type: 'string' },
      force: { type: 'boolean' },
      rule: { type: 'string' },
      regex: { type: 'string' },
      flags: { type: 'string' },
      'good-words': { type: 'string' },
      'bad-words': { type: 'string' },
      'min-length': { type: 'string' },
      'max-length': { type: 'string' },
      timeout: { type: 'string' },
      model: { type: 'string' },
      adapter: { type: 'string' },
      'ref-adapter': { type: 'string' },
      mode: { type: 'string' },
      rubric: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      'chat-template': { type: 'boolean' },
      beta: { type: 'string' },
      pairs: { type: 'string' },
      'min-gap': { type: 'string' },
      'rso-beta': { type: 'string' },
      'rso-samples': { type: 'string' },
      seed: { type: 'string' },
    },
    allowNegative: true,
  });
  for (const k of ['candidates', 'judge', 'out'] as const) if (!o[k]) throw new UsageError(`--${k} is required`);
  if (!['rule', 'model', 'reward'].includes(o.judge!)) throw new UsageError(`--judge must be model, rule or reward, got "${o.judge}"`);
  const pairs = parsed('pairs', () =>
    parseWith(PairsSpecSchema, {
      ...(o.pairs !== undefined ? { rule: o.pairs } : {}),
      ...(o['min-gap'] !== undefined ? { minGap: num('--min-gap', o['min-gap']) } : {}),
      ...(o['rso-beta'] !== undefined ? { rsoBeta: num('--rso-beta', o['rso-beta']) } : {}),
      ...(o['rso-samples'] !== undefined ? { rsoSamples: num('--rso-samples', o['rso-samples']) } : {}),
      ...(o.seed !== undefined ? { seed: num('--seed', o.seed) } : {}),
    }),
  );
  let spec: JudgeSpec;
  if (o.judge === 'rule') {
    const given = [o.rule, o.regex, o['good-words'] ?? o['bad-words'], o['min-length'] ?? o['max-length']].filter((x) => x !== undefined);
    if (given.length !== 1) throw new UsageError('a rule judge takes one rule: --rule <file>, --regex, --good-words/--bad-words, or --min-length/--max-length');
    const timeout = num('--timeout', o.timeout);
    const rule = o.rule
      ? await readRule(o.rule, timeout)
      : parsed('rule', () =>
          parseWith(
            RuleSpecSchema,
            o.regex !== undefined
              ? { type: 'regex', pattern: o.regex, ...(o.flags !== undefined ? { flags: o.flags } : {}) }
              : o['good-words'] !== undefined || o['bad-words'] !== undefined
                ? { type: 'words', good: (o['good-words'] ?? '').split(',').filter(Boolean), bad: (o['bad-words'] ?? '').split(',').filter(Boolean) }
                : { type: 'length', ...(o['min-length'] !== undefined ? { min: num('--min-length', o['min-length']) } : {}), ...(o['max-length'] !== undefined ? { max: num('--max-length', o['max-length']) } : {}) },
          ),
        );
    spec = { type: 'rule', rule };
  } else if (o.judge === 'model') {
    const rubric = o.rubric ? await readSettingsText(o.rubric) : '';
    spec = parsed('model judge', () =>
      parseWith(JudgeSpecSchema, {
        type: 'model',
        ...(o.mode !== undefined ? { mode: o.mode } : {}),
        rubric,
        ...(o['max-new-tokens'] !== undefined ? { maxNewTokens: num('--max-new-tokens', o['max-new-tokens']) } : {}),
        ...(o['chat-template'] !== undefined ? { chatTemplate: o['chat-template'] } : {}),
      }),
    );
  } else {
    if (!o.adapter) throw new UsageError('--judge reward needs --adapter (the tuned adapter whose implicit reward scores)');
    spec = parsed('reward judge', () => parseWith(JudgeSpecSchema, { type: 'reward', adapter: o.adapter, ...(o['ref-adapter'] ? { reference: o['ref-adapter'] } : {}), ...(o.beta !== undefined ? { beta: num('--beta', o.beta) } : {}) }));
  }
  if (spec.type !== 'rule' && !o.model) throw new UsageError(`--judge ${spec.type} needs --model`);
  const inputs = [['--candidates', o.candidates], await modelInput(o.model), ['--adapter', o.adapter], ['--ref-adapter', o['ref-adapter']], ['--rule', o.rule], ['--rubric', o.rubric]] as const;
  const [out, judgedOut] = await planOutputs(
    [{ flag: '--out', path: o.out!, kind: 'file' }, ...(o.judged ? [{ flag: '--judged', path: o.judged, kind: 'file' as const }] : [])],
    { force: o.force === true, inputs },
  );

  const all = await readRecords(o.candidates!, tag);
  const sets = all.filter((r): r is CandidatesRecord => r.kind === 'candidates');
  if (sets.length < all.length) err(`${tag}: ${all.length - sets.length} records of ${o.candidates} are not candidate sets: left out`);
  if (sets.length === 0) throw new Error(`${o.candidates}: no candidate set (records of kind "candidates": prefstudio generate writes them)`);
  const model = spec.type === 'rule' ? undefined : await readModel(o.model!, tag);
  let done = 0;
  let judgements: Judgement[];
  try {
    judgements = await judgeSets(spec, sets, {
      ...(model ? { model, modelName: basename(o.model!.replace(/\/+$/, '')) } : {}),
      ...(o.adapter && spec.type === 'model' ? { adapterDir: o.adapter } : {}),
      tag,
      onJudged: () => {
        done++;
        if (done % 50 === 0) err(`${tag}: ${done}/${sets.length} candidate sets judged`);
      },
    });
  } catch (e) {
    if (e instanceof RuleError) throw new Error(`${e.message}; nothing was written (${done} sets had been judged)`);
    throw e;
  }
  const { records, none } = makePairs(sets, judgements, pairs);
  for (const [why, n] of none) err(`${tag}: ${n} candidate set(s) gave no preference: ${why}`);
  const unscored = judgements.reduce((a, j) => a + j.scores.filter((s) => s === null).length, 0);
  if (unscored) err(`${tag}: ${unscored} candidate(s) got no score from the judge`);
  await writeOutputFile(out!, records.map((r) => `${JSON.stringify(r)}\n`));
  if (judgedOut) await writeOutputFile(judgedOut, sets.map((s, i) => `${JSON.stringify({ ...s, judgement: judgements[i] })}\n`));
  err(`${tag}: ${sets.length} candidate sets judged (${spec.type}${spec.type === 'rule' ? ` ${spec.rule.name}` : ''}); ${records.length} ${pairs.rule === 'ranking' ? 'rankings' : 'pairs'} (${pairs.rule}) in ${o.out}`);
  return records.length ? 0 : 1;
}
