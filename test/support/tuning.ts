// Shared by the tuner tests on a real adapter (test/engine/tuning/matmul-runner.test.ts,
// attention-runner.test.ts): an in-memory cache, the checks on a measured choice, and a disagreeing
// variant made by corrupting the reference a runner keeps.
import { expect } from 'vitest';
import type { KernelChoice } from '../../src/engine/tuning/choices.js';
import type { TuneCache, TuneRecord, TuneRunner, TuneTask } from '../../src/engine/tuning/tuner.js';

/** A TuneCache that keeps its records in a Map. */
export function memoryTuneCache(): TuneCache {
  const records = new Map<string, TuneRecord>();
  return { load: async (k) => records.get(k) ?? null, save: async (r) => void records.set(r.key, r) };
}

/** Every variant of `c` compiled, agreed with the safe kernel and has a time; the fastest is kept. */
export function expectFastestKept(c: KernelChoice): void {
  for (const [name, ms] of Object.entries(c.measured)) expect(typeof ms, `${c.kernel} ${name}: ${String(ms)}`).toBe('number');
  const fastest = Object.entries(c.measured).sort((a, b) => (a[1] as number) - (b[1] as number))[0]![0];
  expect(c.variant).toBe(fastest);
}

/**
 * Runs the safe kernel of `task`, then adds 1 to element `at` of the reference the runner keeps
 * (src/engine/tuning/variant-runner.ts), so that `variant` now disagrees: it must be rejected.
 */
export async function expectDisagreementRejected(runner: TuneRunner, task: TuneTask, variant: string, at: number): Promise<void> {
  await runner.prepare(task, 'safe');
  (runner as unknown as { operands: Map<string, { reference: Float32Array }> }).operands.get(task.label)!.reference[at]! += 1;
  await expect(runner.prepare(task, variant)).rejects.toThrow(/differs from the safe kernel's by/);
  runner.finish?.(task);
}
