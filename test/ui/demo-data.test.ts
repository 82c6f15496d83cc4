// First run: the bundled demo dataset is imported once through the real import code (the
// Worker's API in-process, a fake-indexeddb workspace), with its held-out split kept.
import 'fake-indexeddb/auto';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countRecords, openWorkspace, type PrefDb } from '../../src/db/index.js';
import { DEMO_DATASET, listDatasets, seedDemoDataset, useDataServices, type DemoSeedEnv } from '../../src/services/data.js';
import { createDataApi } from '../../src/worker/import-api.js';

const DEMO_FILE = new URL(`../../public/${DEMO_DATASET.path}`, import.meta.url).pathname;

let db: PrefDb;
beforeEach(async () => {
  db = await openWorkspace(`demo-data-${Math.random()}`);
  useDataServices({ db, backend: createDataApi(async () => db) });
});
afterEach(async () => {
  db.close();
  await db.delete();
});

function env(status = 200): DemoSeedEnv & { fetched: string[]; flags: Map<string, string> } {
  const fetched: string[] = [];
  const flags = new Map<string, string>();
  return {
    fetched,
    flags,
    url: 'http://localhost/app/datasets/demo-fortunes-positive.jsonl',
    storage: { getItem: (k) => flags.get(k) ?? null, setItem: (k, v) => void flags.set(k, v) },
    fetch: (async (url: string) => {
      fetched.push(url);
      return status === 200 ? new Response(await readFile(DEMO_FILE)) : new Response('missing', { status });
    }) as typeof fetch,
  };
}

describe('demo dataset seeding', () => {
  it('imports every line of the bundled file once, train and test splits kept', async () => {
    const lines = (await readFile(DEMO_FILE, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { split: string });
    const e = env();
    const summary = await seedDemoDataset(e);
    expect(summary?.written).toBe(lines.length);
    expect(summary?.rejected).toBe(0);
    const [dataset] = await listDatasets();
    expect(dataset?.name).toBe(DEMO_DATASET.name);
    const test = lines.filter((l) => l.split === 'test').length;
    expect(test).toBeGreaterThan(0);
    expect(await countRecords(db, { datasetId: dataset!.id, split: 'test' })).toBe(test);
    expect(await countRecords(db, { datasetId: dataset!.id, split: 'train' })).toBe(lines.length - test);

    // A second start (or after the user deleted it) does not fetch or import again.
    expect(await seedDemoDataset(e)).toBeNull();
    expect(e.fetched).toHaveLength(1);
    expect(await listDatasets()).toHaveLength(1);
  });

  it('leaves a workspace that already has data alone', async () => {
    await seedDemoDataset(env());
    const e = env();
    expect(await seedDemoDataset(e)).toBeNull();
    expect(e.fetched).toHaveLength(0);
    expect(e.flags.size).toBe(1);
  });

  it('says what failed and stores nothing when the file cannot be fetched', async () => {
    const e = env(404);
    await expect(seedDemoDataset(e)).rejects.toThrow(/demo dataset: HTTP 404 for http:\/\/localhost\/app\/datasets/);
    expect(await listDatasets()).toHaveLength(0);
    expect(e.flags.size).toBe(0);
  });
});
