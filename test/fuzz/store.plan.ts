// The store fuzz passes (store.test.ts), run in a worker by fuzzInWorkers, each worker with its
// own fake-indexeddb: staged imports of mutated files into a workspace that already holds a
// dataset, and restores of mutated backups, each judged here against snapshots of the database.
import 'fake-indexeddb/auto';
import { gunzipSync, gzipSync } from 'fflate';
import { DataFormatError } from '../../src/data/errors.js';
import { detectFormat } from '../../src/data/import/detect.js';
import { bytesSource } from '../../src/data/io/source.js';
import type { PairRecord } from '../../src/data/records.js';
import {
  addRecords,
  backupWorkspace,
  createDataset,
  deleteDataset,
  ImportRejectedError,
  importFile,
  openWorkspace,
  restoreWorkspace,
  saveLabel,
  StorageFullError,
  type PrefDb,
} from '../../src/db/index.js';
import { mutateBytes, mutateJsonValue, Rng, stringifyHostile, unclearMessage, withTimeLimit, type CaseMaker, type Outcome } from '../support/fuzz.js';
import { mutateSeed, showInput, type FuzzInput } from './inputs.js';
import { datasetSeeds } from './seeds.js';


function pair(i: number): PairRecord {
  return { kind: 'pair', prompt: `prompt ${i}`, chosen: ` good ${i}`, rejected: ` bad ${i}`, source: { type: 'manual' }, createdAt: 1_700_000_000_000 + i, split: 'train', tags: [] };
}

/** A workspace holding one dataset of 8 pairs and a label on it (with its labels dataset). */
async function workspace(name: string): Promise<PrefDb> {
  // In the worker's own fake-indexeddb, gone with the worker.
  const db = await openWorkspace(name);
  const d = await createDataset(db, 'kept');
  const ids = await addRecords(db, d.id, Array.from({ length: 8 }, (_, i) => pair(i)));
  await saveLabel(db, { taskKey: 'task-0', sourceDatasetId: d.id, sourceRecordId: ids[0]!, annotator: 'me', decision: { type: 'prefer', winner: 0 }, createdAt: 1 }, pair(50));
  return db;
}

async function snapshot(db: PrefDb) {
  return {
    datasets: await db.datasets.orderBy('id').toArray(),
    records: await db.records.orderBy('id').toArray(),
    labels: await db.labels.orderBy('id').toArray(),
  };
}
type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** Whether everything in `before` is still in `after`, unchanged. */
function kept(before: Snapshot, after: Snapshot): string | null {
  const byId = <T extends { id?: unknown }>(xs: T[]) => new Map(xs.map((x) => [x.id, JSON.stringify(x)]));
  for (const table of ['datasets', 'records', 'labels'] as const) {
    const now = byId(after[table] as { id?: unknown }[]);
    for (const row of before[table] as { id?: unknown }[]) {
      if (now.get(row.id) !== JSON.stringify(row)) return `${table} row ${String(row.id)} changed or vanished`;
    }
  }
  return null;
}

/** Every dataset ready (no staging leftovers) and its counts equal to its rows. */
async function consistent(db: PrefDb): Promise<string | null> {
  for (const d of await db.datasets.toArray()) {
    if (d.status !== 'ready') return `dataset ${d.id} left in status ${d.status}`;
    const n = await db.records.where('datasetId').equals(d.id).count();
    if (d.counts.total !== n) return `dataset ${d.id} counts ${d.counts.total} records, holds ${n}`;
  }
  return null;
}

function typedStoreError(e: unknown): string | null {
  if (!(e instanceof DataFormatError || e instanceof ImportRejectedError || e instanceof StorageFullError)) return `untyped ${(e as Error)?.name}: ${(e as Error)?.message}`;
  return unclearMessage(e.message);
}

/** Staged imports (importFile) of mutated files; a file detection refuses is skipped, as in the UI. */
export async function importPlan(limitMs: number): Promise<CaseMaker> {
  const db = await workspace('fuzz-import');
  const seeds = datasetSeeds();
  return (rng) => {
    const input = mutateSeed(rng.pick(seeds), rng);
    const mode = rng.pick(['skip', 'abort', 'confirm-no'] as const);
    const chunk = 1 + rng.int(700);
    return {
      what: `${input.what} [${mode}]`,
      show: () => showInput(input),
      run: async () => {
        // Detection proposes the mapping, as in the UI; a file it refuses never reaches the store.
        const det = await detectFormat(bytesSource(input.name, input.bytes)).catch(() => null);
        if (!det?.mapping) return null;
        const before = await snapshot(db);
        const r = await withTimeLimit(limitMs, () =>
          importFile(db, bytesSource(input.name, input.bytes, chunk), det.mapping!, {
            name: 'fuzzed',
            onErrors: mode === 'abort' ? 'abort' : 'skip',
            ...(mode === 'confirm-no' ? { confirmPartial: async () => false } : {}),
          }),
        );
        const after = await snapshot(db);
        if (r.error !== undefined) {
          const why = typedStoreError(r.error) ?? (JSON.stringify(after) === JSON.stringify(before) ? null : 'a refused import changed the database');
          return why ? { kind: 'bug', why, error: r.error, ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
        }
        const res = r.value!;
        const why =
          kept(before, after) ??
          (await consistent(db)) ??
          (after.records.length - before.records.length !== res.written ? `wrote ${res.written}, the database grew by ${after.records.length - before.records.length}` : null);
        await deleteDataset(db, res.dataset.id);
        return why ? { kind: 'bug', why, ms: r.ms } : { kind: 'ok', ms: r.ms };
      },
    };
  };
}

/** Restores (restoreWorkspace) of mutated backups of a two-dataset workspace into another one. */
export async function restorePlan(limitMs: number): Promise<CaseMaker> {
  const source = await workspace('fuzz-backup-source');
  const extra = await createDataset(source, 'second');
  await addRecords(source, extra.id, [pair(100), pair(101)]);
  const parts: Uint8Array[] = [];
  for await (const c of backupWorkspace(source)) parts.push(c);
  const backup = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((at, p) => (backup.set(p, at), at + p.length), 0);
  const lines = new TextDecoder().decode(gunzipSync(backup)).split('\n').filter(Boolean);
  const target = await workspace('fuzz-restore');
  const pristine = await snapshot(target);
  return (rng) => {
    const input = mutateBackup(backup, lines, rng);
    const mode = rng.chance(0.8) ? 'merge' : 'replace';
    const chunk = 1 + rng.int(2000);
    return {
      what: `${input.what} [${mode}]`,
      show: () => showInput(input),
      run: async (): Promise<Outcome> => {
        const before = await snapshot(target);
        const r = await withTimeLimit(limitMs, () => restoreWorkspace(target, bytesSource(input.name, input.bytes, chunk), { mode }));
        const after = await snapshot(target);
        if (r.error !== undefined) {
          const why = typedStoreError(r.error) ?? (JSON.stringify(after) === JSON.stringify(before) ? null : 'a refused restore changed the database');
          return why ? { kind: 'bug', why, error: r.error, ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
        }
        const why = (mode === 'merge' ? kept(before, after) : null) ?? (await consistent(target));
        await resetTo(target, pristine);
        return why ? { kind: 'bug', why, ms: r.ms } : { kind: 'ok', ms: r.ms };
      },
    };
  };
}

/** Puts a workspace back to a snapshot (after an accepted restore added to it). */
async function resetTo(db: PrefDb, snap: Snapshot): Promise<void> {
  await db.transaction('rw', db.datasets, db.records, db.labels, async () => {
    await db.datasets.clear();
    await db.records.clear();
    await db.labels.clear();
    await db.datasets.bulkAdd(snap.datasets);
    await db.records.bulkAdd(snap.records);
    await db.labels.bulkAdd(snap.labels);
  });
}

/** A mutated backup: its JSON lines changed (then gzipped, or left plain), or its gzip bytes. */
function mutateBackup(backup: Uint8Array, lines: string[], rng: Rng): FuzzInput {
  const r = rng.int(3);
  if (r === 0) {
    const m = mutateBytes(backup, rng);
    return { name: 'backup.jsonl.gz', bytes: m.bytes, what: `backup gzip: ${m.what}` };
  }
  const out = lines.slice();
  const i = rng.int(out.length);
  let what: string;
  switch (rng.int(5)) {
    case 0:
      out.splice(i, 1);
      what = `line ${i + 1} removed`;
      break;
    case 1:
      out.splice(rng.int(out.length + 1), 0, out[i]!);
      what = `line ${i + 1} duplicated`;
      break;
    case 2: {
      const j = rng.int(out.length);
      [out[i], out[j]] = [out[j]!, out[i]!];
      what = `lines ${i + 1} and ${j + 1} swapped`;
      break;
    }
    default: {
      const times = 1 + rng.int(3);
      let v: unknown = JSON.parse(out[i]!);
      for (let k = 0; k < times; k++) v = mutateJsonValue(v, rng);
      out[i] = stringifyHostile(v);
      what = `line ${i + 1} (${JSON.parse(lines[i]!).type}) mutated ${times}x`;
    }
  }
  const text = new TextEncoder().encode(out.join('\n') + '\n');
  return r === 1 ? { name: 'backup.jsonl.gz', bytes: gzipSync(text), what: `backup: ${what}` } : { name: 'backup.jsonl', bytes: text, what: `backup (plain): ${what}` };
}
