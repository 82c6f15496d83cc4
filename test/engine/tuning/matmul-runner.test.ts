import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { KernelChoices } from '../../../src/engine/tuning/choices.js';
import { MatmulTuneRunner, matmulTuneTasks, tuneMatmuls } from '../../../src/engine/tuning/matmul-runner.js';
import { applicableVariants } from '../../../src/engine/tuning/variants.js';
import { expectDisagreementRejected, expectFastestKept, memoryTuneCache } from '../../support/tuning.js';

// The tuner on the test adapter (lavapipe in the node project, with the f16 variant; SwiftShader in node-swiftshader):
// real compiles, validation against the safe kernel, real timings, within the budget.
describe('matmul tuning on a real adapter', () => {
  afterAll(async () => {
    const engine = await testEngine();
    engine.choices.clear();
    engine.pool.trim();
  });

  it('measures every applicable variant at the model shape, keeps the fastest, then repeats it from the cache', async () => {
    const engine = await testEngine();
    const cache = memoryTuneCache();
    const notes: string[] = [];
    const shapes = [{ M: 70, C: 20, OC: 36 }];
    const t0 = performance.now();
    // The budget covers compiles, which take seconds each on a software adapter.
    const first = await tuneMatmuls(engine, shapes, cache, { budgetMs: 60_000, maxRuns: 3, onProgress: (p) => notes.push(p.note) });
    expect(first.fromCache).toBe(false);
    // Every applicable variant but the decoding layout (subgroup: at most 16 rows; here 70).
    const forward = applicableVariants('matmul_forward', engine.report).filter((v) => v.name !== 'subgroup');
    const dinp = applicableVariants('matmul_dinp', engine.report);
    expect(notes).toHaveLength(forward.length + dinp.length);
    expect(matmulTuneTasks(engine, [{ M: 1, C: 20, OC: 36 }], ['matmul_forward'])[0]!.variants).toEqual(
      applicableVariants('matmul_forward', engine.report).map((v) => v.name),
    );
    expect(first.measured.map((c) => c.kernel)).toEqual(['matmul_forward', 'matmul_dinp']);
    for (const c of first.measured) {
      expectFastestKept(c);
      expect(engine.choices.name(c.kernel, 70, c.kernel === 'matmul_forward' ? 20 : 36, c.kernel === 'matmul_forward' ? 36 : 20)).toBe(c.variant);
    }
    // Compiles are outside the budget's control; the timed part is bounded by it.
    expect(performance.now() - t0).toBeLessThan(30_000);

    engine.choices.clear();
    const again = await tuneMatmuls(engine, shapes, cache, { budgetMs: 60_000 });
    expect(again.fromCache).toBe(true);
    expect(engine.choices.all().map((c) => c.variant)).toEqual(first.measured.map((c) => c.variant));
  });

  it('a variant whose result disagrees with the safe kernel is left out', async () => {
    const engine = await testEngine();
    const [task] = matmulTuneTasks(engine, [{ M: 9, C: 8, OC: 12 }], ['matmul_forward']);
    await expectDisagreementRejected(new MatmulTuneRunner(engine), task!, 'tiled8', 3);
  });

  it('captureErrors reports a WGSL compile error and a validation error instead of throwing later', async () => {
    const engine = await testEngine();
    const bad = await engine.captureErrors(() => void engine.device.createShaderModule({ code: 'fn main( {' }));
    expect(bad).toMatch(/error|expected/i);
    const ok = await engine.captureErrors(() => void engine.device.createShaderModule({ code: '@compute @workgroup_size(1) fn main() {}' }));
    expect(ok).toBeNull();
    await engine.sync(); // nothing leaked into the engine's error list
    expect(new KernelChoices().all()).toEqual([]);
  });
});
