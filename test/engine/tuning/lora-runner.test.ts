import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { parseForced } from '../../../src/engine/tuning/choices.js';
import { loraGrad } from '../../../src/engine/kernels/lora.js';
import { loraTuneTasks, LoraTuneRunner, modelLoraShapes, type LogprobsShape, type LoraShape } from '../../../src/engine/tuning/lora-runner.js';
import { tuneMatmuls } from '../../../src/engine/tuning/matmul-runner.js';
import { applicableVariants, shapeClass } from '../../../src/engine/tuning/variants.js';
import { expectDisagreementRejected, expectFastestKept, memoryTuneCache } from '../../support/tuning.js';

// The LoRA passes and the LM head's log-softmax through the same tuner as matmul's, on the test
// adapter (lavapipe in the node project, SwiftShader in node-swiftshader): real compiles,
// validation against the safe kernel, real timings, the fastest kept per shape class and repeated
// from the cache. Shapes that are not multiples of any tile, small enough for SwiftShader.
describe('LoRA and log-softmax tuning on a real adapter', () => {
  afterAll(async () => {
    const engine = await testEngine();
    engine.choices.clear();
    engine.choices.forced = {};
    engine.pool.trim();
  });

  const layer: LoraShape = { M: 37, C: 29, OC: 45, R: 5 };
  const head: LogprobsShape = { rows: 5, V: 301 };
  const kernels = ['lora_xa', 'lora_dyb', 'lora_grad', 'logprobs_forward'] as const;

  it('measures every applicable variant of xa, g, dA, dB and the log-softmax, keeps the fastest, then repeats it from the cache', async () => {
    const engine = await testEngine();
    engine.choices.clear();
    const cache = memoryTuneCache();
    const first = await tuneMatmuls(engine, [], cache, { kernels, lora: [layer], logprobs: [head], budgetMs: 600_000, maxRuns: 3 });
    expect(first.fromCache).toBe(false);
    const { M, C, OC, R } = layer;
    expect(first.measured.map((c) => `${c.kernel} ${c.shapeClass}`)).toEqual([
      `lora_xa ${shapeClass(M, C, R)}`,
      `lora_dyb ${shapeClass(M, OC, R)}`,
      `lora_grad ${shapeClass(M, R, C)}`,
      `lora_grad ${shapeClass(M, OC, R)}`,
      `logprobs_forward ${shapeClass(head.rows, head.V, 1)}`,
    ]);
    for (const c of first.measured) {
      // Every variant this adapter has compiled, agreed with the safe kernel and has a time.
      expect(Object.keys(c.measured).sort()).toEqual(applicableVariants(c.kernel, engine.report).map((v) => v.name).sort());
      expect(Object.keys(c.measured).length).toBeGreaterThan(c.kernel === 'lora_grad' || engine.report.features.subgroups ? 1 : 0);
      expectFastestKept(c);
    }
    expect(engine.choices.name('lora_grad', M, R, C)).toBe(first.measured[2]!.variant);

    engine.choices.clear();
    const again = await tuneMatmuls(engine, [], cache, { kernels, lora: [layer], logprobs: [head], budgetMs: 600_000 });
    expect(again.fromCache).toBe(true);
    expect(engine.choices.all().map((c) => c.variant)).toEqual(first.measured.map((c) => c.variant));
    // A forced setting wins over the measurement.
    engine.choices.forced = parseForced('lora_grad=thin');
    expect(engine.choices.name('lora_grad', M, OC, R)).toBe('thin');
    engine.choices.forced = {};
    engine.choices.clear();
  }, 600_000);

  it('a variant whose result disagrees with the safe kernel is left out', async () => {
    const engine = await testEngine();
    const [dA] = loraTuneTasks(engine, [layer], [], ['lora_grad']);
    await expectDisagreementRejected(new LoraTuneRunner(engine), dA!, 'thin', 3);
  });

  it('a call without a variant dispatches the engine\'s choice for its shape class', async () => {
    const engine = await testEngine();
    // The shaders dispatched, recorded by wrapping engine.dispatch for this test.
    const shaders: string[] = [];
    const dispatch = engine.dispatch.bind(engine);
    engine.dispatch = ((kernel, ...rest) => (shaders.push(kernel.shader), dispatch(kernel, ...rest))) as typeof engine.dispatch;
    try {
      const [M, P, Q] = [40, 3, 7];
      const x = engine.zeros([M * P], 'f32'), y = engine.zeros([M * Q], 'f32'), out = engine.tensor([P * Q], 'f32');
      engine.choices.clear();
      loraGrad(engine, out, x, y, M, P, Q, { accumulate: false });
      engine.choices.set({ kernel: 'lora_grad', shapeClass: shapeClass(M, P, Q), variant: 'thin', why: 'test', measured: {} });
      loraGrad(engine, out, x, y, M, P, Q, { accumulate: false });
      loraGrad(engine, out, y, x, M, Q, P, { accumulate: false }); // another class: still safe
      await engine.sync();
      expect(shaders).toEqual(['lora_backward', 'lora_backward_thin', 'lora_backward']);
      engine.release(x, y, out);
    } finally {
      engine.dispatch = dispatch;
      engine.choices.clear();
    }
  }, 120_000);

  it('a model\'s LoRA layers: its linear shapes but the LM head, each once', () => {
    const cfg = { hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, vocabSize: 49152 } as Parameters<typeof modelLoraShapes>[0];
    expect(modelLoraShapes(cfg, 256, 8).map((s) => `${s.C}x${s.OC}`)).toEqual(['576x576', '576x192', '576x1536', '1536x576']);
  });
});
