// The on-policy loop seen from the page: loops and generation jobs in the workspace database
// (db/loop.ts), the engine Worker's loop calls (generation, model and reward judges, held-out
// samples), the training service for each round's run, and the rule sandbox Worker. A loop row
// says which round and stage it is at; `runLoop` carries it on stage by stage, writing the row
// after each, until it is done, waits for a person (or for a rule fixed after it failed), is
// paused, or fails. A reload at any stage resumes there: the generation job skips the prompts
// already stored, judging skips the judged sets, training resumes from its checkpoint, the
// evaluation runs again.
//
// A person judges on the Label page, over the round's candidates dataset (ranking, or a pair for
// two candidates); each latest label becomes the set's judgement (a rank r scores -r, a preferred
// response 1 against 0, a tie equal scores, "both bad" no preference, a skip nothing). The rest can
// be judged by a rule (judgeRestWithRule). With a person judge the evaluation's comparisons go to
// an evaluation dataset to label; the win rate is counted from those labels.
import * as Comlink from 'comlink';
import type { CandidatesRecord, Judgement, PrefRecord, Turns } from '../data/records.js';
import {
  addRecords,
  createDataset,
  createGeneration,
  createLoop as dbCreateLoop,
  deleteLoop as dbDeleteLoop,
  getDataset,
  getGeneration,
  getLoop as dbGetLoop,
  getRun,
  iterateRecords,
  listLoops as dbListLoops,
  markJobsInterrupted,
  setJudgements,
  updateLoop,
  type LabelRow,
  type LoopRound,
  type LoopRow,
  type NewLoop,
  type PrefDb,
} from '../db/index.js';
import type { JudgeSpec, RuleSpec } from '../engine/loop/config.js';
import { evaluationSampling, meanScore, winRate } from '../engine/loop/evaluate.js';
import { pairsFromJudgement } from '../engine/loop/pairs.js';
import { judgeWithRule, RuleError, turnsText, wordCounts } from '../engine/loop/rules.js';
import { parseTrainingConfig } from '../engine/training/config.js';
import type { WorkerResult } from '../worker/protocol.js';
import type { GenerationJobProgress, HeldOutResult, LoopWorkerApi } from '../worker/loop-protocol.js';
import { notifyDatasetsChanged, workspace } from './data.js';
import { engineWorker } from './gpu.js';
import { buildTask } from './label-tasks.js';
import { ruleSandbox } from './rule-sandbox.js';
import { createRun, pauseRun, recoverInterrupted, trainRun } from './train.js';

let backend: LoopWorkerApi | null = null;
let cancel: ((taskId: string) => void) | null = null;

/** Tests: the Worker's loop module in-process instead of the engine Worker. */
export function useLoopBackend(b: LoopWorkerApi | null, cancelTask?: (taskId: string) => void): void {
  backend = b;
  cancel = cancelTask ?? null;
}

function loopBackend(): LoopWorkerApi {
  if (backend) return backend;
  const remote = engineWorker();
  return {
    runGeneration: (taskId, jobId, onProgress) => remote.runGeneration(taskId, jobId, onProgress && Comlink.proxy(onProgress)),
    judgeDataset: (taskId, request, onProgress) => remote.judgeDataset(taskId, request, onProgress && Comlink.proxy(onProgress)),
    judgeSets: (taskId, request) => remote.judgeSets(taskId, request),
    heldOutSamples: (taskId, request) => remote.heldOutSamples(taskId, request),
  };
}

function cancelTask(taskId: string): void {
  if (cancel) cancel(taskId);
  else void engineWorker().cancel(taskId).catch(() => {});
}

async function value<T>(r: Promise<WorkerResult<T>>): Promise<T> {
  const x = await r;
  if (!x.ok) throw Object.assign(new Error(x.error.message), { name: x.error.name, code: x.error.code });
  return x.value;
}

export async function listLoops(): Promise<LoopRow[]> {
  return dbListLoops(await workspace());
}

export async function getLoop(id: string): Promise<LoopRow | undefined> {
  return dbGetLoop(await workspace(), id);
}

export async function createLoop(loop: NewLoop): Promise<LoopRow> {
  // The training settings are checked now: a bad value is named before anything runs.
  parseTrainingConfig(loop.settings.training);
  return dbCreateLoop(await workspace(), loop);
}

export async function deleteLoop(id: string): Promise<void> {
  if (running.has(id)) throw new Error('the loop is running: pause it first');
  await dbDeleteLoop(await workspace(), id);
}

/**
 * At start: generation jobs, loops and training runs a gone tab left running are marked
 * interrupted (a round's run too: the Train page may never have been opened), so each resumes.
 */
export async function recoverInterruptedLoops(): Promise<string[]> {
  const runs = running.size === 0 ? await recoverInterrupted() : [];
  return [...runs, ...(await markJobsInterrupted(await workspace(), [...running.keys()]))];
}

export type LoopProgress =
  | { type: 'generation'; loopId: string; round: number; progress: GenerationJobProgress }
  | { type: 'judge'; loopId: string; round: number; done: number; total: number }
  | { type: 'train'; loopId: string; round: number; step: number; totalSteps: number; loss?: number }
  | { type: 'message'; loopId: string; round: number; text: string };

export interface LoopEvents {
  onRow?(row: LoopRow): void;
  onProgress?(p: LoopProgress): void;
}

interface Running {
  pause: boolean;
  taskId: string | null;
  runId: string | null;
}

const running = new Map<string, Running>();

/** Asks a running loop to stop at the end of its current batch or step (it becomes paused). */
export async function pauseLoop(id: string): Promise<void> {
  const r = running.get(id);
  if (!r) return;
  r.pause = true;
  if (r.taskId) cancelTask(r.taskId);
  if (r.runId) await pauseRun(r.runId);
}

export function isRunning(id: string): boolean {
  return running.has(id);
}

class Paused extends Error {}
class Waiting extends Error {}

/**
 * Carries a loop on from where its row says it is, until it is done, waits, is paused or fails;
 * resolves with its row then. Safe to call after a reload at any stage.
 */
export async function runLoop(id: string, events: LoopEvents = {}): Promise<LoopRow> {
  if (running.has(id)) throw new Error('the loop is already running');
  const db = await workspace();
  const state: Running = { pause: false, taskId: null, runId: null };
  running.set(id, state);
  let loop = (await dbGetLoop(db, id))!;
  if (!loop) throw new Error(`no loop with id ${id}`);
  const save = async (patch: Partial<LoopRow>) => {
    await updateLoop(db, id, patch);
    loop = (await dbGetLoop(db, id))!;
    events.onRow?.(loop);
  };
  try {
    await save({ status: 'running', message: undefined });
    for (;;) {
      const round = loop.rounds.at(-1)!;
      if (round.stage === 'done') {
        if (round.round >= loop.settings.rounds) {
          await save({ status: 'done', message: undefined });
          return loop;
        }
        await save({ rounds: [...loop.rounds, { round: round.round + 1, stage: 'generate', ...(round.runId ? { policyRunId: round.runId } : {}) }] });
        continue;
      }
      if (state.pause) throw new Paused();
      // What a stage makes (a job, a run, a dataset) is recorded as soon as it exists, so a reload
      // in the middle of the stage resumes it instead of starting another.
      const persist = (x: LoopRound) => save({ rounds: [...loop.rounds.slice(0, -1), x] });
      const next = await stage(db, loop, { ...round }, state, events, persist);
      await save({ rounds: [...loop.rounds.slice(0, -1), next] });
    }
  } catch (e) {
    if (e instanceof Paused) await save({ status: 'paused', message: 'paused: continue to pick up where it stopped' });
    else if (e instanceof Waiting) await save({ status: 'waiting', message: e.message });
    else if (e instanceof RuleError) await save({ status: 'waiting', message: `the rule judge stopped: ${e.message}. The candidate sets and the judgements made so far are kept: change the rule and continue` });
    else {
      const message = e instanceof Error ? e.message : String(e);
      await save({ status: 'failed', message, rounds: [...loop.rounds.slice(0, -1), { ...loop.rounds.at(-1)!, error: message }] });
    }
    return loop;
  } finally {
    running.delete(id);
  }
}

/** Runs the round's current stage; returns the round with its stage advanced (or throws Paused / Waiting). */
async function stage(db: PrefDb, loop: LoopRow, r: LoopRound, state: Running, events: LoopEvents, persist: (r: LoopRound) => Promise<void>): Promise<LoopRound> {
  const s = loop.settings;
  const say = (text: string) => events.onProgress?.({ type: 'message', loopId: loop.id, round: r.round, text });
  switch (r.stage) {
    case 'generate': {
      if (!r.generationId) {
        const out = await createDataset(db, `${loop.name} · round ${r.round} candidates`, `K = ${s.generation.n} candidates per prompt, generated by round ${r.round}'s policy (loop "${loop.name}")`);
        const prompts = await getDataset(db, loop.promptDatasetId);
        if (!prompts) throw new Error('the loop\'s prompt set was deleted');
        const split = loop.heldOutDatasetId ? null : 'train';
        const total = split ? prompts.counts.bySplit[split] : prompts.counts.total;
        const job = await createGeneration(db, {
          promptDatasetId: loop.promptDatasetId,
          split,
          limit: null,
          outputDatasetId: out.id,
          modelId: loop.modelId,
          modelName: loop.modelName,
          ...(r.policyRunId ? { adapterRunId: r.policyRunId } : {}),
          loopId: loop.id,
          round: r.round,
          settings: { ...s.generation, seed: (s.generation.seed + r.round - 1) >>> 0 },
          total,
        });
        r.generationId = job.id;
        r.candidatesDatasetId = out.id;
        await persist(r);
        notifyDatasetsChanged();
      }
      const taskId = `loop-generate:${r.generationId}`;
      state.taskId = taskId;
      try {
        const outcome = await value(loopBackend().runGeneration(taskId, r.generationId, (progress) => events.onProgress?.({ type: 'generation', loopId: loop.id, round: r.round, progress })));
        notifyDatasetsChanged();
        if (outcome.status !== 'done') throw new Paused();
      } catch (e) {
        if ((e as Error).name === 'AbortError' || state.pause) throw new Paused();
        throw e;
      } finally {
        state.taskId = null;
      }
      return { ...r, stage: 'judge' };
    }
    case 'judge': {
      const datasetId = r.candidatesDatasetId!;
      const judge = s.judge;
      if (judge.type === 'person') {
        const { judged, total } = await judgeFromLabels(db, datasetId, judge.annotator);
        if (judged < total) throw new Waiting(`waiting for the person: ${judged} of ${total} candidate sets of round ${r.round} judged. Label the rest on the Label page (dataset "${(await getDataset(db, datasetId))?.name}") or judge them with a rule, then continue`);
      } else if (judge.type === 'rule') {
        await judgeUnjudged(db, datasetId, judge.rule, (done, total) => events.onProgress?.({ type: 'judge', loopId: loop.id, round: r.round, done, total }));
      } else {
        const taskId = `loop-judge:${loop.id}:${r.round}`;
        state.taskId = taskId;
        try {
          await value(loopBackend().judgeDataset(taskId, { datasetId, modelId: loop.modelId, spec: judge }, (done, total) => events.onProgress?.({ type: 'judge', loopId: loop.id, round: r.round, done, total })));
        } catch (e) {
          if ((e as Error).name === 'AbortError' || state.pause) throw new Paused();
          throw e;
        } finally {
          state.taskId = null;
        }
      }
      // Pairs from every judged set.
      const sets = await candidateSets(db, datasetId);
      const records: PrefRecord[] = [];
      let none = 0;
      for (const set of sets) {
        if (!set.judgement) continue;
        const made = pairsFromJudgement(set, set.judgement, s.pairs);
        records.push(...made.records);
        if (made.records.length === 0) none++;
      }
      if (records.length === 0) throw new Waiting(`round ${r.round}: the judgements give no preference (${none} ties or both-bad sets): judge again or generate more candidates`);
      let pairs = r.pairsDatasetId;
      if (!pairs) {
        pairs = (await createDataset(db, `${loop.name} · round ${r.round} pairs`, `preferences from the judged candidates (${s.pairs.rule})`)).id;
        await persist({ ...r, pairsDatasetId: pairs });
      }
      // The same judgements give the same pairs: a dataset filled before a reload is kept as it is.
      if (((await getDataset(db, pairs))?.counts.total ?? 0) === 0) await addRecords(db, pairs, records);
      notifyDatasetsChanged();
      say(`${records.length} pairs from ${sets.length} judged sets`);
      return { ...r, stage: 'train', pairsDatasetId: pairs, judged: sets.length, pairs: records.length, noPreference: none };
    }
    case 'train': {
      let runId = r.runId;
      if (!runId) {
        const config = parseTrainingConfig(s.training);
        const dataset = await getDataset(db, r.pairsDatasetId!);
        const run = await createRun({
          name: `${loop.name} · round ${r.round}`,
          config,
          datasetId: r.pairsDatasetId!,
          datasetName: dataset?.name ?? 'pairs',
          modelId: loop.modelId,
          modelName: loop.modelName,
          ...(r.policyRunId ? { initFromRunId: r.policyRunId } : {}),
          ...(r.policyRunId && s.reference === 'previous' ? { referenceRunId: r.policyRunId } : {}),
          totalSteps: config.max_steps > 0 ? config.max_steps : 0,
        });
        runId = run.id;
        r.runId = runId;
        await persist(r);
      }
      const run = await getRun(db, runId);
      if (run && (run.status === 'done' || run.status === 'stopped')) return { ...r, stage: 'evaluate' };
      state.runId = runId;
      try {
        const outcome = await value(
          trainRun(runId, (e) => {
            if (e.type === 'metrics') events.onProgress?.({ type: 'train', loopId: loop.id, round: r.round, step: e.metrics.step, totalSteps: e.totalSteps, ...(e.metrics.loss !== undefined ? { loss: e.metrics.loss } : {}) });
          }),
        );
        if (outcome.status !== 'done' && outcome.status !== 'stopped') throw new Paused();
      } finally {
        state.runId = null;
      }
      return { ...r, stage: 'evaluate' };
    }
    case 'evaluate': {
      const sampling = evaluationSampling(s.generation, s.evaluation);
      const request = { modelId: loop.modelId, datasetId: loop.heldOutDatasetId ?? loop.promptDatasetId, split: loop.heldOutDatasetId ? null : ('test' as const), settings: sampling };
      const taskId = `loop-eval:${loop.id}:${r.round}`;
      state.taskId = taskId;
      let current: HeldOutResult[];
      let previous: HeldOutResult[];
      try {
        current = await value(loopBackend().heldOutSamples(`${taskId}:current`, { ...request, adapterRunId: r.runId! }));
        previous = await value(loopBackend().heldOutSamples(`${taskId}:previous`, { ...request, ...(r.policyRunId ? { adapterRunId: r.policyRunId } : {}) }));
      } catch (e) {
        if ((e as Error).name === 'AbortError' || state.pause) throw new Paused();
        throw e;
      } finally {
        state.taskId = null;
      }
      const before = new Map(previous.map((p) => [p.index, p]));
      const sets: CandidatesRecord[] = [];
      for (const c of current) {
        const p = before.get(c.index);
        if (!p) continue;
        c.responses.forEach((resp, k) =>
          sets.push({ kind: 'candidates', prompt: c.prompt, ...(c.system !== undefined ? { system: c.system } : {}), responses: [resp, p.responses[k]!], source: { type: 'generated', model: loop.modelName, round: r.round, promptIndex: c.index }, createdAt: Date.now(), split: 'test', tags: ['evaluation'] }),
        );
      }
      if (sets.length === 0) throw new Error('no held-out prompt gave samples: give the prompt set a test split, or a held-out dataset');
      const judge = s.judge;
      if (judge.type === 'person') {
        // A person compares them on the Label page; the win rate comes from those labels.
        let d = r.evaluationDatasetId;
        if (!d) {
          d = (await createDataset(db, `${loop.name} · round ${r.round} evaluation`, `held-out samples: round ${r.round} (first) against round ${r.round - 1}`)).id;
          await persist({ ...r, evaluationDatasetId: d });
        }
        if (((await getDataset(db, d))?.counts.total ?? 0) === 0) await addRecords(db, d, sets);
        notifyDatasetsChanged();
        return { ...r, stage: 'done', evaluationDatasetId: d };
      }
      let judgements: Judgement[];
      if (judge.type === 'rule') judgements = await judgeWithRule(judge.rule, sets, { sandbox: ruleSandbox() });
      else judgements = await value(loopBackend().judgeSets(`${taskId}:judge`, { modelId: loop.modelId, spec: judge, sets }));
      return { ...r, stage: 'done', evaluation: evaluation(sets, judgements, judge) };
    }
    case 'done':
      return r;
  }
}

function evaluation(sets: readonly CandidatesRecord[], judgements: readonly Judgement[], judge: JudgeSpec): NonNullable<LoopRound['evaluation']> {
  const cur = judgements.map((j) => j.scores[0] ?? null);
  const prev = judgements.map((j) => j.scores[1] ?? null);
  const w = winRate(cur, prev);
  const rule = judge.type === 'rule' && judge.rule.type === 'words' ? judge.rule : null;
  let words: { good: number; bad: number } | undefined;
  if (rule) {
    words = { good: 0, bad: 0 };
    for (const s of sets) {
      const c = wordCounts(rule, turnsText(s.responses[0]!));
      words.good += c.good;
      words.bad += c.bad;
    }
  }
  return { samples: sets.length, meanScore: meanScore(cur) ?? 0, meanScorePrevious: meanScore(prev) ?? 0, winRate: w.winRate, wins: w.wins, ties: w.ties, losses: w.losses, ...(words ? { words } : {}) };
}

async function candidateSets(db: PrefDb, datasetId: string): Promise<(CandidatesRecord & { id: number })[]> {
  const out: (CandidatesRecord & { id: number })[] = [];
  for await (const page of iterateRecords(db, datasetId)) for (const r of page) if (r.kind === 'candidates') out.push(r as CandidatesRecord & { id: number });
  return out;
}

/** Judges the sets without a judgement with a rule (in the sandbox Worker), storing each at once. */
async function judgeUnjudged(db: PrefDb, datasetId: string, rule: RuleSpec, onProgress?: (done: number, total: number) => void): Promise<number> {
  const todo = (await candidateSets(db, datasetId)).filter((s) => !s.judgement);
  let done = 0;
  await judgeWithRule(rule, todo, {
    sandbox: ruleSandbox(),
    onJudged: async (i, j) => {
      await setJudgements(db, [{ id: todo[i]!.id, judgement: j }]);
      onProgress?.(++done, todo.length);
    },
  });
  return done;
}

/**
 * A person's label on a candidate set as a judgement, or null (a skip, or a decision that says
 * nothing about the set). Decisions name candidates by their canonical index (label-tasks.ts).
 */
export function judgementFromLabel(set: CandidatesRecord & { id: number }, label: LabelRow): Judgement | null {
  const canonical = buildTask({ ...set, datasetId: '' }).candidates;
  const used = new Set<number>();
  const responseOf = canonical.map((c) => {
    const key = JSON.stringify(c);
    const i = set.responses.findIndex((r, k) => !used.has(k) && JSON.stringify(r) === key);
    used.add(i);
    return i;
  });
  const scores: number[] = set.responses.map(() => 0);
  const d = label.decision;
  const base = { judge: 'person' as const, name: label.annotator || 'person', at: label.createdAt };
  switch (d.type) {
    case 'prefer':
      scores[responseOf[d.winner]!] = 1;
      return { ...base, scores };
    case 'rank':
      d.ranks.forEach((rank, c) => (scores[responseOf[c]!] = -rank));
      return { ...base, scores };
    case 'tie':
      return { ...base, scores };
    case 'bothBad':
      return { ...base, scores, bothBad: true };
    default:
      return null;
  }
}

/** The latest label of each labelled set (by `annotator`, or anyone's when empty) written as its judgement. */
async function judgeFromLabels(db: PrefDb, datasetId: string, annotator: string): Promise<{ judged: number; total: number }> {
  const sets = await candidateSets(db, datasetId);
  const latest = new Map<number, LabelRow>();
  const labels = await db.labels.where('sourceDatasetId').equals(datasetId).sortBy('id');
  for (const l of labels) if (!annotator || l.annotator === annotator) latest.set(l.sourceRecordId, l);
  const updates: { id: number; judgement: Judgement }[] = [];
  for (const set of sets) {
    if (set.judgement) continue;
    const l = latest.get(set.id);
    const j = l && judgementFromLabel(set, l);
    if (j) updates.push({ id: set.id, judgement: j });
  }
  if (updates.length) await setJudgements(db, updates);
  return { judged: sets.filter((s) => s.judgement).length + updates.length, total: sets.length };
}

/**
 * While a round waits for the person: the sets already labelled keep the person's judgement,
 * the others are judged by `rule`; then the loop can continue.
 */
export async function judgeRestWithRule(loopId: string, rule: RuleSpec): Promise<{ person: number; rule: number }> {
  const db = await workspace();
  const loop = await dbGetLoop(db, loopId);
  const round = loop?.rounds.at(-1);
  if (!loop || !round?.candidatesDatasetId || round.stage !== 'judge') throw new Error('this loop has no round waiting for judgement');
  const annotator = loop.settings.judge.type === 'person' ? loop.settings.judge.annotator : '';
  const before = await judgeFromLabels(db, round.candidatesDatasetId, annotator);
  const byRule = await judgeUnjudged(db, round.candidatesDatasetId, rule);
  return { person: before.judged, rule: byRule };
}

/**
 * A rule judge's loop that waits (its rule stopped: an endless loop, a throw) gets a new rule; the
 * candidate sets and the judgements made so far stay, and continuing judges the rest with it.
 */
export async function setLoopRule(loopId: string, rule: RuleSpec): Promise<LoopRow> {
  if (running.has(loopId)) throw new Error('the loop is running: pause it first');
  const db = await workspace();
  const loop = await dbGetLoop(db, loopId);
  if (!loop) throw new Error(`no loop with id ${loopId}`);
  if (loop.settings.judge.type !== 'rule') throw new Error(`this loop is judged by ${loop.settings.judge.type === 'person' ? 'a person' : `a ${loop.settings.judge.type}`}, not a rule`);
  await updateLoop(db, loopId, { settings: { ...loop.settings, judge: { type: 'rule', rule } } });
  return (await dbGetLoop(db, loopId))!;
}

/** The win rate of a round judged by a person: from the labels on its evaluation dataset (first response = round k). */
export async function personEvaluation(loopId: string, round: number): Promise<LoopRound['evaluation'] | null> {
  const db = await workspace();
  const loop = await dbGetLoop(db, loopId);
  const r = loop?.rounds.find((x) => x.round === round);
  if (!r?.evaluationDatasetId) return null;
  const sets = await candidateSets(db, r.evaluationDatasetId);
  const latest = new Map<number, LabelRow>();
  for (const l of await db.labels.where('sourceDatasetId').equals(r.evaluationDatasetId).sortBy('id')) latest.set(l.sourceRecordId, l);
  const judged: { set: CandidatesRecord; j: Judgement }[] = [];
  for (const s of sets) {
    const l = latest.get(s.id);
    const j = l && judgementFromLabel(s, l);
    if (j && !j.bothBad) judged.push({ set: s, j });
  }
  if (!judged.length) return null;
  return evaluation(judged.map((x) => x.set), judged.map((x) => x.j), loop!.settings.judge);
}

/** A turn's text for display (a conversation's messages joined). */
export function responseText(t: Turns): string {
  return turnsText(t);
}

export { getGeneration };
