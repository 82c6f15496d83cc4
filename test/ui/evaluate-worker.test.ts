// The Worker's evaluation module in-process on Dawn: the demo model, the workspace on
// fake-indexeddb, three held-out pairs of the demo data and a stored run whose checkpoint holds a
// non-zero adapter. Its accuracies and margins must equal an independent computation from
// sequenceLogprobs (one sequence at a time, the adapter plugged in by hand); the base model's
// rewards are 0; an imported PEFT adapter with the same tensors scores the same; reference
// log-probs come from the cache the second time; a cancelled task ends as aborted.
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import type { PrefRecord } from '../../src/data/records.js';
import { addRecords, createDataset, createRun, openWorkspace, saveCheckpoint, type PrefDb } from '../../src/db/index.js';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { loraAdapterConfig } from '../../src/engine/training/backend.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { MemoryRefCache } from '../../src/engine/training/ref-cache.js';
import { tokenizeRecords } from '../../src/engine/training/tokenize.js';
import { encodeCheckpoint } from '../../src/engine/training/trainer.js';
import { sequenceLogprobs } from '../../src/engine/transformer/logprobs.js';
import { seededRandom } from '../../src/engine/transformer/sampling.js';
import { createEvaluateModule, type EvaluateModule } from '../../src/worker/evaluate.js';
import type { EvaluateRequest } from '../../src/worker/evaluate-protocol.js';
import { cancelTask } from '../../src/worker/tasks.js';
import { createTrainModule, type TrainModel } from '../../src/worker/train.js';
import { demoSlice, gpuQueue, loadDemo } from './train-support.js';

const BETA = 0.25;
const MAX_LENGTH = 32;

let engine: Engine;
let model: TrainModel;
let db: PrefDb;
let datasetId: string;
let runId: string;
let records: PrefRecord[];
let adapterValues: Map<string, Float32Array>;
const lora = parseTrainingConfig({ method: 'dpo', lora: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'] } }).lora;
const cache = new MemoryRefCache();
let module: EvaluateModule;
let withGpu: ReturnType<typeof gpuQueue>;

beforeAll(async () => {
  engine = await testEngine();
  withGpu = gpuQueue(engine);
  const demo = await loadDemo(engine);
  model = demo.model;
  const tm = model.model;
  records = demoSlice(demo.records, 2, 3);
  db = await openWorkspace(`evaluate-worker-${Math.random()}`);
  const d = await createDataset(db, 'demo slice');
  await addRecords(db, d.id, records);
  datasetId = d.id;

  // A non-zero adapter (B is zero when fresh): random A and B from a seeded generator.
  const ad = LoraAdapter.create(tm, loraAdapterConfig(lora, 7));
  const random = seededRandom(11);
  adapterValues = new Map(ad.params().map((p) => [p.name, Float32Array.from({ length: p.shape[0] * p.shape[1] }, () => (2 * random() - 1) * 0.3)]));
  ad.destroy();
  const config = parseTrainingConfig({ method: 'dpo', max_length: MAX_LENGTH, lora });
  const run = await createRun(db, { name: 'tuned', config, datasetId, datasetName: 'demo slice', modelId: 'demo', modelName: 'demo-fortunes', totalSteps: 1, status: 'done' });
  runId = run.id;
  const ck = encodeCheckpoint({
    version: 1, config, step: 1, rng: [1, 2, 3, 4], dataFingerprint: '', modelFingerprint: 'demo-fp', history: [],
    adapter: Object.fromEntries(adapterValues), optimizer: { steps: 1, m: {}, v: {} },
  });
  await saveCheckpoint(db, runId, 1, ck, { status: 'done' });

  const host = { workspace: async () => db, withGpu, model: async () => model };
  const training = createTrainModule(host);
  module = createEvaluateModule({ ...host, resolveRunAdapter: training.resolveAdapter, refCache: () => cache });
}, 60_000);

afterAll(() => db?.close());

const request = (patch: Partial<EvaluateRequest> = {}): EvaluateRequest => ({
  modelId: 'demo', datasetId, split: 'test', beta: BETA, adapterIds: [runId], maxLength: MAX_LENGTH, batchSize: 2, ...patch,
});

/** The same quantities, one sequence per forward, from the engine's log-probs directly. */
async function independentScores() {
  const config = parseTrainingConfig({ method: 'dpo', max_length: MAX_LENGTH });
  const test = records.filter((r) => r.split === 'test');
  const examples = tokenizeRecords(test, model.tokenizer!, config).examples;
  const one = async (s: (typeof examples)[number]['sequences'][number]) => (await sequenceLogprobs(model.model, [s]))[0]!.logp;
  const ref: number[][] = [];
  for (const e of examples) ref.push([await one(e.sequences[0]!), await one(e.sequences[1]!)]);
  const ad = LoraAdapter.create(model.model, loraAdapterConfig(lora, 0));
  const tuned: number[][] = [];
  try {
    ad.load(adapterValues);
    for (const e of examples) tuned.push([await one(e.sequences[0]!), await one(e.sequences[1]!)]);
  } finally {
    ad.destroy();
  }
  return examples.map((_, i) => {
    const rc = BETA * (tuned[i]![0]! - ref[i]![0]!);
    const rr = BETA * (tuned[i]![1]! - ref[i]![1]!);
    return { refChosen: ref[i]![0]!, refRejected: ref[i]![1]!, rewardChosen: rc, rewardRejected: rr, margin: rc - rr, correct: rc > rr };
  });
}

describe('evaluate worker module', () => {
  it('base vs a stored run: per-pair rewards, margins and accuracy equal an independent computation; base rewards are 0', async () => {
    const r = await module.api.evaluate('eval-1', request());
    if (!r.ok) throw new Error(r.error.message);
    const v = r.value;
    const expected = await independentScores();
    expect(v.pairs).toHaveLength(expected.length);
    expect(v.pairs.length).toBe(3);
    expect(v.refCacheHits).toBe(0);
    expect(v.models.map((m) => m.id)).toEqual(['base', runId]);
    expect(v.models[1]!.name).toBe('tuned');

    for (const [i, p] of v.pairs.entries()) {
      const e = expected[i]!;
      expect(p.refChosen).toBeCloseTo(e.refChosen, 3);
      expect(p.refRejected).toBeCloseTo(e.refRejected, 3);
      expect(p.scores.base).toMatchObject({ rewardChosen: 0, rewardRejected: 0, margin: 0, correct: false });
      const s = p.scores[runId]!;
      expect(s.rewardChosen).toBeCloseTo(e.rewardChosen, 3);
      expect(s.rewardRejected).toBeCloseTo(e.rewardRejected, 3);
      expect(s.margin).toBeCloseTo(e.margin, 3);
      if (Math.abs(e.margin) > 1e-3) expect(s.correct).toBe(e.correct);
      expect(p.chosen.length).toBeGreaterThan(0);
    }
    // The adapter changes the scores (it is not the base in disguise).
    expect(expected.some((e) => Math.abs(e.margin) > 1e-2)).toBe(true);

    const base = v.models[0]!;
    expect(base).toMatchObject({ accuracy: 0, meanMargin: 0, pairs: 3 });
    expect(base.logpAccuracy).toBeCloseTo(expected.filter((e) => e.refChosen > e.refRejected).length / 3, 10);
    const tuned = v.models[1]!;
    expect(tuned.accuracy).toBeCloseTo(expected.filter((e) => e.correct).length / 3, 10);
    expect(tuned.meanMargin).toBeCloseTo(expected.reduce((a, e) => a + e.margin, 0) / 3, 3);
  }, 120_000);

  it('reference log-probs come from the cache; an imported PEFT adapter with the same tensors scores the same', async () => {
    await module.api.registerAdapter('peft:same', { name: 'imported', lora, baseModel: 'demo', tensors: adapterValues });
    const r = await module.api.evaluate('eval-2', request({ adapterIds: [runId, 'peft:same'] }));
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.refCacheHits).toBe(3);
    for (const p of r.value.pairs) {
      expect(p.scores['peft:same']!.margin).toBeCloseTo(p.scores[runId]!.margin, 5);
    }
    expect(r.value.models[2]).toMatchObject({ id: 'peft:same', name: 'imported', accuracy: r.value.models[1]!.accuracy });
  }, 120_000);

  it('refuses an adapter that does not fit the model and an empty split, naming why; a cancelled task ends as aborted', async () => {
    const bad = new Map(adapterValues);
    const first = [...bad.keys()][0]!;
    bad.set(first, new Float32Array(3));
    await module.api.registerAdapter('peft:bad', { name: 'broken', lora, baseModel: 'demo', tensors: bad });
    const r = await module.api.evaluate('eval-3', request({ adapterIds: ['peft:bad'] }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(new RegExp(`"broken" does not fit this model: .*${first.replace(/\./g, '\\.')}.*3 values`));

    const empty = await createDataset(db, 'empty');
    const e = await module.api.evaluate('eval-4', request({ datasetId: empty.id }));
    expect(e.ok).toBe(false);
    if (!e.ok) expect(e.error).toMatchObject({ code: 'no-data' });

    const pending = module.api.evaluate('eval-5', request());
    cancelTask('eval-5');
    const c = await pending;
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.error.code).toBe('aborted');
  }, 120_000);
});
