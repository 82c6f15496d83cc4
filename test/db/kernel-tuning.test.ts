// The kernel tuner's IndexedDB cache (schema v5) on fake-indexeddb: a v4 workspace upgrades with
// its data intact and an empty table; the tuner's choices are saved by adapter identity and
// repeated from the database without measuring; malformed rows are ignored (measured again).
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { clearKernelTuning, createDataset, dbTuneCache, openWorkspace, PrefDb, SCHEMA_VERSIONS } from '../../src/db/index.js';
import { KernelChoices } from '../../src/engine/tuning/choices.js';
import { tuneWithCache, type TuneRunner, type TuneTask } from '../../src/engine/tuning/tuner.js';

const opened: PrefDb[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) {
    db.close();
    await db.delete();
  }
});

const task: TuneTask = { kernel: 'matmul_forward', shapeClass: 'm256:128x512', label: 'fwd', variants: ['safe', 'tiled8'] };
function fakeRunner(cost: Record<string, number>) {
  let now = 0;
  const prepared: string[] = [];
  const runner: TuneRunner = {
    async prepare(_t, v) {
      prepared.push(v);
      return async () => void (now += cost[v]!);
    },
  };
  return { runner, prepared, clock: () => now };
}
const identity = { vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100', driver: '' };

describe('kernel tuning cache in IndexedDB', () => {
  it('a v4 workspace upgrades to v5 with an empty kernelTuning table and its datasets intact', async () => {
    const name = `tuning-${Math.random()}`;
    const v4 = new PrefDb(name, undefined, 4);
    await v4.open();
    const kept = await createDataset(v4, 'kept');
    v4.close();
    const db = await openWorkspace(name);
    opened.push(db);
    expect(db.verno).toBe(SCHEMA_VERSIONS.at(-1)!.version);
    expect(db.verno).toBeGreaterThanOrEqual(5);
    expect(await db.kernelTuning.count()).toBe(0);
    expect((await db.datasets.get(kept.id))?.name).toBe('kept');
  });

  it('saves the choice by adapter identity and repeats it without measuring', async () => {
    const db = await openWorkspace(`tuning-${Math.random()}`);
    opened.push(db);
    const cache = dbTuneCache(db);
    const a = fakeRunner({ safe: 2, tiled8: 1 });
    const first = new KernelChoices();
    expect((await tuneWithCache(first, identity, [task], a.runner, cache, { clock: a.clock, budgetMs: 20 })).fromCache).toBe(false);
    expect(first.name('matmul_forward', 256, 128, 512)).toBe('tiled8');
    expect(await db.kernelTuning.count()).toBe(1);

    const b = fakeRunner({ safe: 2, tiled8: 1 });
    const second = new KernelChoices();
    expect((await tuneWithCache(second, identity, [task], b.runner, cache, { clock: b.clock })).fromCache).toBe(true);
    expect(b.prepared).toEqual([]);
    expect(second.all()).toEqual(first.all());

    // A row that is not a record is ignored: measured again, and replaced.
    const key = (await db.kernelTuning.toArray())[0]!.key;
    await db.kernelTuning.put({ key, broken: true } as never);
    const c = fakeRunner({ safe: 1, tiled8: 2 });
    const third = new KernelChoices();
    expect((await tuneWithCache(third, identity, [task], c.runner, cache, { clock: c.clock, budgetMs: 20 })).fromCache).toBe(false);
    expect(third.name('matmul_forward', 256, 128, 512)).toBe('safe');
    await clearKernelTuning(db);
    expect(await db.kernelTuning.count()).toBe(0);
  });
});
