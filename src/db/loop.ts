// The on-policy loop's storage: generation jobs and loops (schema v4). A prompt's candidate set and
// the job's progress are written in one transaction, so a job never counts a prompt whose
// candidates are not stored, and a resumed job skips exactly the prompts already done. Judgements
// are written into the candidate records themselves (one transaction per batch).
import type { CandidatesRecord, Judgement } from '../data/records.js';
import { assertRecord } from '../data/validate.js';
import { guardQuota, newId, recount } from './datasets.js';
import type { GenerationRow, JobStatus, LoopRow } from './loop-types.js';
import type { PrefDb, StoredRecord } from './schema.js';

export * from './loop-types.js';

export type NewGeneration = Omit<GenerationRow, 'id' | 'createdAt' | 'updatedAt' | 'status' | 'done' | 'tokens'>;

export async function createGeneration(db: PrefDb, job: NewGeneration): Promise<GenerationRow> {
  const now = Date.now();
  const row: GenerationRow = { ...job, id: newId(), createdAt: now, updatedAt: now, status: 'queued', done: 0, tokens: 0 };
  await guardQuota(() => db.generations.add(row), 'storage is full: the generation job was not saved');
  return row;
}

export async function getGeneration(db: PrefDb, id: string): Promise<GenerationRow | undefined> {
  return db.generations.get(id);
}

export async function requireGeneration(db: PrefDb, id: string): Promise<GenerationRow> {
  const g = await db.generations.get(id);
  if (!g) throw new Error(`no generation job with id ${id}`);
  return g;
}

/** Newest first. */
export async function listGenerations(db: PrefDb): Promise<GenerationRow[]> {
  return (await db.generations.orderBy('createdAt').toArray()).reverse();
}

export async function updateGeneration(db: PrefDb, id: string, patch: Partial<Omit<GenerationRow, 'id' | 'createdAt'>>): Promise<void> {
  await guardQuota(() => db.generations.update(id, { ...patch, updatedAt: Date.now() }));
}

/** The prompt indexes whose candidate sets are stored in a job's output dataset. */
export async function donePromptIndexes(db: PrefDb, outputDatasetId: string): Promise<Set<number>> {
  const done = new Set<number>();
  await db.records
    .where('[datasetId+kind]')
    .equals([outputDatasetId, 'candidates'])
    .each((r) => {
      if (r.source.type === 'generated' && r.source.promptIndex !== undefined) done.add(r.source.promptIndex);
    });
  return done;
}

/**
 * Stores the candidate sets of some prompts and the job's progress at once (the record counts of
 * the output dataset too). Returns the records' ids.
 */
export async function addCandidateSets(db: PrefDb, jobId: string, records: CandidatesRecord[], tokens: number): Promise<number[]> {
  const valid = records.map((r) => assertRecord(r));
  return guardQuota(
    () =>
      db.transaction('rw', db.generations, db.datasets, db.records, async () => {
        const job = await db.generations.get(jobId);
        if (!job) throw new Error(`no generation job with id ${jobId}`);
        const ids = (await db.records.bulkAdd(
          valid.map((r) => ({ ...r, datasetId: job.outputDatasetId })),
          { allKeys: true },
        )) as number[];
        await recount(db, job.outputDatasetId);
        await db.generations.update(jobId, { done: job.done + valid.length, tokens: job.tokens + tokens, updatedAt: Date.now() });
        return ids;
      }),
    `storage is full: ${records.length} candidate set(s) were not saved; free space and resume the job`,
  );
}

/** Writes judgements into candidate records (each by id), in one transaction. */
export async function setJudgements(db: PrefDb, judged: { id: number; judgement: Judgement }[]): Promise<void> {
  await guardQuota(() =>
    db.transaction('rw', db.records, async () => {
      for (const { id, judgement } of judged) {
        const r = await db.records.get(id);
        if (!r) throw new Error(`no record with id ${id}`);
        if (r.kind !== 'candidates') throw new Error(`record ${id} is a ${r.kind} record, not a candidate set`);
        const next = assertRecord({ ...stripStored(r), judgement }) as CandidatesRecord;
        await db.records.put({ ...next, datasetId: r.datasetId, id });
      }
    }),
  );
}

function stripStored(r: StoredRecord): Record<string, unknown> {
  const { id: _id, datasetId: _d, ...rest } = r;
  return rest;
}

/** Jobs (and loops) a gone tab left running become interrupted; they resume from what is stored. */
export async function markJobsInterrupted(db: PrefDb, except: readonly string[] = [], reason = 'the tab was closed or reloaded while it ran'): Promise<string[]> {
  const changed: string[] = [];
  for (const g of await db.generations.where('status').anyOf(['running', 'queued'] satisfies JobStatus[]).toArray()) {
    if (except.includes(g.id)) continue;
    await db.generations.update(g.id, { status: 'interrupted', error: reason, updatedAt: Date.now() });
    changed.push(g.id);
  }
  for (const l of await db.loops.where('status').equals('running').toArray()) {
    if (except.includes(l.id)) continue;
    await db.loops.update(l.id, { status: 'interrupted', message: reason, updatedAt: Date.now() });
    changed.push(l.id);
  }
  return changed;
}

export type NewLoop = Omit<LoopRow, 'id' | 'createdAt' | 'updatedAt' | 'status' | 'rounds'>;

export async function createLoop(db: PrefDb, loop: NewLoop): Promise<LoopRow> {
  const now = Date.now();
  const row: LoopRow = { ...loop, id: newId(), createdAt: now, updatedAt: now, status: 'paused', rounds: [{ round: 1, stage: 'generate' }] };
  await guardQuota(() => db.loops.add(row), 'storage is full: the loop was not saved');
  return row;
}

export async function getLoop(db: PrefDb, id: string): Promise<LoopRow | undefined> {
  return db.loops.get(id);
}

export async function requireLoop(db: PrefDb, id: string): Promise<LoopRow> {
  const l = await db.loops.get(id);
  if (!l) throw new Error(`no loop with id ${id}`);
  return l;
}

/** Newest first. */
export async function listLoops(db: PrefDb): Promise<LoopRow[]> {
  return (await db.loops.orderBy('createdAt').toArray()).reverse();
}

export async function updateLoop(db: PrefDb, id: string, patch: Partial<Omit<LoopRow, 'id' | 'createdAt'>>): Promise<void> {
  await guardQuota(() => db.loops.update(id, { ...patch, updatedAt: Date.now() }));
}

export async function deleteLoop(db: PrefDb, id: string): Promise<void> {
  await db.loops.delete(id);
}
