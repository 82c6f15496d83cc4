// Fuzz pass over the dataset importers: thousands of truncated, corrupted and hostile files made
// from the fixtures by a seeded mutator (test/support/fuzz.ts, test/fuzz/inputs.ts). Every input
// must either import (every record valid, every bad row reported with its row and line) or be
// refused with a DataFormatError that says where; never a raw TypeError/RangeError, a stack
// overflow or a hang, and Object.prototype stays clean. The inputs run in a worker
// (datasets.plan.ts) so that a synchronous hang is reported too. PREFSTUDIO_FUZZ_N=<n> sets the inputs.
import { afterAll, describe, expect, it } from 'vitest';
import { FuzzLog, fuzzCount, fuzzInWorkers, stopFuzzWorkers } from '../support/fuzz.js';

/** Per-input limit: the seeds are a few KB (the slowest input, 100k-deep JSON, takes ~1 s on two
 *  shared cores), so anything past this is a hang. */
const LIMIT_MS = 10_000;

afterAll(stopFuzzWorkers);

describe('fuzz: dataset readers and mapping (importAll)', () => {
  it('mutated JSON, JSONL, CSV/TSV, Parquet and gzip files import cleanly or are refused with a placed DataFormatError', { timeout: 600_000 }, async () => {
    const n = fuzzCount(3000);
    const log = new FuzzLog('datasets (importAll)');
    await fuzzInWorkers({ module: new URL('./datasets.plan.ts', import.meta.url), plan: 'datasetPlan', seed: 0x5eed_da7a, n, limitMs: LIMIT_MS, log });
    console.log(log.summary());
    expect(log.bugs, log.report()).toEqual([]);
    expect(log.tried).toBe(n);
    expect(log.accepted + log.refused).toBe(log.tried);
    // Both outcomes occur: the mutations neither all break nor all miss the parsers.
    expect(log.accepted).toBeGreaterThan(0);
    expect(log.refused).toBeGreaterThan(0);
  });
});
