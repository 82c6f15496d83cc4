// The Evaluate page's store and service without a GPU: the Worker is a stand-in whose generations
// name the adapter and seed they were asked for. Win rate and its Wilson interval against hand
// values; blind sides and verdicts mapped back to models; judged pairs saved as preference records
// with their provenance; pairs sorted to find those a model gets wrong; run rename and delete;
// the data fingerprint; the report zip.
import 'fake-indexeddb/auto';
import { unzipSync } from 'fflate';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { addRecords, createDataset, createRun, getRun, latestCheckpoint, openWorkspace, queryRecords, saveCheckpoint, updateRecord, type PrefDb } from '../../src/db/index.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import type { PrefRecord } from '../../src/data/records.js';
import { useDataServices } from '../../src/services/data.js';
import * as ev from '../../src/services/evaluate.js';
import * as trainService from '../../src/services/train.js';
import { sortedPairs, splitPrompts, useEvaluateStore } from '../../src/stores/evaluate.js';
import type { EvaluateResult, PairScore } from '../../src/worker/evaluate-protocol.js';
import type { GenerateRequest } from '../../src/worker/protocol.js';
import type { TrainWorkerApi } from '../../src/worker/train-protocol.js';

let db: PrefDb;
let runningRun: string | null = null;
const requests: GenerateRequest[] = [];
const initial = useEvaluateStore.getState();
const store = () => useEvaluateStore.getState();

const fakeBackend: ev.EvaluateBackend = {
  registerAdapter: async () => {},
  forgetAdapter: async () => {},
  evaluate: async () => ({ ok: false, error: { name: 'Error', code: 'error', message: 'not used' } }),
  async generate(_taskId, request) {
    requests.push(request);
    const text = `${request.adapterId ?? 'base'}@${request.seed}: ${request.prompt}`;
    return { ok: true, value: { text, finishReason: 'length', promptTokens: 1, tokens: 1, ms: 1 } };
  },
  cancel: async () => {},
};

const record = (prompt: string, split: 'train' | 'test' = 'test'): PrefRecord => ({
  kind: 'pair', prompt, chosen: `good ${prompt}`, rejected: `bad ${prompt}`, source: { type: 'manual' }, createdAt: 1, split, tags: [],
});

beforeEach(async () => {
  db?.close();
  db = await openWorkspace(`evaluate-store-${Math.random()}`);
  useDataServices({ db });
  ev.useEvaluateBackend(fakeBackend);
  runningRun = null;
  trainService.useTrainBackend({ runningRun: async () => runningRun } as unknown as TrainWorkerApi);
  useEvaluateStore.setState(initial, true);
  requests.length = 0;
});

afterAll(() => {
  ev.useEvaluateBackend(null);
  trainService.useTrainBackend(null);
  db?.close();
});

describe('win rate', () => {
  it('Wilson 95 % interval matches hand-computed values', () => {
    // 7 of 10: p = 0.7, z = 1.96 → (0.3968, 0.8922); 10 of 10 → (0.7225, 1); 0 of 0 → (0, 1).
    const a = ev.wilsonInterval(7, 10);
    expect(a.low).toBeCloseTo(0.39676, 4);
    expect(a.high).toBeCloseTo(0.89222, 4);
    const b = ev.wilsonInterval(10, 10);
    expect(b.low).toBeCloseTo(0.72246, 4);
    expect(b.high).toBeCloseTo(1, 12);
    expect(ev.wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
    // Symmetric: x of n for one side is n − x for the other.
    const c = ev.wilsonInterval(3, 10);
    expect(c.low).toBeCloseTo(1 - a.high, 10);
    expect(c.high).toBeCloseTo(1 - a.low, 10);
  });

  it('maps blind verdicts back to sides; ties count half, skips not at all', () => {
    const row = { prompt: 'p', a: 'A', b: 'B' };
    const items: ev.BlindItem[] = [
      { ...row, left: 'a', verdict: 'left' }, // a wins
      { ...row, left: 'b', verdict: 'right' }, // a wins (a is on the right)
      { ...row, left: 'b', verdict: 'left' }, // b wins
      { ...row, left: 'a', verdict: 'tie' },
      { ...row, left: 'a', verdict: 'skip' },
      { ...row, left: 'b' }, // not judged
    ];
    const w = ev.winRate(items);
    expect(w).toMatchObject({ wins: 2, losses: 1, ties: 1, n: 4, rate: 2.5 / 4 });
    expect(w.interval).toEqual(ev.wilsonInterval(2.5, 4));
    expect(w.interval.low).toBeLessThan(w.rate);
    expect(w.interval.high).toBeGreaterThan(w.rate);
  });
});

describe('evaluate store', () => {
  it('generates both sides with the same seed, judges blind with verdicts, and saves the judged pairs with provenance', async () => {
    const d = await createDataset(db, 'prompts');
    await addRecords(db, d.id, [record('one'), record('two'), record('three'), record('four', 'train')]);
    const config = parseTrainingConfig({ method: 'dpo', beta: 0.3 });
    const run = await createRun(db, { name: 'tuned run', config, datasetId: d.id, datasetName: 'prompts', modelId: 'm', modelName: 'demo', totalSteps: 1, status: 'done' });
    await saveCheckpoint(db, run.id, 1, new Uint8Array([1]), { status: 'done' });
    await store().init();
    expect(store().sides[1]).toEqual({ adapterId: run.id, label: 'tuned run' });
    store().toggleAdapter(run.id);
    expect(store().settings.beta).toBe(0.3); // the run's own β

    await store().promptsFromDataset(10);
    expect(splitPrompts(store().prompts)).toEqual(['one', 'two', 'three']);
    store().setView({ sampling: { temperature: 0.5, topK: 0, topP: 1, maxNewTokens: 8, seed: 42 } });
    await store().generate();
    expect(store().rows.map((r) => r.b)).toEqual(['one', 'two', 'three'].map((p) => `${run.id}@42: ${p}`));
    expect(store().rows.map((r) => r.a)).toEqual(['one', 'two', 'three'].map((p) => `base@42: ${p}`));
    expect(requests.every((r) => r.seed === 42 && r.temperature === 0.5)).toBe(true);
    expect(requests.filter((r) => r.adapterId === undefined)).toHaveLength(3);

    // Judge: always the tuned output (whichever side it is on), then a tie.
    const items = store().items;
    expect(items).toHaveLength(3);
    for (let i = 0; i < 2; i++) store().judge(items[i]!.left === 'b' ? 'left' : 'right');
    store().judge('tie');
    store().judge('left'); // past the end: ignored
    expect(store().judgeIndex).toBe(3);
    const w = ev.winRate(store().items);
    expect(w).toMatchObject({ wins: 0, losses: 2, ties: 1, n: 3 }); // side a is the base
    store().undoJudge();
    expect(store().items[2]!.verdict).toBeUndefined();
    store().judge('skip');

    await store().saveJudged({ id: 'm', name: 'demo' }, { newName: 'judged' });
    expect(store().problem).toBeNull();
    const saved = store().saved!;
    expect(saved.saved).toBe(2);
    const stored = await queryRecords(db, { datasetId: saved.datasetId });
    expect(stored).toHaveLength(2);
    for (const r of stored) {
      if (r.kind !== 'pair') throw new Error('expected a pair');
      expect(r.chosen).toBe(`${run.id}@42: ${r.prompt}`);
      expect(r.rejected).toBe(`base@42: ${r.prompt}`);
      expect(r.source).toEqual({
        type: 'generated', model: 'demo', adapter: 'chosen: tuned run; rejected: base',
        sampling: { temperature: 0.5, topP: 1, topK: 0, maxTokens: 8, seed: 42 },
      });
      expect(r.tags).toEqual(['blind-ab', 'chosen:tuned run', 'rejected:base']);
    }
    expect(store().datasets.some((x) => x.id === saved.datasetId && x.name === 'judged')).toBe(true);
  });

  it('renames and deletes runs (with their checkpoints); a training run cannot be deleted', async () => {
    const d = await createDataset(db, 'data');
    const config = parseTrainingConfig({ method: 'dpo' });
    const a = await createRun(db, { name: 'first', config, datasetId: d.id, datasetName: 'data', modelId: 'm', modelName: 'demo', totalSteps: 1 });
    const b = await createRun(db, { name: 'second', config, datasetId: d.id, datasetName: 'data', modelId: 'm', modelName: 'demo', totalSteps: 1 });
    await saveCheckpoint(db, a.id, 1, new Uint8Array([1]));
    await store().init();
    expect([...store().compare].sort()).toEqual([a.id, b.id].sort()); // both runs, newest first (same ms: either order)
    await store().rename(a.id, '  renamed  ');
    expect((await getRun(db, a.id))!.name).toBe('renamed');
    expect(store().runs.find((r) => r.id === a.id)!.name).toBe('renamed');
    await store().rename(a.id, ' ');
    expect(store().problem?.message).toMatch(/needs a name/);
    store().dismissProblem();

    runningRun = b.id;
    await store().remove(b.id);
    expect(store().problem?.message).toMatch(/training: stop it/);
    expect(await getRun(db, b.id)).toBeDefined();

    store().toggleAdapter(a.id);
    await store().remove(a.id);
    expect(await getRun(db, a.id)).toBeUndefined();
    expect(await latestCheckpoint(db, a.id)).toBeUndefined();
    expect(store().runs.map((r) => r.id)).toEqual([b.id]);
    expect(store().settings.adapterIds).toEqual([]);
  });

  it('sorts pairs by the focused model\'s margin and keeps only those it gets wrong', () => {
    const score = (margin: number): PairScore => ({ logpChosen: 0, logpRejected: 0, rewardChosen: margin, rewardRejected: 0, margin, correct: margin > 0 });
    const pair = (index: number, margin: number) => ({ index, recordId: index, prompt: '', chosen: '', rejected: '', refChosen: -index, refRejected: 0, scores: { base: score(0), r: score(margin) } });
    const result = { pairs: [pair(0, 0.5), pair(1, -0.2), pair(2, 0.1), pair(3, -0.7)] } as unknown as EvaluateResult;
    expect(sortedPairs(result, 'r', 'margin-asc', false).map((p) => p.index)).toEqual([3, 1, 2, 0]);
    expect(sortedPairs(result, 'r', 'margin-desc', false).map((p) => p.index)).toEqual([0, 2, 1, 3]);
    expect(sortedPairs(result, 'r', 'index', true).map((p) => p.index)).toEqual([1, 3]);
    expect(sortedPairs(result, 'base', 'index', true)).toHaveLength(4); // margin 0 is not a win
    expect(sortedPairs(result, 'r', 'ref-margin-asc', false).map((p) => p.index)).toEqual([3, 2, 1, 0]);
  });
});

describe('run history', () => {
  it('fingerprints a dataset by content: stable, and changed by an edit', async () => {
    const d = await createDataset(db, 'data');
    await addRecords(db, d.id, [record('one'), record('two')]);
    const f1 = await ev.datasetFingerprint(d.id);
    expect(f1.records).toBe(2);
    expect(f1.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect((await ev.datasetFingerprint(d.id)).fingerprint).toBe(f1.fingerprint);
    const [first] = await queryRecords(db, { datasetId: d.id });
    await updateRecord(db, first!.id!, { ...record('one'), chosen: 'changed', datasetId: d.id });
    expect((await ev.datasetFingerprint(d.id)).fingerprint).not.toBe(f1.fingerprint);
  });

  it('writes a report zip: summary, configuration, metrics (JSON and CSV), charts, evaluation', async () => {
    const d = await createDataset(db, 'data');
    const config = parseTrainingConfig({ method: 'dpo', beta: 0.2 });
    const run = await createRun(db, { name: 'report me', config, datasetId: d.id, datasetName: 'data', modelId: 'm', modelName: 'demo', totalSteps: 2 });
    const metrics = [{ step: 1, loss: 0.69, 'rewards/margins': 0 }, { step: 2, loss: 0.6, 'rewards/margins': 0.1, grad_norm: 2 }];
    const row = { ...run, metrics } as unknown as typeof run;
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const evaluation = { split: 'test', beta: 0.2, pairs: [{}, {}], models: [{ name: 'base', accuracy: 0, meanMargin: 0 }, { name: 'report me', accuracy: 0.5, meanMargin: 0.25 }] } as unknown as EvaluateResult;
    const files = unzipSync(ev.runReportZip(row, [{ name: 'loss', png }], { dataFingerprint: 'abc123', evaluation }));
    expect(Object.keys(files).sort()).toEqual(['README.md', 'charts/loss.png', 'config.json', 'evaluation.json', 'metrics.csv', 'metrics.json', 'run.json']);
    expect(files['charts/loss.png']).toEqual(png);
    expect(JSON.parse(new TextDecoder().decode(files['config.json']))).toEqual(config);
    expect(JSON.parse(new TextDecoder().decode(files['metrics.json']))).toEqual(metrics);
    expect(new TextDecoder().decode(files['metrics.csv'])).toBe('step,loss,grad_norm,rewards/margins\n1,0.69,,0\n2,0.6,2,0.1\n');
    const readme = new TextDecoder().decode(files['README.md']);
    expect(readme).toContain('# report me');
    expect(readme).toContain('fingerprint abc123');
    expect(readme).toContain('| report me | 0.500 | 0.2500 |');
    expect(readme).toContain('![loss](charts/loss.png)');
    expect(JSON.parse(new TextDecoder().decode(files['run.json']))).not.toHaveProperty('metrics');
  });
});
