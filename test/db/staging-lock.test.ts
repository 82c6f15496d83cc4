// Two tabs (or a tab and a Worker) share one workspace: opening it again must not delete an
// import another connection is still writing, yet must clean up what a crashed tab left. The
// Web Locks API is what tells the two apart; Node has none, so a small in-process LockManager
// with the same semantics (exclusive locks by name, query() lists the held ones) stands in.
import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ImportBatch } from '../../src/data/import/pipeline.js';
import type { PairRecord } from '../../src/data/records.js';
import { importDataset, listDatasets, openWorkspace, type PrefDb } from '../../src/db/index.js';
import { emptyCounts } from '../../src/db/schema.js';

class FakeLocks {
  private held = new Map<string, Promise<unknown>>();
  async request(name: string, callback: () => Promise<unknown>): Promise<unknown> {
    while (this.held.has(name)) await this.held.get(name)!.catch(() => {});
    const run = callback();
    this.held.set(name, run);
    try {
      return await run;
    } finally {
      this.held.delete(name);
    }
  }
  async query() {
    return { held: [...this.held.keys()].map((name) => ({ name, mode: 'exclusive' })), pending: [] };
  }
}

const pair = (i: number): PairRecord => ({
  kind: 'pair',
  prompt: `p ${i}`,
  chosen: ` good ${i}`,
  rejected: ` bad ${i}`,
  source: { type: 'manual' },
  createdAt: 1_700_000_000_000 + i,
  split: 'train',
  tags: [],
});

let name: string;
const opened: PrefDb[] = [];
async function connect(): Promise<PrefDb> {
  const db = await openWorkspace(name);
  opened.push(db);
  return db;
}

beforeEach(() => {
  name = `staging-lock-${Math.random()}`;
  vi.stubGlobal('navigator', { locks: new FakeLocks() });
});
afterEach(async () => {
  for (const db of opened.splice(0)) db.close();
  vi.unstubAllGlobals();
});

describe('staged datasets and a second connection', () => {
  it('opening the workspace elsewhere mid-import leaves the import alone, and it completes', async () => {
    const first = await connect();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let midway = false;
    async function* batches(): AsyncGenerator<ImportBatch> {
      yield { records: [pair(1), pair(2)], errors: [] };
      midway = true;
      await gate;
      yield { records: [pair(3)], errors: [] };
    }
    const done = importDataset(first, batches(), { name: 'long import' });
    await vi.waitFor(() => expect(midway).toBe(true));

    const second = await connect(); // another tab opening: runs the clean-up of stale staging
    expect(await second.datasets.where('status').equals('staging').count()).toBe(1);
    expect(await second.records.count()).toBe(2);

    release();
    const result = await done;
    expect(result.written).toBe(3);
    expect((await listDatasets(second)).map((d) => [d.name, d.counts.total])).toEqual([['long import', 3]]);
  });

  it('a staged dataset nobody is writing (a crashed tab) is removed at the next open', async () => {
    const first = await connect();
    await first.datasets.add({ id: 'left-behind', name: 'crashed', createdAt: 1, updatedAt: 1, status: 'staging', counts: emptyCounts() });
    await first.records.bulkAdd([{ ...pair(1), datasetId: 'left-behind' }]);
    const second = await connect();
    expect(await second.datasets.count()).toBe(0);
    expect(await second.records.count()).toBe(0);
  });
});
