// The Loop page's store over the real path: the engine Worker's loop and training modules
// in-process on Dawn with the demo model, the workspace on fake-indexeddb, the rule sandbox a
// worker thread (src/cli/rule-sandbox.ts: the browser's Worker sandbox has the same contract and
// is tested in Chromium, test/browser/rule-sandbox.test.ts). A JavaScript rule that loops forever,
// then one that throws, is stopped and reported: the round waits with its candidate sets and the
// judgements made before the bad one kept, and a rule fixed on the page carries the round on. A
// two-round loop "reloaded" in the middle of generation, of training and of the evaluation (the
// rows left as a gone tab leaves them, the store started afresh) resumes each time and ends as one
// loop: every prompt's candidate set once, round 2 generating from round 1's adapter and training
// from it against it as the reference, each round's win rate recorded.
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { addRecords, createDataset, demoSlice, gpuQueue, loadDemo, openWorkspace, type PrefDb } from './train-support.js';
import { nodeRuleSandbox } from '../../src/cli/rule-sandbox.js';
import type { PrefRecord } from '../../src/data/records.js';
import { GenerationSettingsSchema } from '../../src/engine/loop/config.js';
import { createGeneration, getGeneration, getLoop, getRun, iterateRecords, type StoredRecord } from '../../src/db/index.js';
import { useDataServices } from '../../src/services/data.js';
import * as loopService from '../../src/services/loop.js';
import { useRuleSandbox } from '../../src/services/rule-sandbox.js';
import * as trainService from '../../src/services/train.js';
import { useLoopStore } from '../../src/stores/loop.js';
import { createLoopModule } from '../../src/worker/loop.js';
import { cancelTask } from '../../src/worker/tasks.js';
import { createTrainModule, type TrainModel } from '../../src/worker/train.js';

let model: TrainModel;
let db: PrefDb;
let records: PrefRecord[];
let withGpu: ReturnType<typeof gpuQueue>;

const initial = useLoopStore.getState();
const store = () => useLoopStore.getState();
const MODEL_REF = { id: 'demo', name: 'demo-fortunes' };
const TRAIN_PROMPTS = 10;

beforeAll(async () => {
  const engine = await testEngine();
  withGpu = gpuQueue(engine);
  const demo = await loadDemo(engine);
  model = demo.model;
  // 10 training prompts (two generation batches: 8 prompts x K = 2, then 2) and 2 held out.
  records = demoSlice(demo.records, TRAIN_PROMPTS, 2);
  useRuleSandbox(nodeRuleSandbox);
}, 60_000);

let promptSetId: string;
beforeEach(async () => {
  db?.close();
  db = await openWorkspace(`loop-store-${Math.random()}`);
  useDataServices({ db });
  const host = { workspace: async () => db, withGpu, model: async () => model };
  const training = createTrainModule(host);
  trainService.useTrainBackend(training.api);
  loopService.useLoopBackend(createLoopModule({ ...host, resolveRunAdapter: training.resolveAdapter }).api, cancelTask);
  const d = await createDataset(db, 'prompts');
  await addRecords(db, d.id, records);
  promptSetId = d.id;
  useLoopStore.setState(initial, true);
  await store().init();
  store().setForm({ promptDatasetId: promptSetId, rounds: 1, n: 2, maxNewTokens: 4, maxSteps: 2, batchSize: 2, learningRate: 0.01, seed: 3 });
});

afterAll(() => {
  loopService.useLoopBackend(null);
  trainService.useTrainBackend(null);
  useRuleSandbox(null);
  db?.close();
});

async function candidatesOf(datasetId: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const page of iterateRecords(db, datasetId)) for (const r of page) if (r.kind === 'candidates') out.push(r);
  return out;
}

const loopRow = () => store().loops.find((l) => l.id === store().selectedId)!;

describe('generation jobs: the split of the sets made', () => {
  it('a loop job over the whole prompt set (a held-out dataset elsewhere) makes training sets; a job of its own keeps each prompt\'s split', async () => {
    const host = { workspace: async () => db, withGpu, model: async () => model };
    const loopModule = createLoopModule({ ...host, resolveRunAdapter: createTrainModule(host).resolveAdapter }).api;
    const splits = async (loopId: string | undefined) => {
      const out = await createDataset(db, `sets ${loopId ?? 'own'}`);
      const job = await createGeneration(db, {
        promptDatasetId: promptSetId, split: null, limit: null, outputDatasetId: out.id, modelId: 'demo', modelName: 'demo-fortunes',
        ...(loopId ? { loopId, round: 1 } : {}), settings: GenerationSettingsSchema.parse({ n: 2, maxNewTokens: 2 }), total: records.length,
      });
      const r = await loopModule.runGeneration(`t-${job.id}`, job.id);
      expect(r.ok && r.value.status).toBe('done');
      return (await candidatesOf(out.id)).map((x) => x.split);
    };
    expect(records.filter((r) => r.split === 'test')).toHaveLength(2);
    expect(await splits('loop-1')).toEqual(records.map(() => 'train'));
    expect(await splits(undefined)).toEqual(records.map((r) => r.split));
  }, 120_000);
});

describe('loop store: the rule judge in its sandbox', () => {
  it('a rule that loops forever, then one that throws, is stopped and reported; the round waits, nothing lost; a fixed rule carries it on', async () => {
    // The rule loops forever on the third training prompt's set only: two sets are judged first.
    const third = records.filter((r) => r.split === 'train')[2]!.prompt as string;
    expect(records.filter((r) => (r.prompt as string).includes(third))).toHaveLength(1);
    store().setForm({ judge: 'rule' });
    // 5 s: the limit counts the worker's start too, which took over 400 ms under load, and this
    // test took 51 s in a loaded CI run (9.6 s alone): a tighter limit could stop the first,
    // finite, candidate sets there.
    store().setRule({ kind: 'javascript', text: `if (prompt.includes(${JSON.stringify(third)})) { for (;;) {} }\nreturn response.length;`, timeoutMs: 5000 });
    const id = (await store().start(MODEL_REF))!;
    let row = loopRow();
    expect(row.status).toBe('waiting');
    expect(row.message).toMatch(/rule judge stopped: rule "javascript", candidate set 3: the rule ran past its time limit of 5000 ms .* was stopped\. The candidate sets and the judgements made so far are kept/);
    expect(row.rounds).toHaveLength(1);
    expect(row.rounds[0]).toMatchObject({ round: 1, stage: 'judge' });
    const datasetId = row.rounds[0]!.candidatesDatasetId!;
    let sets = await candidatesOf(datasetId);
    expect(sets).toHaveLength(TRAIN_PROMPTS);
    const judged = () => sets.filter((s) => s.kind === 'candidates' && s.judgement).map((s) => (s.kind === 'candidates' ? s.judgement! : null)!);
    expect(judged()).toHaveLength(2);
    for (const j of judged()) expect(j).toMatchObject({ judge: 'rule', name: 'javascript' });
    const kept = judged().map((j) => j.scores);

    // A rule that throws: stopped and reported the same way, nothing judged, nothing lost.
    store().setRule({ text: `throw new Error('no verdict for ' + response.length)` });
    await store().retryWithRule(id);
    row = loopRow();
    expect(row.status).toBe('waiting');
    expect(row.message).toMatch(/rule "javascript", candidate set 1, candidate 1: the rule threw: no verdict for \d+/);
    sets = await candidatesOf(datasetId);
    expect(sets).toHaveLength(TRAIN_PROMPTS);
    expect(judged().map((j) => j.scores)).toEqual(kept);

    // The tone lexicon judges the rest; the round trains, evaluates and the loop is done.
    store().setRule({ kind: 'tone' });
    await store().retryWithRule(id);
    row = loopRow();
    expect(row.status, row.message).toBe('done');
    sets = await candidatesOf(datasetId);
    expect(judged()).toHaveLength(TRAIN_PROMPTS);
    expect(judged().slice(0, 2).map((j) => [j.name, j.scores])).toEqual(kept.map((s) => ['javascript', s]));
    expect(judged().slice(2).every((j) => j.name === 'tone')).toBe(true);
    expect(row.rounds[0]).toMatchObject({ stage: 'done', judged: TRAIN_PROMPTS });
    expect(row.rounds[0]!.evaluation!.samples).toBe(2);
    expect((await getRun(db, row.rounds[0]!.runId!))?.status).toBe('done');
  }, 300_000);
});

describe('loop store: reloads', () => {
  it('two rounds survive a reload in generation, in training and in the evaluation, and end as one loop', async () => {
    store().setForm({ judge: 'rule', rounds: 2, maxSteps: 3 });
    store().setRule({ kind: 'tone' });
    /** Reload points: [round, what], taken one after another. */
    const points: [number, 'generation' | 'train' | 'evaluate'][] = [[1, 'generation'], [1, 'train'], [2, 'generation'], [2, 'evaluate']];
    let next = 0;
    const reloads: string[] = [];
    const watch = () =>
      useLoopStore.subscribe((s) => {
        const point = points[next];
        if (!point) return;
        const id = s.selectedId;
        const row = s.loops.find((l) => l.id === id);
        const p = id ? s.progress[id] : undefined;
        const [round, what] = point;
        const hit =
          (what === 'generation' && p?.type === 'generation' && p.round === round && p.progress.done > 0 && p.progress.done < p.progress.total) ||
          (what === 'train' && p?.type === 'train' && p.round === round && p.step >= 1) ||
          (what === 'evaluate' && row?.rounds.at(-1)?.round === round && row.rounds.at(-1)?.stage === 'evaluate' && row.status === 'running');
        if (hit && id) {
          next++;
          reloads.push(`${round}:${what}`);
          void store().pause(id);
        }
      });
    let unsubscribe = watch();
    const id = (await store().start(MODEL_REF))!;
    for (let guard = 0; guard < 8 && loopRow().status !== 'done'; guard++) {
      unsubscribe();
      const row = (await getLoop(db, id))!;
      expect(row.status, row.message).toBe('paused');
      const r = row.rounds.at(-1)!;
      // What a tab closed now leaves: the loop, its generation job and its run marked running.
      await db.loops.update(id, { status: 'running' });
      if (r.generationId && (await getGeneration(db, r.generationId))?.status !== 'done') await db.generations.update(r.generationId, { status: 'running' });
      if (r.runId && (await getRun(db, r.runId))?.status === 'paused') await db.runs.update(r.runId, { status: 'running' });
      // A fresh page: the store starts again and finds the loop interrupted.
      useLoopStore.setState(initial, true);
      await store().init();
      expect(store().loops.find((l) => l.id === id)?.status).toBe('interrupted');
      if (r.runId && (await getRun(db, r.runId))?.status !== 'done') expect((await getRun(db, r.runId))?.status).toBe('interrupted');
      unsubscribe = watch();
      await store().resume(id);
    }
    unsubscribe();
    expect(reloads).toEqual(points.map(([r, w]) => `${r}:${w}`));
    const row = (await getLoop(db, id))!;
    expect(row.status, row.message).toBe('done');
    expect(row.rounds.map((r) => r.stage)).toEqual(['done', 'done']);
    const [r1, r2] = row.rounds as [NonNullable<(typeof row.rounds)[0]>, NonNullable<(typeof row.rounds)[0]>];
    // Every training prompt's candidate set once per round, in spite of the reloads.
    for (const r of [r1, r2]) {
      const sets = await candidatesOf(r.candidatesDatasetId!);
      const indexes = sets.map((s) => (s.source as { promptIndex: number }).promptIndex);
      expect(new Set(indexes).size).toBe(TRAIN_PROMPTS);
      expect(sets).toHaveLength(TRAIN_PROMPTS);
      expect(sets.every((s) => s.kind === 'candidates' && s.judgement?.name === 'tone' && s.responses.length === 2)).toBe(true);
      expect((await getGeneration(db, r.generationId!))).toMatchObject({ status: 'done', done: TRAIN_PROMPTS });
      expect(r.evaluation).toBeDefined();
      expect(r.evaluation!.wins + r.evaluation!.ties + r.evaluation!.losses).toBe(2);
    }
    // One generation job, one candidates dataset, one pairs dataset and one run per round: a reload
    // resumes what the stage had made, it does not start another.
    expect(await db.generations.count()).toBe(2);
    expect(await db.runs.count()).toBe(2);
    const names = (await db.datasets.toArray()).map((d) => d.name).sort();
    expect(names).toEqual(['loop · round 1 candidates', 'loop · round 1 pairs', 'loop · round 2 candidates', 'loop · round 2 pairs', 'prompts']);
    // Round 2: generated by round 1's adapter, trained from it with it as the reference.
    expect(r1.policyRunId).toBeUndefined();
    expect(r2.policyRunId).toBe(r1.runId);
    expect((await getGeneration(db, r2.generationId!))?.adapterRunId).toBe(r1.runId);
    const run2 = (await getRun(db, r2.runId!))!;
    expect(run2).toMatchObject({ status: 'done', initFromRunId: r1.runId, referenceRunId: r1.runId });
    // Training resumed after its reload: 3 steps, one curve.
    const run1 = (await getRun(db, r1.runId!))!;
    expect(run1.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
  }, 600_000);
});
