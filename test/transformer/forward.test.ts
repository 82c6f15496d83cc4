// Whole-model forward on the GPU against the CPU reference (built from the kernels' CPU twins),
// on tiny random models: Llama with GQA, Qwen2-style q/k/v biases with a scaled rope, Llama with
// f16 weights, GPT-2.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { releaseActivations, TransformerModel, type TokenBatch } from '../../src/engine/transformer/model.js';
import { CpuTransformer } from '../../src/engine/transformer/cpu-reference.js';
import { expectClose } from '../support/numeric.js';
import { randomRows, randomWeights, tinyConfig, type FixtureName } from './fixtures.js';

/** Right-pads rows into a batch; padding ids are garbage on purpose (they must not matter). */
function padded(rows: number[][], padId = 7): TokenBatch {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Int32Array(B * T);
  rows.forEach((r, b) => {
    ids.set(r, b * T);
    mask.fill(1, b * T, b * T + r.length);
  });
  return { B, T, ids, mask };
}

/** The logits of real positions only, in row order. */
function realRows(logits: Float32Array, batch: TokenBatch, V: number): Float32Array {
  const out: number[] = [];
  for (let i = 0; i < batch.B * batch.T; i++) if (batch.mask![i] !== 0) out.push(...logits.subarray(i * V, (i + 1) * V));
  return Float32Array.from(out);
}

// Tolerance: the GPU sums in f32 (tiled matmul, online-softmax attention, f32 norms) where the
// CPU twins sum in float64; each op adds a few f32 ulps of relative error times its reduction
// length (<= 128 here), compounding over 2 blocks (~16 ops) into logits of magnitude up to ~10.
// Measured max abs error ~2e-6 (f32 ulp at 8 is 1e-6); 1e-4 leaves a wide margin, while a wrong op
// (a missed bias, a mis-shifted rope, a leak through the padding) moves logits by 1e-2 or more.
const TOL = { atol: 1e-4, rtol: 1e-5 };

const FIXTURES: FixtureName[] = ['llama-gqa', 'qwen2-bias', 'llama-f16', 'gpt2'];

describe('transformer forward', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(FIXTURES)('%s: padded batch of 3 matches the CPU reference at real positions', async (name) => {
    const engine = await testEngine();
    const config = tinyConfig(name);
    const weights = randomWeights(config, 11, name === 'llama-f16');
    const model = TransformerModel.create(engine, config, weights);
    const cpu = new CpuTransformer(config, weights);
    const batch = padded(randomRows([9, 4, 6], config.vocabSize, 5));
    const gpu = await model.logits(batch);
    const want = cpu.logits(batch);
    expect(gpu.length).toBe(batch.B * batch.T * config.vocabSize);
    expectClose(realRows(gpu, batch, config.vocabSize), realRows(want, batch, config.vocabSize), { ...TOL, what: `${name} logits` });

    // Only the rows asked for: the last real token of each row.
    const rows = [8, 9 + 3, 18 + 5];
    expectClose(await model.logits(batch, rows), cpu.logits(batch, rows), { ...TOL, what: `${name} picked rows` });
    model.destroy();
  });

  it('right padding leaves real positions as if each row ran alone (CPU reference)', () => {
    const config = tinyConfig('llama-gqa');
    const cpu = new CpuTransformer(config, randomWeights(config, 3));
    const rows = randomRows([5, 2], config.vocabSize, 9);
    const batch = padded(rows);
    const together = realRows(cpu.logits(batch), batch, config.vocabSize);
    const alone = Float32Array.from(rows.flatMap((r) => [...cpu.logits({ B: 1, T: r.length, ids: Int32Array.from(r), mask: null })]));
    expectClose(together, alone, { atol: 1e-6, rtol: 1e-6, what: 'padded vs alone' });
  });

  it('keeps activations when asked and releases them', async () => {
    const engine = await testEngine();
    const config = tinyConfig('llama-gqa');
    const model = TransformerModel.create(engine, config, randomWeights(config, 2));
    const batch = padded(randomRows([3, 2], config.vocabSize, 1));
    const before = engine.pool.stats.bytesInUse;
    const { hidden, activations } = model.forwardHidden(batch, { keepActivations: true });
    expect(activations!.layers.length).toBe(config.layers);
    expect(activations!.layers[1]!.residual3).toBe(hidden);
    expect(activations!.layers[0]!.q.shape).toEqual([2, 3, config.heads, config.headDim]);
    await engine.sync();
    releaseActivations(engine, activations!);
    expect(engine.pool.stats.bytesInUse).toBe(before);
    model.destroy();
  });

  it('rejects token ids outside the vocabulary', async () => {
    const engine = await testEngine();
    const config = tinyConfig('gpt2');
    const model = TransformerModel.create(engine, config, randomWeights(config, 2));
    expect(() => model.forwardHidden({ B: 1, T: 2, ids: Int32Array.of(3, 50), mask: null })).toThrow(/token id 50/);
    model.destroy();
  });
});
