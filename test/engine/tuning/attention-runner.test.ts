import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { parseForced } from '../../../src/engine/tuning/choices.js';
import { attentionForward } from '../../../src/engine/kernels/attention.js';
import { attentionTuneTasks, AttentionTuneRunner, type AttentionShape } from '../../../src/engine/tuning/attention-runner.js';
import { tuneMatmuls } from '../../../src/engine/tuning/matmul-runner.js';
import { attentionShapeClass } from '../../../src/engine/tuning/variants.js';
import { expectDisagreementRejected, expectFastestKept, memoryTuneCache } from '../../support/tuning.js';

// The attention variants through the same tuner as matmul's, on the test adapter (lavapipe in the
// node project, SwiftShader in node-swiftshader): real compiles, validation against the safe
// kernel, real timings, the fastest kept per shape class and repeated from the cache. Small heads
// keep the compiles short on SwiftShader.
describe('attention tuning on a real adapter', () => {
  afterAll(async () => {
    const engine = await testEngine();
    engine.choices.clear();
    engine.choices.forced = {};
    engine.pool.trim();
  });

  // Training at T = 7 (not a multiple of any tile; G = 3) and decoding one token against 7 keys;
  // tiny heads, as the default tiles' workgroup memory takes SwiftShader seconds to compile.
  const train: AttentionShape = { B: 2, Tq: 7, Tk: 7, NH: 6, NKV: 2, HS: 4 };
  const decode: AttentionShape = { ...train, Tq: 1 };

  it('measures safe and flash for the forward (training, decoding: also split) and the backward, keeps the fastest, then repeats it from the cache', async () => {
    const engine = await testEngine();
    engine.choices.clear();
    const cache = memoryTuneCache();
    const notes: string[] = [];
    const kernels = ['attention_forward', 'attention_backward'] as const;
    // The budget only has to outlast cold shader compiles (tens of seconds each on lavapipe under
    // load, with an empty cache as on a fresh CI machine); its cut-off is tested on a fake clock
    // in tuner.test.ts.
    const first = await tuneMatmuls(engine, [], cache, { kernels, attention: [train, decode], budgetMs: 600_000, maxRuns: 3, onProgress: (p) => notes.push(p.note) });
    expect(first.fromCache).toBe(false);
    expect(first.measured.map((c) => `${c.kernel} ${c.shapeClass}`)).toEqual([
      `attention_forward ${attentionShapeClass(7, 6, 2, 4)}`,
      `attention_backward ${attentionShapeClass(7, 6, 2, 4)}`,
      `attention_forward ${attentionShapeClass(1, 6, 2, 4)}`,
    ]);
    expect(notes).toHaveLength(7);
    for (const c of first.measured) {
      // Every variant compiled, agreed with the safe kernel and has a time; split keys only for
      // decoding (a layout for a few query rows).
      const decoding = c.shapeClass.startsWith('m1:') && c.kernel === 'attention_forward';
      expect(Object.keys(c.measured).sort()).toEqual(decoding ? ['flash', 'safe', 'split'] : ['flash', 'safe']);
      expectFastestKept(c);
      const Tq = c.shapeClass.startsWith('m1:') ? 1 : 7;
      expect(engine.choices.attentionName(c.kernel as 'attention_forward', Tq, 6, 2, 4)).toBe(c.variant);
    }

    engine.choices.clear();
    const again = await tuneMatmuls(engine, [], cache, { kernels, attention: [train, decode], budgetMs: 600_000 });
    expect(again.fromCache).toBe(true);
    expect(engine.choices.all().map((c) => c.variant)).toEqual(first.measured.map((c) => c.variant));
    // A forced setting wins over the measurement.
    engine.choices.forced = parseForced('attention_backward=flash');
    expect(engine.choices.attentionName('attention_backward', 7, 6, 2, 4)).toBe('flash');
    engine.choices.forced = {};
  }, 600_000); // a cold shader cache (a fresh CI machine): about 25 s alone on lavapipe, 120 s at load 7

  it('a call without a variant dispatches the engine\'s choice for its shape class', async () => {
    const engine = await testEngine();
    const flashKeys = () => [...(engine as unknown as { pipelines: Map<string, unknown> }).pipelines.keys()]
      .filter((k) => k.startsWith('attention_forward_flash') && k.includes('G=2'));
    // Two query heads per kv head: a shape no other test here builds.
    const B = 1, Tk = 3, NH = 2, NKV = 1, HS = 4;
    const q = engine.zeros([B * NH * HS], 'f32'), kv = engine.zeros([B * Tk * NKV * HS], 'f32');
    const out = engine.tensor([B * NH * HS], 'f32'), lse = engine.tensor([B * NH], 'f32');
    engine.choices.clear();
    attentionForward(engine, out, lse, q, kv, kv, null, B, 1, Tk, NH, NKV, HS);
    expect(flashKeys()).toEqual([]); // nothing chosen: safe
    engine.choices.set({ kernel: 'attention_forward', shapeClass: attentionShapeClass(1, NH, NKV, HS), variant: 'flash', why: 'test', measured: {} });
    attentionForward(engine, out, lse, q, kv, kv, null, B, 1, Tk, NH, NKV, HS);
    await engine.sync();
    expect(flashKeys()).toHaveLength(1);
    engine.choices.clear();
    engine.release(q, kv, out, lse);
  }, 120_000);

  it('a variant whose result disagrees with the safe kernel is left out', async () => {
    const engine = await testEngine();
    const [task] = attentionTuneTasks(engine, [train], ['attention_backward']);
    await expectDisagreementRejected(new AttentionTuneRunner(engine), task!, 'flash', 5);
  });

  it('a variant that does not fit a shape is not measured there; the backward is not tuned for decoding', async () => {
    const engine = await testEngine();
    // 8 heads per kv head of 4096 dims: the flash query tile alone exceeds the workgroup memory.
    const huge: AttentionShape = { B: 1, Tq: 4, Tk: 4, NH: 8, NKV: 1, HS: 4096 };
    const [task] = attentionTuneTasks(engine, [huge], ['attention_forward']);
    expect(task!.variants).not.toContain('flash');
    expect(attentionTuneTasks(engine, [decode], ['attention_forward', 'attention_backward']).map((t) => t.kernel)).toEqual(['attention_forward']);
  });
});
