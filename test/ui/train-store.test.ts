// The Train page's store over the real training path: the Worker's training module in-process
// (src/worker/train.ts) on Dawn with the demo model, the workspace on fake-indexeddb, a slice of
// the demo dataset. A short DPO run with metrics every step and checkpoints in the database; a
// run paused mid-way and resumed continues bit for bit (same curve and adapter as an uninterrupted
// run); a tab that went away leaves its run interrupted and resumable; a run that cannot fit is
// refused with the numbers; the trained adapter changes what the model samples; a lost device
// stops the run with its last checkpoint intact.
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { addRecords, createDataset, decodeCheckpointOf, demoSlice, gpuQueue, latestCheckpoint, loadDemo, openWorkspace, type PrefDb } from './train-support.js';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { sequenceLogprobs } from '../../src/engine/transformer/logprobs.js';
import { tokenizeRecords } from '../../src/engine/training/tokenize.js';
import { createTrainModule, type TrainModel, type TrainModule } from '../../src/worker/train.js';
import { useDataServices } from '../../src/services/data.js';
import * as trainService from '../../src/services/train.js';
import { checkpointingNote, useTrainStore } from '../../src/stores/train.js';
import { fieldText } from '../../src/stores/train-form.js';
import type { PrefRecord } from '../../src/data/records.js';


let engine: Engine;
let model: TrainModel;
let module: TrainModule;
let db: PrefDb;
let datasetId: string;
let records: PrefRecord[];
let withGpu: ReturnType<typeof gpuQueue>;

const initial = useTrainStore.getState();
const store = () => useTrainStore.getState();
const MODEL_REF = { id: 'demo', name: 'demo-fortunes' };
const SETTINGS = {
  method: 'dpo' as const,
  values: { max_steps: '3', per_device_train_batch_size: '2', max_length: '32', save_steps: '2', learning_rate: '5e-3', 'lora.r': '4', 'lora.lora_alpha': '8' },
};

beforeAll(async () => {
  engine = await testEngine();
  withGpu = gpuQueue(engine);
  const demo = await loadDemo(engine);
  model = demo.model;
  // 10 training and 4 held-out pairs: enough for batches of 2, small for a software GPU.
  records = demoSlice(demo.records, 10, 4);
}, 60_000);

beforeEach(async () => {
  db?.close();
  db = await openWorkspace(`train-store-${Math.random()}`);
  useDataServices({ db });
  module = createTrainModule({ workspace: async () => db, withGpu, model: async () => model });
  trainService.useTrainBackend(module.api);
  useTrainStore.setState(initial, true);
  const d = await createDataset(db, 'demo slice');
  await addRecords(db, d.id, records);
  datasetId = d.id;
  await store().init();
  store().setForm({ ...SETTINGS, datasetId });
});

afterAll(() => {
  trainService.useTrainBackend(null);
  db?.close();
});

async function adapterOf(runId: string) {
  return decodeCheckpointOf(await latestCheckpoint(db, runId));
}

describe('train store', () => {
  it('plans a run: examples per split, steps, memory, and a refusal with numbers when it cannot fit', async () => {
    expect(store().form.datasetId).toBe(datasetId);
    const plan = await store().planRun(MODEL_REF);
    expect(plan).not.toBeNull();
    const tok = tokenizeRecords(records, model.tokenizer!, trainService.runConfig({ method: 'dpo', max_length: 32 }));
    expect(plan!.examples).toEqual({ train: tok.examples.filter((e) => e.split === 'train').length, test: tok.examples.filter((e) => e.split === 'test').length, skipped: tok.skipped.length });
    expect(plan!.examples.train).toBe(10);
    expect(plan!.totalSteps).toBe(3);
    expect(plan!.refusal).toBeNull();
    expect(plan!.memory.total).toBeGreaterThan(plan!.memory.weights);
    expect(plan!.loraParameters).toBeGreaterThan(0);

    // gradient_checkpointing left automatic: off here, with both totals that decided it; a budget
    // between them turns it on in the plan, and an explicit off is refused under that budget.
    expect(plan!.memory.recompute).toBe(false);
    const both = plan!.memory.automatic!;
    expect(both.with).toBeLessThan(both.without);
    expect(both.without).toBe(plan!.memory.total);
    const between = Math.round((both.with + both.without) / 2);
    // Through the form: the field's text (auto, the default; then off), the budget typed in bytes.
    expect(fieldText(store().form, 'gradient_checkpointing')).toBe('auto');
    store().setForm({ values: { ...SETTINGS.values, memory_budget_bytes: String(between) } });
    const auto = await store().planRun(MODEL_REF);
    expect(auto!.refusal).toBeNull();
    expect(auto!.memory).toMatchObject({ recompute: true, total: both.with });
    expect(checkpointingNote(auto!.memory)).toMatch(/^gradient checkpointing: on \(automatic: the run does not fit without it/);
    store().setForm({ values: { ...SETTINGS.values, memory_budget_bytes: String(between), gradient_checkpointing: 'false' } });
    expect((await store().planRun(MODEL_REF))!.refusal).toMatch(/turn on gradient_checkpointing/);
    store().setForm({ values: SETTINGS.values });

    const tiny = await trainService.planRun({ modelId: 'demo', datasetId, config: { method: 'dpo', max_length: 64, memory_budget_bytes: 1024 * 1024 } });
    expect(tiny.ok && tiny.value.refusal).toMatch(/needs about .* more than the budget of 1\.00 MiB/);

    const bad = await trainService.planRun({ modelId: 'demo', datasetId, config: { method: 'kto', beta: -1 } as never });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.message).toMatch(/beta/);
  }, 120_000);

  it('runs DPO with metrics every step, checkpoints in the database, and a paused run resumes bit for bit', async () => {
    const whole = await store().start(MODEL_REF);
    expect(whole).not.toBeNull();
    const run = store().runs.find((r) => r.id === whole)!;
    expect(run.status).toBe('done');
    expect(run.step).toBe(3);
    // The run records gradient_checkpointing as its Trainer decided it (automatic, the budget roomy: off).
    expect(run.config.gradient_checkpointing).toBeNull();
    expect(run.memory).toMatchObject({ recompute: false, automatic: { without: run.memory!.total } });
    const curve = store().metrics[whole!]!;
    expect(curve.map((m) => m.step)).toEqual([1, 2, 3]);
    for (const m of curve) {
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(m['rewards/accuracies']).toBeGreaterThanOrEqual(0);
      expect(m.learning_rate).toBeGreaterThan(0);
    }
    expect(run.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect((await latestCheckpoint(db, whole!))?.step).toBe(3);
    // Reference log-probs are cached by fingerprint when a batch first needs them: the 6 training
    // pairs of 3 steps of 2 (one epoch's permutation) and the 4 held out at the final evaluation.
    expect(await db.refcache.count()).toBe(10);

    // The same run paused after step 1 (a checkpoint there), then resumed by a fresh page state.
    const stopAt1 = useTrainStore.subscribe((s) => {
      const id = s.activeRunId;
      if (id && (s.metrics[id]?.at(-1)?.step ?? 0) >= 1) void store().pause(id);
    });
    const paused = await store().start(MODEL_REF);
    stopAt1();
    const p = store().runs.find((r) => r.id === paused)!;
    expect(p.status).toBe('paused');
    expect(p.step).toBe(1);
    expect((await latestCheckpoint(db, paused!))?.step).toBe(1);
    useTrainStore.setState(initial, true);
    await store().init();
    expect(store().metrics[paused!]!.map((m) => m.step)).toEqual([1]);
    await store().resume(paused!);
    const resumed = store().runs.find((r) => r.id === paused)!;
    expect(resumed.status).toBe('done');
    const after = store().metrics[paused!]!;
    expect(after.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(after.map((m) => m.loss)).toEqual(curve.map((m) => m.loss));
    const a = await adapterOf(whole!);
    const b = await adapterOf(paused!);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) expect(b[k]).toEqual(a[k]);
    // The second run found every reference log-prob it needed in the cache.
    expect(await db.refcache.count()).toBe(10);

    // The tuned adapter changes the model's log-probs when generation plugs it in by run id.
    const seq = [{ promptIds: [1, 50, 60], completionIds: [70, 80, 2] }];
    const base = (await sequenceLogprobs(model.model, seq))[0]!.logp;
    const detach = await module.resolveAdapter(whole!, model.model, 'demo');
    const tuned = (await sequenceLogprobs(model.model, seq))[0]!.logp;
    detach();
    expect(Math.abs(tuned - base)).toBeGreaterThan(1e-4);
    expect((await sequenceLogprobs(model.model, seq))[0]!.logp).toBe(base);
    await expect(module.resolveAdapter(whole!, model.model, 'other-model')).rejects.toThrow(/trained on demo-fortunes/);
  }, 300_000);

  it('lists a run a gone tab left running as interrupted; continue-from starts a new run from a finished adapter', async () => {
    const row = await trainService.createRun({
      name: 'left running', config: trainService.runConfig({ method: 'dpo', max_steps: 1, max_length: 32, per_device_train_batch_size: 2, save_steps: 1, learning_rate: 5e-3, lora: { r: 4, lora_alpha: 8 } }),
      datasetId, datasetName: 'demo slice', modelId: 'demo', modelName: 'demo-fortunes', totalSteps: 1, status: 'running',
    });
    useTrainStore.setState(initial, true);
    await store().init();
    const r = store().runs.find((x) => x.id === row.id)!;
    expect(r.status).toBe('interrupted');
    await store().resume(row.id);
    expect(store().runs.find((x) => x.id === row.id)!.status).toBe('done');

    store().continueFrom(row.id);
    expect(store().form).toMatchObject({ initFromRunId: row.id, values: { 'lora.r': '4', 'lora.lora_alpha': '8' } });
    store().setField('max_steps', '1');
    const next = await store().start(MODEL_REF);
    const n = store().runs.find((x) => x.id === next)!;
    expect(n).toMatchObject({ status: 'done', initFromRunId: row.id });
    // Started from the first run's adapter: its first step's loss is that adapter's, not a fresh one's (log 2).
    expect(Math.abs(store().metrics[next!]![0]!.loss! - Math.log(2))).toBeGreaterThan(1e-5);
  }, 300_000);

  it('a lost GPU device stops the run as interrupted with its last checkpoint intact', async () => {
    // Last test of the file: the device is gone afterwards.
    store().setField('save_steps', '1');
    const plan = await store().planRun(MODEL_REF);
    expect(plan?.refusal).toBeNull();
    let destroyed = false;
    const unsub = useTrainStore.subscribe((s) => {
      if (!destroyed && s.activeRunId && s.runs.find((r) => r.id === s.activeRunId)?.step === 1 && (s.metrics[s.activeRunId]?.length ?? 0) >= 1) {
        void latestCheckpoint(db, s.activeRunId).then((c) => {
          if (c && !destroyed) {
            destroyed = true;
            engine.device.destroy();
          }
        });
      }
    });
    const id = await store().start(MODEL_REF);
    unsub();
    const run = store().runs.find((r) => r.id === id)!;
    expect(destroyed).toBe(true);
    expect(run.status).toBe('interrupted');
    expect(run.error).toMatch(/GPU device was lost.*checkpoint at step \d/);
    const ck = await latestCheckpoint(db, id!);
    expect(ck?.step).toBeGreaterThanOrEqual(1);
    expect(store().problem?.message).toMatch(/resume/);
  }, 120_000);
});
