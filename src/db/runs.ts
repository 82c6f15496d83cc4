// Training runs and their checkpoints. A checkpoint and the run's progress (step, metrics so far,
// status) are written in one transaction, so a run row never points past the checkpoint it can
// resume from; only the newest checkpoint of a run is kept (IndexedDB transactions are atomic).
import { guardQuota, newId } from './datasets.js';
import { RESUMABLE_STATUSES, type CheckpointRow, type RunRow, type RunStatus } from './runs-types.js';
import type { PrefDb } from './schema.js';

export * from './runs-types.js';

export class RunNotFoundError extends Error {
  override name = 'RunNotFoundError';
  constructor(id: string) {
    super(`no training run with id ${id}`);
  }
}

export type NewRun = Omit<RunRow, 'id' | 'createdAt' | 'updatedAt' | 'status' | 'step' | 'metrics'> & Partial<Pick<RunRow, 'status'>>;

export async function createRun(db: PrefDb, run: NewRun): Promise<RunRow> {
  const now = Date.now();
  const row: RunRow = { status: 'queued', ...run, id: newId(), createdAt: now, updatedAt: now, step: 0, metrics: [] };
  await guardQuota(() => db.runs.add(row), 'storage is full: the run was not saved');
  return row;
}

export async function getRun(db: PrefDb, id: string): Promise<RunRow | undefined> {
  return db.runs.get(id);
}

export async function requireRun(db: PrefDb, id: string): Promise<RunRow> {
  const r = await db.runs.get(id);
  if (!r) throw new RunNotFoundError(id);
  return r;
}

/** Newest first. */
export async function listRuns(db: PrefDb): Promise<RunRow[]> {
  return (await db.runs.orderBy('createdAt').toArray()).reverse();
}

export async function updateRun(db: PrefDb, id: string, patch: Partial<Omit<RunRow, 'id' | 'createdAt'>>): Promise<void> {
  const n = await guardQuota(() => db.runs.update(id, { ...patch, updatedAt: Date.now() }));
  if (n === 0 && !(await db.runs.get(id))) throw new RunNotFoundError(id);
}

export async function deleteRun(db: PrefDb, id: string): Promise<void> {
  await db.transaction('rw', db.runs, db.checkpoints, async () => {
    await db.checkpoints.where('runId').equals(id).delete();
    await db.runs.delete(id);
  });
}

/**
 * Stores a checkpoint and the run's progress at once, replacing the run's older checkpoints.
 * `progress` is what the run row says at this checkpoint (step, metrics, status).
 */
export async function saveCheckpoint(
  db: PrefDb,
  runId: string,
  step: number,
  bytes: Uint8Array,
  progress: Partial<Omit<RunRow, 'id' | 'createdAt'>> = {},
): Promise<number> {
  return guardQuota(
    () =>
      db.transaction('rw', db.runs, db.checkpoints, async () => {
        if (!(await db.runs.get(runId))) throw new RunNotFoundError(runId);
        const older = await db.checkpoints.where('runId').equals(runId).primaryKeys();
        const id = (await db.checkpoints.add({ runId, step, createdAt: Date.now(), bytes })) as number;
        await db.checkpoints.bulkDelete(older);
        await db.runs.update(runId, { ...progress, step, updatedAt: Date.now() });
        return id;
      }),
    `storage is full: the checkpoint at step ${step} was not saved (the previous one is kept)`,
  );
}

/** The run's newest checkpoint, if any. */
export async function latestCheckpoint(db: PrefDb, runId: string): Promise<CheckpointRow | undefined> {
  const rows = await db.checkpoints.where('[runId+step]').between([runId, -Infinity], [runId, Infinity]).toArray();
  return rows.at(-1);
}

/**
 * Runs left 'running' or 'queued' by a tab that is gone (reload, crash) become 'interrupted'.
 * `except`: runs this session is running. Returns the ids changed.
 */
export async function markInterrupted(db: PrefDb, except: readonly string[] = [], reason = 'the tab was closed or reloaded while the run was going'): Promise<string[]> {
  const stale = (await db.runs.where('status').anyOf(['running', 'queued']).toArray()).filter((r) => !except.includes(r.id));
  for (const r of stale) await db.runs.update(r.id, { status: 'interrupted', error: r.step > 0 ? reason : `${reason}, before its first checkpoint`, updatedAt: Date.now() });
  return stale.map((r) => r.id);
}

export function isResumable(status: RunStatus): boolean {
  return RESUMABLE_STATUSES.includes(status);
}
