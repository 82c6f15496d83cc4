// The merged ONNX from a q4f16 base (issue 12): the base is a whole float16 graph with
// MatMulNBits T = float16 (test/support/quantize-onnx.ts `float16`, as transformers.js makes
// onnx/model_q4f16.onnx); the merged file is that graph with the quantized weights dequantized to
// f16 and the adapter merged in. We reload it (GPT-2 included, whose quantized LM head was kept
// apart from wte and stays apart once dequantized) and onnxruntime-web runs it.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { mergeOnnx } from '../../src/engine/export/merge.js';
import { loadModel } from '../../src/engine/model/load.js';
import { parseOnnx } from '../../src/engine/model/onnx.js';
import { TINY_GPT2, TINY_LLAMA, fileBytes, variant } from '../model/helpers.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';
import { engineLogits, loadMerged, maxAbsDiff, ortLogits, randomAdapter, randomBatch } from './helpers.js';

afterAll(async () => (await testEngine()).pool.trim());

/**
 * onnxruntime computes a float16 graph in halves where we compute in f32: up to about 20 roundings
 * of u = 2⁻¹¹ relative on a logit's path (as test/model/quantized-f16.test.ts and parity.test.ts).
 */
const REL_TOL = 20 * 2 ** -11;

describe('merged ONNX from a q4f16 base', () => {
  it.each([
    { name: 'tiny-llama, int4 embedding', dir: TINY_LLAMA, embedding: 'int4' as const, dequantized: 16, merged: 14 },
    { name: 'tiny-gpt2, its own quantized LM head', dir: TINY_GPT2, embedding: null, dequantized: 13, merged: 12 },
  ])('$name: float16, dequantized, reloaded; onnxruntime on it = our engine on the base with the adapter', async ({ name, dir, embedding, dequantized, merged: mergedCount }) => {
    const bytes = quantizeOnnx(fileBytes(`${dir}/model.onnx`), { bits: 4, blockSize: 16, zeroPoints: true, embedding, float16: true }).bytes;
    const base = await loadModel(variant(dir, { 'model.onnx': bytes }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    const adapter = randomAdapter(base, { target_modules: 'all-linear' });
    const batch = randomBatch(base.config.vocabSize);
    const ours = await engineLogits(base, adapter, batch);
    expect(maxAbsDiff(ours, await engineLogits(base, null, batch))).toBeGreaterThan(0.05); // the adapter matters

    const merged = mergeOnnx(base, adapter);
    expect(merged.dequantized.length).toBe(dequantized);
    expect(merged.merged.length).toBe(mergedCount);
    const g = parseOnnx(merged.onnx, 'model.onnx');
    expect(g.nodes.filter((n) => n.domain === 'com.microsoft')).toEqual([]);
    expect(new Set([...g.initializers.values()].filter((t) => t.dims.length === 2).map((t) => t.dtype))).toEqual(new Set(['float16']));
    const reloaded = await loadMerged(dir, base, merged);
    expect(reloaded.quantized).toBe(false);
    expect(reloaded.weights.get('lm_head.weight')!.dtype).toBe('f16');

    const theirs = await ortLogits(reloaded, batch);
    const scale = theirs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    // onnxruntime (f16 activations) on the merged file = our engine (f32 activations) on it ...
    const same = maxAbsDiff(theirs, await engineLogits(reloaded, null, batch));
    // ... and = our engine on the q4f16 base + adapter, but also for rounding W + s·B·A to f16 once
    // (2⁻¹¹ relative on every weight, through two layers to logits of a few units; within 2e-2 as
    // test/export/quantized.test.ts allows).
    const d = maxAbsDiff(theirs, ours);
    console.log(`${name}: ort(merged) vs ours(merged) ${same.toExponential(2)}, vs ours(q4f16 base + adapter) ${d.toExponential(2)}, max |logit| ${scale.toFixed(3)}`);
    expect(scale).toBeGreaterThan(0.5);
    expect(same).toBeLessThanOrEqual(REL_TOL * scale);
    expect(d).toBeLessThanOrEqual(2e-2 + REL_TOL * scale);
  }, 120_000);
});
