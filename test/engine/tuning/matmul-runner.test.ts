import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { KernelChoices } from '../../../src/engine/tuning/choices.js';
import { kernelsForModel, MatmulTuneRunner, matmulTuneTasks, modelQuantLayout, modelTuneShapes, tuneMatmuls } from '../../../src/engine/tuning/matmul-runner.js';
import type { TransformerConfig } from '../../../src/engine/transformer/config.js';
import { matmulNBitsForward, releaseQuantTensor, uploadBlockQuantized } from '../../../src/engine/kernels/matmul-nbits.js';
import { quantizeBlockwise } from '../../../src/engine/blockq.js';
import type { ModelWeights } from '../../../src/engine/transformer/model.js';
import { randn } from '../../support/numeric.js';
import { applicableVariants, shapeClass } from '../../../src/engine/tuning/variants.js';
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
    // Compiles first, in a throwaway measurement: with a cold shader cache (a fresh CI machine)
    // they take lavapipe 5-40 s per variant under load, outside any budget's control.
    await tuneMatmuls(engine, shapes, memoryTuneCache(), { budgetMs: 600_000, maxRuns: 1 });
    engine.choices.clear();
    const t0 = performance.now();
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
    // With the pipelines built, the measurement is bounded by maxRuns and the budget.
    expect(performance.now() - t0).toBeLessThan(30_000);

    engine.choices.clear();
    const again = await tuneMatmuls(engine, shapes, cache, { budgetMs: 60_000 });
    expect(again.fromCache).toBe(true);
    expect(engine.choices.all().map((c) => c.variant)).toEqual(first.measured.map((c) => c.variant));
  }, 600_000);

  it('a variant whose result disagrees with the safe kernel is left out', async () => {
    const engine = await testEngine();
    const [task] = matmulTuneTasks(engine, [{ M: 9, C: 8, OC: 12 }], ['matmul_forward']);
    await expectDisagreementRejected(new MatmulTuneRunner(engine), task!, 'tiled8', 3);
  });

  it('measures the block-quantized forward variants (decoding rows and a batch), keeps the fastest, and dispatches it', async () => {
    const engine = await testEngine();
    engine.choices.clear();
    const cache = memoryTuneCache();
    const quant = { bits: 8, blockSize: 16 } as const; // not the default layout: the task carries it
    const shapes = [{ M: 3, C: 40, OC: 70, quant }, { M: 70, C: 40, OC: 70, quant }];
    // A budget that outlasts cold compiles (seconds to tens of seconds each on lavapipe under load).
    const outcome = await tuneMatmuls(engine, shapes, cache, { budgetMs: 600_000, maxRuns: 3, kernels: ['matmul_nbits_forward'] });
    const all = applicableVariants('matmul_nbits_forward', engine.report).map((v) => v.name);
    // The decoding layout (gemv: at most 4 rows) is measured for 3 rows only.
    expect(outcome.measured.map((c) => [c.shapeClass, Object.keys(c.measured)])).toEqual([
      ['m4:40x70', all],
      ['m256:40x70', all.filter((v) => v !== 'gemv')],
    ]);
    for (const c of outcome.measured) expectFastestKept(c);
    const chosen = outcome.measured[0]!.variant;
    expect(engine.choices.name('matmul_nbits_forward', 3, 40, 70)).toBe(chosen);
    // The host function dispatches the chosen variant: forcing a missing one would throw, and the
    // chosen one's result equals the same variant's forced.
    const w = uploadBlockQuantized(engine, quantizeBlockwise(randn(70 * 40, 1), 70, 40, 8, 16, false), 'w');
    const inp = engine.fromArray(randn(3 * 40, 2), [3 * 40]);
    const a = engine.tensor([3 * 70]), b = engine.tensor([3 * 70]);
    matmulNBitsForward(engine, a, inp, w, null, 3);
    matmulNBitsForward(engine, b, inp, w, null, 3, { variant: chosen });
    expect(await engine.readF32(a)).toEqual(await engine.readF32(b));
    expect(() => matmulNBitsForward(engine, a, inp, w, null, 3, { variant: 'nope' })).toThrow(/variant "nope" of matmul_nbits_forward does not exist/);
    releaseQuantTensor(engine, w);
    engine.release(inp, a, b);
    engine.choices.clear();
  }, 600_000);

  it('measures the block-quantized input gradient\'s variants on the quantized weight', async () => {
    const engine = await testEngine();
    engine.choices.clear();
    const shapes = [{ M: 20, C: 40, OC: 24, quant: { bits: 4, blockSize: 16 } as const }];
    const outcome = await tuneMatmuls(engine, shapes, memoryTuneCache(), { budgetMs: 600_000, maxRuns: 3, kernels: ['matmul_nbits_dinp'] });
    // (M, reduction, output) as the host asks: (20, OC, C).
    expect(outcome.measured.map((c) => [c.kernel, c.shapeClass, Object.keys(c.measured)])).toEqual([
      ['matmul_nbits_dinp', shapeClass(20, 24, 40), applicableVariants('matmul_nbits_dinp', engine.report).map((v) => v.name)],
    ]);
    expectFastestKept(outcome.measured[0]!);
    expect(engine.choices.name('matmul_nbits_dinp', 20, 24, 40)).toBe(outcome.measured[0]!.variant);
    engine.choices.clear();
  }, 600_000);

  it('adds the block-quantized forward and input gradient to a model\'s kernels where its base is quantized', async () => {
    const engine = await testEngine();
    const w = uploadBlockQuantized(engine, quantizeBlockwise(randn(8 * 32, 1), 8, 32, 4, 32, true), 'w');
    const f32 = engine.tensor([8 * 32]);
    const weights = (q: unknown) => ({ layers: [{ q: { weight: f32 }, up: { weight: q } }], lmHead: { weight: f32 } }) as unknown as ModelWeights;
    expect(modelQuantLayout(weights(w))).toEqual({ bits: 4, blockSize: 32 });
    expect(kernelsForModel(['matmul_forward', 'matmul_dinp'], weights(w))).toEqual({ kernels: ['matmul_forward', 'matmul_dinp', 'matmul_nbits_forward', 'matmul_nbits_dinp'], quant: { bits: 4, blockSize: 32 } });
    expect(kernelsForModel(['matmul_forward'], weights(w)).kernels).toEqual(['matmul_forward', 'matmul_nbits_forward']); // inference: no gradient
    expect(kernelsForModel(['matmul_forward'], weights(f32))).toEqual({ kernels: ['matmul_forward'], quant: null });
    expect(kernelsForModel(['attention_forward'], weights(w)).kernels).toEqual(['attention_forward']); // the forward is not tuned
    // The model's shapes at its rows, and the forward's (both kinds) at one row (decoding).
    const cfg = { hidden: 64, heads: 4, headDim: 16, kvHeads: 2, intermediate: 128, vocabSize: 100 } as TransformerConfig;
    const shapes = modelTuneShapes(cfg, 256, ['matmul_forward', 'matmul_nbits_forward'], { bits: 4, blockSize: 32 });
    expect(shapes.map((s) => `${s.M}x${s.C}x${s.OC}${s.kernels ? ':' + s.kernels.join() : ''}`)).toEqual([
      '256x64x64', '256x64x32', '256x64x128', '256x128x64', '256x64x100',
      ...['1x64x64', '1x64x32', '1x64x128', '1x128x64', '1x64x100'].map((s) => `${s}:matmul_forward,matmul_nbits_forward`),
    ]);
    // An f32 model: its forward at one row too; the input gradient at its rows only.
    expect(modelTuneShapes(cfg, 256, ['matmul_forward', 'matmul_dinp'], null).map((s) => `${s.M}:${s.kernels?.join() ?? 'all'}`)).toEqual([
      ...Array(5).fill('256:all'), ...Array(5).fill('1:matmul_forward'),
    ]);
    expect(modelTuneShapes(cfg, 256, ['matmul_dinp'], null)).toHaveLength(5);
    const tasks = matmulTuneTasks(engine, shapes.slice(4, 6), ['matmul_forward', 'matmul_nbits_forward']);
    expect(tasks.map((t) => `${t.kernel} ${t.shapeClass}`)).toEqual([
      'matmul_forward m256:64x100', 'matmul_nbits_forward m256:64x100', 'matmul_forward m1:64x64', 'matmul_nbits_forward m1:64x64',
    ]);
    expect(tasks[3]!.variants).toContain('gemv');
    releaseQuantTensor(engine, w);
    engine.release(f32);
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
