// Fuzz pass over what writes imported data into the store (fake-indexeddb): staged imports of
// mutated files into a workspace that already holds a dataset, and restores of mutated backups.
// A refused import or restore must leave every stored row exactly as it was (no staging leftovers);
// an accepted one must leave the dataset that was there untouched and add consistent datasets.
// The inputs run in a worker (store.plan.ts) so that a synchronous hang is reported too.
import { afterAll, describe, expect, it } from 'vitest';
import { FuzzLog, fuzzCount, fuzzInWorkers, stopFuzzWorkers } from '../support/fuzz.js';

const LIMIT_MS = 10_000;

afterAll(stopFuzzWorkers);

const plan = new URL('./store.plan.ts', import.meta.url);

describe('fuzz: the store', () => {
  it('staged imports of mutated files: refused imports change nothing, accepted ones add a consistent dataset', { timeout: 600_000 }, async () => {
    const n = fuzzCount(300);
    const log = new FuzzLog('staged import (importFile)');
    await fuzzInWorkers({ module: plan, plan: 'importPlan', seed: 0xdb_1e55, n, limitMs: LIMIT_MS, log });
    console.log(log.summary());
    expect(log.bugs, log.report()).toEqual([]);
    expect(log.tried).toBe(n);
    expect(log.accepted).toBeGreaterThan(0);
    expect(log.refused).toBeGreaterThan(0);
  });

  it('restores of mutated backups: refused restores change nothing, accepted ones keep what was there', { timeout: 600_000 }, async () => {
    const n = fuzzCount(300);
    const log = new FuzzLog('backup restore (restoreWorkspace)');
    await fuzzInWorkers({ module: plan, plan: 'restorePlan', seed: 0xbac_c0e, n, limitMs: LIMIT_MS, log });
    console.log(log.summary());
    expect(log.bugs, log.report()).toEqual([]);
    expect(log.tried).toBe(n);
    expect(log.accepted).toBeGreaterThan(0);
    expect(log.refused).toBeGreaterThan(0);
  });
});
