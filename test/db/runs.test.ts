// Training runs in the workspace database (schema v3) on fake-indexeddb: a v2 workspace upgrades
// with its datasets, records and labels intact; checkpoints are saved with the run's progress in
// one transaction and read back bit for bit (Trainer checkpoint bytes); only the newest is kept;
// runs a gone tab left running become interrupted; the reference log-prob cache by key.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { Rng } from '../../src/engine/training/data-order.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainerCheckpoint } from '../../src/engine/training/trainer.js';
import {
  addRecords,
  createDataset,
  createRun,
  dbRefCache,
  deleteRun,
  getRun,
  latestCheckpoint,
  listRuns,
  markInterrupted,
  openWorkspace,
  PrefDb,
  queryRecords,
  saveCheckpoint,
  saveLabel,
  SCHEMA_VERSIONS,
  updateRun,
  type NewRun,
} from '../../src/db/index.js';

const opened: PrefDb[] = [];
async function workspace(name = `runs-${Math.random()}`): Promise<PrefDb> {
  const db = await openWorkspace(name);
  opened.push(db);
  return db;
}
afterEach(async () => {
  for (const db of opened.splice(0)) {
    db.close();
    await db.delete();
  }
});

const pair = (i: number) => ({ kind: 'pair', prompt: `p ${i}`, chosen: `good ${i}`, rejected: `bad ${i}`, source: { type: 'manual' }, createdAt: 1_700_000_000_000 + i, split: i % 4 === 0 ? 'test' : 'train', tags: [] });

function newRun(over: Partial<NewRun> = {}): NewRun {
  return {
    name: 'dpo run',
    config: parseTrainingConfig({ method: 'dpo', max_steps: 4, learning_rate: 1e-3 }),
    datasetId: 'd1',
    datasetName: 'demo',
    modelId: 'm1',
    modelName: 'demo-fortunes',
    totalSteps: 4,
    ...over,
  };
}

/** A checkpoint as the Trainer makes one (values vary with `step`). */
function checkpoint(step: number): TrainerCheckpoint {
  const metrics = Array.from({ length: step }, (_, i) => ({ step: i + 1, loss: 0.69 - 0.01 * i, grad_norm: 1, learning_rate: 1e-3 }));
  return {
    version: 1,
    config: parseTrainingConfig({ method: 'dpo', max_steps: 4 }),
    step,
    rng: new Rng(42 + step, 2).state,
    dataFingerprint: 'data',
    modelFingerprint: 'model',
    history: metrics,
    adapter: { 'base_model.model.x.lora_A.weight': Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + step)) },
    optimizer: { steps: step, m: { 'base_model.model.x.lora_A.weight': new Float32Array(12).fill(step) }, v: { 'base_model.model.x.lora_A.weight': new Float32Array(12).fill(step / 10) } },
  };
}

describe('schema v3 upgrade', () => {
  it('opens a v2 workspace with its datasets, records and labels intact and adds the run tables', async () => {
    const name = `upgrade-${Math.random()}`;
    const v2 = new PrefDb(name, undefined, 2);
    await v2.open();
    expect(v2.verno).toBe(2);
    expect(v2.tables.map((t) => t.name).sort()).toEqual(['datasets', 'labels', 'records']);
    const d = await createDataset(v2, 'old data');
    await addRecords(v2, d.id, [pair(1), pair(2), pair(4)]);
    await saveLabel(v2, { taskKey: 'k', sourceDatasetId: d.id, sourceRecordId: 1, annotator: 'ada', createdAt: 1, decision: { type: 'prefer', winner: 0 } }, pair(9));
    v2.close();

    const v3 = await workspace(name);
    expect(v3.verno).toBe(SCHEMA_VERSIONS.at(-1)!.version);
    expect(v3.verno).toBeGreaterThanOrEqual(3);
    const dataset = await v3.datasets.get(d.id);
    expect(dataset?.counts.total).toBe(3);
    expect(dataset?.counts.bySplit).toEqual({ train: 2, test: 1 });
    expect((await queryRecords(v3, { datasetId: d.id })).map((r) => r.prompt)).toEqual(['p 1', 'p 2', 'p 4']);
    expect(await v3.labels.count()).toBe(1);
    expect(await v3.runs.count()).toBe(0);
    const run = await createRun(v3, newRun({ datasetId: d.id }));
    expect((await getRun(v3, run.id))?.datasetId).toBe(d.id);
  });
});

describe('runs and checkpoints', () => {
  it('saves a checkpoint with the run progress and reads the Trainer state back exactly', async () => {
    const db = await workspace();
    const run = await createRun(db, newRun());
    expect(run.status).toBe('queued');
    expect(await latestCheckpoint(db, run.id)).toBeUndefined();
    const c2 = checkpoint(2);
    await saveCheckpoint(db, run.id, 2, encodeCheckpoint(c2), { metrics: c2.history, status: 'running' });
    const row = await latestCheckpoint(db, run.id);
    expect(row?.step).toBe(2);
    const back = decodeCheckpoint(row!.bytes);
    expect(back.step).toBe(2);
    expect(back.history).toEqual(c2.history);
    expect(back.adapter['base_model.model.x.lora_A.weight']).toEqual(c2.adapter['base_model.model.x.lora_A.weight']);
    expect(back.optimizer).toEqual(c2.optimizer);
    const r = await getRun(db, run.id);
    expect(r).toMatchObject({ step: 2, status: 'running' });
    expect(r!.metrics.map((m) => m.step)).toEqual([1, 2]);
  });

  it('keeps only the newest checkpoint of each run, and deletes them with the run', async () => {
    const db = await workspace();
    const a = await createRun(db, newRun());
    const b = await createRun(db, newRun({ name: 'other' }));
    for (const s of [1, 2, 3]) await saveCheckpoint(db, a.id, s, encodeCheckpoint(checkpoint(s)));
    await saveCheckpoint(db, b.id, 1, encodeCheckpoint(checkpoint(1)));
    expect(await db.checkpoints.where('runId').equals(a.id).count()).toBe(1);
    expect((await latestCheckpoint(db, a.id))?.step).toBe(3);
    expect((await latestCheckpoint(db, b.id))?.step).toBe(1);
    await deleteRun(db, a.id);
    expect(await getRun(db, a.id)).toBeUndefined();
    expect(await db.checkpoints.count()).toBe(1);
    expect((await listRuns(db)).map((r) => r.name)).toEqual(['other']);
  });

  it('refuses a checkpoint of an unknown run and writes nothing', async () => {
    const db = await workspace();
    await expect(saveCheckpoint(db, 'nope', 1, encodeCheckpoint(checkpoint(1)))).rejects.toThrow(/no training run with id nope/);
    expect(await db.checkpoints.count()).toBe(0);
    await expect(updateRun(db, 'nope', { status: 'done' })).rejects.toThrow(/nope/);
  });

  it('marks runs a gone tab left running as interrupted, except the ones still running here', async () => {
    const db = await workspace();
    const a = await createRun(db, newRun({ status: 'running' }));
    const b = await createRun(db, newRun({ status: 'running' }));
    const c = await createRun(db, newRun({ status: 'done' }));
    await saveCheckpoint(db, a.id, 2, encodeCheckpoint(checkpoint(2)));
    expect(await markInterrupted(db, [b.id])).toEqual([a.id]);
    expect((await getRun(db, a.id))?.status).toBe('interrupted');
    expect((await getRun(db, a.id))?.error).toMatch(/reloaded/);
    expect((await getRun(db, b.id))?.status).toBe('running');
    expect((await getRun(db, c.id))?.status).toBe('done');
  });

  it('lists runs newest first', async () => {
    const db = await workspace();
    const first = await createRun(db, newRun({ name: 'first' }));
    await new Promise((r) => setTimeout(r, 5));
    await createRun(db, newRun({ name: 'second' }));
    expect((await listRuns(db)).map((r) => r.name)).toEqual(['second', 'first']);
    expect(first.createdAt).toBeLessThan((await listRuns(db))[0]!.createdAt);
  });
});

describe('reference log-prob cache', () => {
  it('stores values by key and counts hits and misses', async () => {
    const db = await workspace();
    const cache = dbRefCache(db);
    expect(await cache.get('ref:a')).toBeUndefined();
    await cache.set('ref:a', { logps: [-3.5, -4.25], tokens: [5, 7], meanLogits: [0.1, 0.2] });
    expect(await dbRefCache(db).get('ref:a')).toEqual({ logps: [-3.5, -4.25], tokens: [5, 7], meanLogits: [0.1, 0.2] });
    expect(await cache.get('ref:b')).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([0, 2]);
  });
});
