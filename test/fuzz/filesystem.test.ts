// Fuzz pass over the filesystem, not the bytes (issue 17): model folders, adapter folders and zips,
// dataset files and checkpoints laid out on the real filesystem with their structure mutated
// (links out and in, loops, devices, FIFOs, folders for files, missing, empty and huge sparse
// files; filesystem.plan.ts), and read through the CLI's readers. Every input must be read or be
// refused with a typed error and a clear message, within the time and memory ceilings, and never
// by following a link out of a folder. PREFSTUDIO_FUZZ_N=<n> sets the number of inputs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FuzzLog, fuzzCount, fuzzInWorkers, stopFuzzWorkers } from '../support/fuzz.js';

const LIMIT_MS = 10_000;
const MEMORY_MB = 256;
const base = mkdtempSync(join(tmpdir(), 'prefstudio-fsfuzz-'));

afterAll(async () => {
  await stopFuzzWorkers();
  rmSync(base, { recursive: true, force: true });
});

describe('fuzz: files and folders as the CLI reads them', () => {
  it('mutated folder structures are read or refused with a typed error, within the ceilings, never through a link out', { timeout: 600_000 }, async () => {
    const n = fuzzCount(150);
    const log = new FuzzLog('filesystem (CLI readers)');
    await fuzzInWorkers({ module: new URL('./filesystem.plan.ts', import.meta.url), plan: 'filesystemPlan', args: { base }, seed: 0x0f_5eed, n, limitMs: LIMIT_MS, memoryMb: MEMORY_MB, log });
    console.log(log.summary());
    expect(log.bugs, log.report()).toEqual([]);
    expect(log.tried).toBe(n);
    expect(log.accepted).toBeGreaterThan(0);
    expect(log.refused).toBeGreaterThan(0);
  });
});
