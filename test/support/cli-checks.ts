// Assertions on a CLI child's result (test/support/cli.ts): the one-line failure, the peak memory.
import { expect } from 'vitest';
import { lines, type CliResult } from './cli.js';

/** Exactly one "prefstudio <command>: ..." line on stderr, matching `re`; no stack; the exit code. */
export function failsWith(r: CliResult, code: number, re: RegExp): void {
  const errors = lines(r.stderr).filter((l) => l.startsWith('prefstudio '));
  expect(errors, r.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at |Unhandled 'error' event|node:internal|Maximum call stack/);
  expect(r.code, r.stderr).toBe(code);
}

/** The child's peak resident memory (VmHWM) stayed under `mib` MiB, and was measured. */
export function peakUnder(r: CliResult, mib: number): void {
  expect(r.peakKiB, 'VmHWM was read').toBeGreaterThan(0);
  expect(r.peakKiB / 1024, `peak ${Math.round(r.peakKiB / 1024)} MiB`).toBeLessThan(mib);
}
