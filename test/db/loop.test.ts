// The on-policy loop's tables (schema v4) on fake-indexeddb: a v3 workspace upgrades with every
// dataset's counts gaining the two new kinds; a generation job stores each prompt's candidate set
// with its progress in one transaction and knows which prompts are done (resume after a reload);
// judgements are written into the candidate records; jobs and loops a gone tab left running
// become interrupted.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  addCandidateSets,
  addRecords,
  createDataset,
  createGeneration,
  createLoop,
  donePromptIndexes,
  getDataset,
  getGeneration,
  getLoop,
  markJobsInterrupted,
  openWorkspace,
  PrefDb,
  queryRecords,
  SCHEMA_VERSIONS,
  setJudgements,
  updateGeneration,
  updateLoop,
} from '../../src/db/index.js';
import type { CandidatesRecord } from '../../src/data/records.js';
import { GenerationSettingsSchema, LoopSettingsSchema } from '../../src/engine/loop/config.js';

const opened: PrefDb[] = [];
async function workspace(name = `loop-${Math.random()}`): Promise<PrefDb> {
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

const pair = (i: number) => ({ kind: 'pair', prompt: `p ${i}`, chosen: `good ${i}`, rejected: `bad ${i}`, source: { type: 'manual' }, createdAt: i, split: 'train', tags: [] });
const candidates = (promptIndex: number): CandidatesRecord => ({
  kind: 'candidates',
  prompt: `p ${promptIndex}`,
  responses: [' a', ' b', ' c', ' d'],
  source: { type: 'generated', model: 'demo', round: 1, promptIndex, sampling: { temperature: 1, seed: 0, n: 4 } },
  createdAt: 1,
  split: 'train',
  tags: ['generated'],
});

describe('schema v4 upgrade', () => {
  it('opens a v3 workspace with its datasets intact; counts gain prompt and candidates; the new tables work', async () => {
    const name = `upgrade-${Math.random()}`;
    const v3 = new PrefDb(name, undefined, 3);
    await v3.open();
    expect(v3.verno).toBe(3);
    const d = await createDataset(v3, 'old');
    await addRecords(v3, d.id, [pair(1), pair(2)]);
    const before = await v3.datasets.get(d.id);
    // As v3 stored it: four kinds.
    delete (before!.counts.byKind as Record<string, number>).prompt;
    delete (before!.counts.byKind as Record<string, number>).candidates;
    await v3.datasets.put(before!);
    v3.close();

    const db = await workspace(name);
    expect(db.verno).toBe(SCHEMA_VERSIONS.at(-1)!.version);
    expect((await getDataset(db, d.id))!.counts.byKind).toEqual({ pair: 2, unpaired: 0, ranking: 0, stepwise: 0, prompt: 0, candidates: 0 });
    await addRecords(db, d.id, [candidates(0)]);
    expect((await getDataset(db, d.id))!.counts).toMatchObject({ total: 3, byKind: { pair: 2, candidates: 1 } });
    expect(await db.generations.count()).toBe(0);
    expect(await db.loops.count()).toBe(0);
  });
});

describe('generation jobs', () => {
  it('store each prompt\'s candidate set with the progress; a resume knows the prompts done', async () => {
    const db = await workspace();
    const prompts = await createDataset(db, 'prompts');
    const out = await createDataset(db, 'round 1 candidates');
    const job = await createGeneration(db, {
      promptDatasetId: prompts.id, split: 'train', limit: null, outputDatasetId: out.id, modelId: 'm', modelName: 'demo',
      settings: GenerationSettingsSchema.parse({ n: 4 }), total: 5,
    });
    expect(job).toMatchObject({ status: 'queued', done: 0, tokens: 0 });
    await addCandidateSets(db, job.id, [candidates(0), candidates(2)], 40);
    await addCandidateSets(db, job.id, [candidates(3)], 12);
    expect(await getGeneration(db, job.id)).toMatchObject({ done: 3, tokens: 52 });
    expect([...(await donePromptIndexes(db, out.id))].sort()).toEqual([0, 2, 3]);
    expect((await getDataset(db, out.id))!.counts.byKind.candidates).toBe(3);
    // A bad record writes nothing, not even the progress.
    await expect(addCandidateSets(db, job.id, [candidates(4), { ...candidates(5), responses: [' only one'] }], 9)).rejects.toThrow(/at least 2 candidates/);
    expect(await getGeneration(db, job.id)).toMatchObject({ done: 3, tokens: 52 });
    expect([...(await donePromptIndexes(db, out.id))].sort()).toEqual([0, 2, 3]);
  });

  it('judgements go into the candidate records; a judgement with the wrong number of scores is refused', async () => {
    const db = await workspace();
    const d = await createDataset(db, 'c');
    const [id] = await addRecords(db, d.id, [candidates(0)]);
    const judgement = { judge: 'rule' as const, name: 'tone', scores: [1, 0, -1, 2], at: 5 };
    await setJudgements(db, [{ id: id!, judgement }]);
    const [r] = await queryRecords(db, { datasetId: d.id });
    expect(r).toMatchObject({ kind: 'candidates', judgement });
    await expect(setJudgements(db, [{ id: id!, judgement: { ...judgement, scores: [1] } }])).rejects.toThrow(/has 1 scores for 4 responses/);
  });

  it('jobs and loops left running by a gone tab become interrupted', async () => {
    const db = await workspace();
    const job = await createGeneration(db, { promptDatasetId: 'p', split: null, limit: null, outputDatasetId: 'o', modelId: 'm', modelName: 'demo', settings: GenerationSettingsSchema.parse({}), total: 1 });
    await updateGeneration(db, job.id, { status: 'running' });
    const loop = await createLoop(db, {
      name: 'loop', modelId: 'm', modelName: 'demo', promptDatasetId: 'p', heldOutDatasetId: null,
      settings: LoopSettingsSchema.parse({ rounds: 2, judge: { type: 'person' }, training: { method: 'dpo' } }),
    });
    expect(loop.rounds).toEqual([{ round: 1, stage: 'generate' }]);
    await updateLoop(db, loop.id, { status: 'running' });
    expect((await markJobsInterrupted(db)).sort()).toEqual([job.id, loop.id].sort());
    expect(await getGeneration(db, job.id)).toMatchObject({ status: 'interrupted' });
    expect(await getLoop(db, loop.id)).toMatchObject({ status: 'interrupted' });
  });
});
