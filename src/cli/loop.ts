// `prefstudio loop --config loop.json --out runs/loop`: the on-policy loop headless, the rounds the
// studio's Loop page runs. Each round k:
//
//   generate   K candidates for each training prompt from the current policy (round 1: the base
//              model or loop.json's `adapter`; round k: round k-1's adapter), seeds
//              generation.seed + k - 1                                   -> round-k/candidates.jsonl
//   judge      the judge (a rule, a model, an adapter's implicit reward) scores every set; pairs
//              by the pairs rule                       -> round-k/judged.jsonl, round-k/pairs.jsonl
//   train      `prefstudio train` on the pairs, from the current policy's adapter; the reference
//              is round k-1's policy (reference: "previous", iterative DPO) or the base
//                                                                         -> round-k/adapter/
//   evaluate   samples of round k's and round k-1's policies on the held-out prompts (the prompt
//              set's test split, or `heldOut`) with the same seeds, scored by the same judge: the
//              win rate of round k against round k-1                      -> round-k/eval.jsonl
//
// state.json says where the loop is (round, stage) and what each round made; it is written after
// every stage. `--resume` continues from there: an unfinished generation keeps its candidate sets
// (Ctrl-C writes them), training resumes from its checkpoint, a judge that failed (a rule that
// threw or ran past its time limit) runs again, with nothing lost, after loop.json is fixed.
// Paths in loop.json are relative to the file's folder. Its schema: src/engine/loop/config.ts
// (LoopFileSchema), documented in README.md.

import { existsSync, promises as fs } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { importAll } from '../data/import/pipeline.js';
import { fileSource } from '../data/io/node-file.js';
import type { CandidatesRecord, PrefRecord, Turns } from '../data/records.js';
import { LoopConfigError, LoopFileSchema, parseWith, type LoopFile } from '../engine/loop/config.js';
import { evaluationSampling, heldOutSamples, meanScore, winRate } from '../engine/loop/evaluate.js';
import { RuleError, turnsText, wordCounts } from '../engine/loop/rules.js';
import type { LoadedModel } from '../engine/model/load.js';
import { parseTrainingConfig, TrainingConfigError, type TrainingConfig } from '../engine/training/config.js';
import { generateSets, promptsOf } from './generate.js';
import { readSettingsText } from './input.js';
import { judgeSets, makePairs } from './judge.js';
import { planOutput, writeOutputFile } from './output.js';
import { isHubModel, modelInput } from './hub-model.js';
import { configFrom, err, openSession, readModel, readPeftAdapter, readRecords, run as trainRun, runCommand, UsageError } from './train.js';

const USAGE = `usage: prefstudio loop --config loop.json --out <dir> [--resume] [--force]

  --config <file>   the loop: model, prompts, rounds, generation, judge, pairs, training,
                    reference and evaluation (README.md, "The on-policy loop"); paths relative
                    to the file; model and judge.model may be Hugging Face Hub ids (org/name,
                    fetched once into PREFSTUDIO_CACHE)
  --out <dir>       the loop's folder: state.json, loop.json, round-<k>/ (candidates, judged sets,
                    pairs, the adapter and its metrics, the evaluation)
  --resume          continue the loop in --out where state.json says it stopped
  --force           replace an existing --out

Ctrl-C stops at the end of the current batch or step; --resume continues.`;

export function run(args: string[]): Promise<number> {
  return runCommand('loop', USAGE, args, loopCommand);
}

type Stage = 'generate' | 'judge' | 'train' | 'evaluate' | 'done';

interface RoundState {
  round: number;
  stage: Stage;
  /** The adapter folder generating this round; absent: the base model. */
  policy?: string;
  candidates?: number;
  judged?: number;
  pairs?: number;
  noPreference?: Record<string, number>;
  /** The last training step's metrics (loss, rewards). */
  training?: Record<string, number>;
  evaluation?: {
    samples: number;
    winRate: number;
    wins: number;
    ties: number;
    losses: number;
    meanScore: number | null;
    meanScorePrevious: number | null;
    words?: { current: { good: number; bad: number }; previous: { good: number; bad: number } };
  };
}

export interface LoopState {
  version: 1;
  rounds: RoundState[];
}

const STAGES: Stage[] = ['generate', 'judge', 'train', 'evaluate', 'done'];

function resolveIn(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

/** A model: a folder relative to the file, or a Hugging Face Hub id (org/name) when no such folder is there. */
async function resolveModelIn(base: string, p: string): Promise<string> {
  const local = resolveIn(base, p);
  return (await isHubModel(p, local)) ? p : local;
}

async function readLoopFile(file: string): Promise<{ config: LoopFile; training: TrainingConfig }> {
  let json: unknown;
  try {
    json = JSON.parse(await readSettingsText(file));
  } catch (e) {
    throw new UsageError(`--config ${file}: ${(e as Error).message}`);
  }
  let config: LoopFile;
  try {
    config = parseWith(LoopFileSchema, json);
  } catch (e) {
    if (e instanceof LoopConfigError) throw new UsageError(`--config ${file}: ${e.issues.map((i) => `${i.field}: ${i.reason}`).join('; ')}`);
    throw e;
  }
  if (config.judge.type === 'person') throw new UsageError(`--config ${file}: judge "person" judges in the studio (Loop page); the CLI judges with a rule, a model or a reward`);
  let training: TrainingConfig;
  try {
    training = parseTrainingConfig(config.training);
  } catch (e) {
    if (e instanceof TrainingConfigError) throw new UsageError(`--config ${file}: training: ${e.issues.map((i) => `${i.field}: ${i.reason}`).join('; ')}`);
    throw e;
  }
  const base = dirname(resolve(file));
  const paths = { model: await resolveModelIn(base, config.model), prompts: resolveIn(base, config.prompts), ...(config.adapter ? { adapter: resolveIn(base, config.adapter) } : {}), ...(config.heldOut ? { heldOut: resolveIn(base, config.heldOut) } : {}) };
  const judge = config.judge.type === 'rule'
    ? config.judge
    : config.judge.type === 'model'
      ? { ...config.judge, ...(config.judge.model ? { model: await resolveModelIn(base, config.judge.model) } : {}) }
      : { ...config.judge, adapter: resolveIn(base, config.judge.adapter), ...(config.judge.reference ? { reference: resolveIn(base, config.judge.reference) } : {}) };
  return { config: { ...config, ...paths, judge }, training };
}

async function readState(out: string): Promise<LoopState | null> {
  const text = await fs.readFile(join(out, 'state.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  const s = JSON.parse(text) as LoopState;
  if (s.version !== 1 || !Array.isArray(s.rounds)) throw new Error(`${join(out, 'state.json')} is not a loop state`);
  return s;
}

async function writeState(out: string, state: LoopState): Promise<void> {
  await writeOutputFile(join(out, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
}

async function readJsonl<T extends PrefRecord>(file: string): Promise<T[]> {
  if (!existsSync(file)) return [];
  return (await importAll(await fileSource(file))).records as T[];
}

const roundDir = (out: string, k: number) => join(out, `round-${k}`);

async function loopCommand(args: string[]): Promise<number> {
  const tag = 'loop';
  const { values: o } = parseArgs({ args, strict: true, options: { config: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' }, force: { type: 'boolean' } } });
  if (!o.config) throw new UsageError('--config is required');
  if (!o.out) throw new UsageError('--out is required');
  if (o.resume && o.force) throw new UsageError('--resume continues --out and --force replaces it: give one');
  const { config, training } = await readLoopFile(o.config);
  const plan = await planOutput({ flag: '--out', path: o.out, kind: 'folder' }, {
    force: o.force === true,
    reuse: o.resume === true,
    inputs: [['--config', o.config], await modelInput(config.model, 'model'), ...(config.judge.type === 'model' && config.judge.model ? [await modelInput(config.judge.model, 'judge.model')] : []), ['prompts', config.prompts], ['adapter', config.adapter], ['heldOut', config.heldOut]],
    existsHint: 'pass --resume to continue the loop there, or --force to replace it',
  });
  const out = plan.target;
  if (plan.exists && o.force) await fs.rm(out, { recursive: true, force: true });
  await fs.mkdir(out, { recursive: true });
  let state = (o.resume ? await readState(out) : null) ?? { version: 1, rounds: [{ round: 1, stage: 'generate', ...(config.adapter ? { policy: config.adapter } : {}) }] };
  if (o.resume) err(`${tag}: resuming at round ${state.rounds.at(-1)!.round}, stage ${state.rounds.at(-1)!.stage}`);
  await writeOutputFile(join(out, 'loop.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeState(out, state);

  const records = await readRecords(config.prompts, tag);
  // Every prompt the loop generates for is a training prompt: with heldOut, the whole prompt set
  // (its own test split included), so the pairs it makes are marked train.
  const train = promptsOf(records, config.heldOut ? undefined : 'train').map((p) => ({ ...p, split: 'train' as const }));
  const heldRecords = config.heldOut ? await readRecords(config.heldOut, tag) : records;
  const held = promptsOf(heldRecords, config.heldOut ? undefined : 'test');
  if (train.length === 0) throw new Error(`${config.prompts}: no training prompt (split train)`);
  if (held.length === 0) throw new Error(`no held-out prompt: give the prompt set a test split, or heldOut in ${o.config}`);
  const model = await readModel(config.model, tag);
  const judgeModel = config.judge.type === 'model' && config.judge.model ? await readModel(config.judge.model, tag) : model;
  err(`${tag}: ${config.rounds} rounds; ${train.length} training prompts, ${held.length} held-out; judge ${config.judge.type}${config.judge.type === 'rule' ? ` ${config.judge.rule.name}` : ''}; reference ${config.reference}`);

  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) process.exit(130);
    err(`${tag}: stopping at the end of this batch or step (Ctrl-C again to quit at once); --resume continues`);
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    for (;;) {
      const r = state.rounds.at(-1)!;
      if (r.stage === 'done') {
        if (r.round >= config.rounds) break;
        state.rounds.push({ round: r.round + 1, stage: 'generate', policy: join(roundDir(out, r.round), 'adapter') });
        await writeState(out, state);
        continue;
      }
      if (stop.signal.aborted) return 0;
      const dir = roundDir(out, r.round);
      await fs.mkdir(dir, { recursive: true });
      const next = await runStage(r, { config, training, model, judgeModel, train, held, dir, out, state, tag, signal: stop.signal });
      if (next === 'stopped') return 0;
      r.stage = STAGES[STAGES.indexOf(r.stage) + 1]!;
      await writeState(out, state);
    }
  } catch (e) {
    if (e instanceof RuleError) {
      err(`${tag}: round ${state.rounds.at(-1)!.round}: the judge stopped: ${e.message}`);
      err(`${tag}: the round waits at stage judge with its candidates kept: fix the rule in ${o.config} and run again with --resume`);
      return 1;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  for (const r of state.rounds) {
    const ev = r.evaluation;
    err(`${tag}: round ${r.round}: ${r.pairs ?? 0} pairs from ${r.judged ?? 0} sets; loss ${r.training?.loss?.toFixed(4) ?? '-'}; win rate against round ${r.round - 1}: ${ev ? ev.winRate.toFixed(3) : '-'} (${ev?.wins ?? 0} wins, ${ev?.ties ?? 0} ties, ${ev?.losses ?? 0} losses)`);
  }
  err(`${tag}: done; state.json and round-*/ in ${o.out}`);
  return 0;
}

interface StageContext {
  config: LoopFile;
  training: TrainingConfig;
  model: LoadedModel;
  judgeModel: LoadedModel;
  train: ReturnType<typeof promptsOf>;
  held: ReturnType<typeof promptsOf>;
  dir: string;
  out: string;
  state: LoopState;
  tag: string;
  signal: AbortSignal;
}

/** The training prompts of round k: all, or the k-th slice of promptsPerRound (wrapping around). */
function roundPrompts(c: StageContext, k: number): StageContext['train'] {
  const n = c.config.promptsPerRound;
  if (n === undefined || n >= c.train.length) return c.train;
  const start = ((k - 1) * n) % c.train.length;
  return Array.from({ length: n }, (_, i) => c.train[(start + i) % c.train.length]!);
}

async function runStage(r: RoundState, c: StageContext): Promise<'next' | 'stopped'> {
  const tag = `${c.tag}: round ${r.round}`;
  const modelName = basename(c.config.model.replace(/\/+$/, ''));
  switch (r.stage) {
    case 'generate': {
      const file = join(c.dir, 'candidates.jsonl');
      const done = new Map((await readJsonl<CandidatesRecord>(file)).flatMap((x) => (x.source.type === 'generated' && x.source.promptIndex !== undefined ? [[x.source.promptIndex, x] as const] : [])));
      const settings = { ...c.config.generation, seed: (c.config.generation.seed + r.round - 1) >>> 0 };
      const g = await generateSets({ model: c.model, modelName, ...(r.policy ? { adapterDir: r.policy } : {}), prompts: roundPrompts(c, r.round), settings, round: r.round, batch: c.config.batch, tag, done, signal: c.signal });
      await writeOutputFile(file, g.records.map((x) => `${JSON.stringify(x)}\n`));
      r.candidates = g.records.length;
      return g.aborted ? 'stopped' : 'next';
    }
    case 'judge': {
      const sets = await readJsonl<CandidatesRecord>(join(c.dir, 'candidates.jsonl'));
      const judgements = await judgeSets(c.config.judge, sets, { model: c.judgeModel, modelName: c.config.judge.type === 'model' && c.config.judge.model ? basename(c.config.judge.model) : modelName, tag });
      const { records, none } = makePairs(sets, judgements, c.config.pairs);
      await writeOutputFile(join(c.dir, 'judged.jsonl'), sets.map((s, i) => `${JSON.stringify({ ...s, judgement: judgements[i] })}\n`));
      await writeOutputFile(join(c.dir, 'pairs.jsonl'), records.map((x) => `${JSON.stringify(x)}\n`));
      r.judged = sets.length;
      r.pairs = records.length;
      r.noPreference = Object.fromEntries(none);
      err(`${tag}: ${sets.length} sets judged, ${records.length} ${c.config.pairs.rule === 'ranking' ? 'rankings' : 'pairs'}${none.size ? `; no preference: ${[...none].map(([w, n]) => `${n} (${w})`).join(', ')}` : ''}`);
      if (records.length === 0) throw new Error(`round ${r.round}: the judge made no preference from ${sets.length} candidate sets: nothing to train (see ${join(c.dir, 'judged.jsonl')})`);
      return 'next';
    }
    case 'train': {
      const adapterDir = join(c.dir, 'adapter');
      const cfgFile = join(c.dir, 'training_settings.json');
      // Every round trains max_steps (or the epochs) of its own, from the current policy.
      await writeOutputFile(cfgFile, `${JSON.stringify(c.training, null, 2)}\n`);
      const checkpoint = join(adapterDir, 'checkpoint.safetensors');
      const args = ['--model', c.config.model, '--data', join(c.dir, 'pairs.jsonl'), '--out', adapterDir];
      if (existsSync(checkpoint)) args.push('--resume', checkpoint);
      else {
        args.push('--config', cfgFile);
        if (r.policy) args.push('--init-adapter', r.policy);
        if (existsSync(adapterDir)) args.push('--force');
      }
      if (c.config.reference === 'previous' && r.policy && !existsSync(checkpoint)) args.push('--ref-adapter', r.policy);
      const code = await trainRun(args);
      if (code !== 0) throw new Error(`round ${r.round}: training failed (exit ${code}); fix it and run again with --resume`);
      const metrics = (await fs.readFile(join(adapterDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
      const last = metrics.at(-1);
      if (c.signal.aborted && !isComplete(metrics, c.training)) return 'stopped';
      r.training = last ? Object.fromEntries(Object.entries(last).filter(([k]) => ['step', 'loss', 'rewards/accuracies', 'rewards/margins', 'grad_norm', 'eval_loss', 'eval_rewards/accuracies'].includes(k))) : {};
      return 'next';
    }
    case 'evaluate': {
      const current = join(c.dir, 'adapter');
      const sampling = evaluationSampling(c.config.generation, c.config.evaluation);
      const samplesOf = async (adapterDir: string | undefined) => {
        const lora = adapterDir ? (await readPeftAdapter(adapterDir)).lora : undefined;
        const session = await openSession(c.model, configFrom({ method: 'sft', ...(lora ? { lora } : {}) }), tag, adapterDir);
        try {
          if (!adapterDir) session.adapter.enabled = false;
          const tok = c.model.tokenizer!;
          return await heldOutSamples(session.model, tok, c.held, sampling, { batchRows: c.config.batch, eosIds: [...new Set([...c.model.config.eosIds, ...tok.eosIds])] });
        } finally {
          session.close();
        }
      };
      const now = await samplesOf(current);
      const before = await samplesOf(r.policy);
      // Sample s of prompt i: round k's first, then round k-1's: the judge scores both.
      const sets: CandidatesRecord[] = [];
      const previousOf = new Map(before.map((b) => [b.index, b]));
      for (const a of now) {
        const b = previousOf.get(a.index);
        if (!b) continue;
        a.responses.forEach((resp, s) => sets.push({ kind: 'candidates', prompt: a.prompt, ...(a.system !== undefined ? { system: a.system } : {}), responses: [resp, b.responses[s]!], source: { type: 'generated', model: modelName, round: r.round, promptIndex: a.index }, createdAt: Date.now(), split: 'test', tags: ['evaluation'] }));
      }
      const judgements = await judgeSets(c.config.judge, sets, { model: c.judgeModel, modelName, tag });
      const cur = judgements.map((j) => j.scores[0] ?? null);
      const prev = judgements.map((j) => j.scores[1] ?? null);
      const w = winRate(cur, prev);
      const rule = c.config.judge.type === 'rule' && c.config.judge.rule.type === 'words' ? c.config.judge.rule : null;
      const words = rule
        ? {
            current: sets.reduce((acc, s) => add(acc, wordCounts(rule, turnsText(s.responses[0]!))), { good: 0, bad: 0 }),
            previous: sets.reduce((acc, s) => add(acc, wordCounts(rule, turnsText(s.responses[1]!))), { good: 0, bad: 0 }),
          }
        : undefined;
      await writeOutputFile(
        join(c.dir, 'eval.jsonl'),
        sets.map((s, i) => `${JSON.stringify({ prompt: s.prompt, ...(s.system !== undefined ? { system: s.system } : {}), promptIndex: (s.source as { promptIndex?: number }).promptIndex, current: text(s.responses[0]!), previous: text(s.responses[1]!), scores: judgements[i]!.scores })}\n`),
      );
      r.evaluation = { samples: sets.length, winRate: w.winRate, wins: w.wins, ties: w.ties, losses: w.losses, meanScore: meanScore(cur), meanScorePrevious: meanScore(prev), ...(words ? { words } : {}) };
      err(`${tag}: win rate against round ${r.round - 1}: ${w.winRate.toFixed(3)} (${w.wins} wins, ${w.ties} ties, ${w.losses} losses over ${w.comparisons}); mean score ${fmt(meanScore(cur))} against ${fmt(meanScore(prev))}${words ? `; words good/bad ${words.current.good}/${words.current.bad} against ${words.previous.good}/${words.previous.bad}` : ''}`);
      return 'next';
    }
    case 'done':
      return 'next';
  }
}

const add = (a: { good: number; bad: number }, b: { good: number; bad: number }) => ({ good: a.good + b.good, bad: a.bad + b.bad });
const text = (t: Turns) => (typeof t === 'string' ? t : turnsText(t));
const fmt = (x: number | null) => (x === null ? '-' : x.toFixed(3));

function isComplete(metrics: Record<string, number>[], training: TrainingConfig): boolean {
  return training.max_steps > 0 ? (metrics.at(-1)?.step ?? 0) >= training.max_steps : metrics.length > 0;
}
