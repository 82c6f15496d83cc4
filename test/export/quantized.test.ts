// Exports from a quantized base (issue 12): the merged ONNX is float16, its quantized weights
// dequantized and the adapter merged into them (never re-quantized); onnxruntime-web runs it and
// gives our engine's logits of the 4-bit base with the adapter plugged in, up to the f16 rounding
// of the merged weights. The GGUF LoRA and PEFT files need only the adapter: written as usual.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { ggufLoraAdapter } from '../../src/engine/export/gguf.js';
import { mergeOnnx } from '../../src/engine/export/merge.js';
import { adapterModules } from '../../src/engine/export/modules.js';
import { loadModel } from '../../src/engine/model/load.js';
import { parseOnnx } from '../../src/engine/model/onnx.js';
import { TINY_LLAMA, variant } from '../model/helpers.js';
import { quantizeOnnx, type QuantizeOnnxOptions } from '../support/quantize-onnx.js';
import { engineLogits, loadMerged, maxAbsDiff, ortLogits, randomAdapter, randomBatch } from './helpers.js';

afterAll(async () => (await testEngine()).pool.trim());

describe('exports from a 4-bit base', () => {
  it.each([
    { name: '4-bit MatMulNBits, int4 GatherBlockQuantized', o: { bits: 4, blockSize: 16, zeroPoints: true, embedding: 'int4' }, quantized: 16 },
    { name: 'int8 QDQ (DequantizeLinear)', o: { bits: 8, blockSize: 32, zeroPoints: true, qdq: 'int8' }, quantized: 15 },
    { name: 'int8 MatMulInteger with DynamicQuantizeLinear', o: { bits: 8, blockSize: 32, zeroPoints: true, qdq: 'int8', dynamic: true }, quantized: 15 },
  ] as { name: string; o: QuantizeOnnxOptions; quantized: number }[])('merged ONNX: float16, dequantized, = our engine on the base with the adapter: $name', async ({ o, quantized }) => {
    const f32 = new Uint8Array(readFileSync(join(TINY_LLAMA, 'model.onnx')));
    const q4 = await loadModel(variant(TINY_LLAMA, { 'model.onnx': quantizeOnnx(f32, o).bytes }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    expect(q4.quantized).toBe(true);
    const adapter = randomAdapter(q4, { target_modules: 'all-linear' });
    const batch = randomBatch(q4.config.vocabSize);
    const ours = await engineLogits(q4, adapter, batch);
    expect(maxAbsDiff(ours, await engineLogits(q4, null, batch))).toBeGreaterThan(0.05); // the adapter matters

    const merged = mergeOnnx(q4, adapter);
    // Every quantized weight (14 linear, the LM head, the embedding when quantized) written dequantized; the 14 targeted ones merged.
    expect(merged.dequantized.length).toBe(quantized);
    expect(merged.merged.length).toBe(14);
    const g = parseOnnx(merged.onnx, 'model.onnx');
    expect(g.nodes.filter((n) => n.domain === 'com.microsoft' || /Quantize|Integer/.test(n.opType))).toEqual([]);
    expect([...g.initializers.values()].filter((t) => t.dtype === 'uint8' || t.dtype === 'int4')).toEqual([]);
    const reloaded = await loadMerged(TINY_LLAMA, q4, merged);
    expect(reloaded.quantized).toBe(false);
    for (const name of ['lm_head.weight', 'model.layers.1.mlp.down_proj.weight']) expect(reloaded.weights.get(name)!.dtype).toBe('f16');

    const theirs = await ortLogits(reloaded, batch);
    // onnxruntime on the merged file = our engine on it (same f16 weights, f32 activations) ...
    expect(maxAbsDiff(theirs, await engineLogits(reloaded, null, batch))).toBeLessThanOrEqual(1e-4);
    // ... = our engine on the 4-bit base + adapter, but for rounding W + s·B·A to f16 once
    // (2^-11 relative on every weight, through two layers to logits of a few units: observed 6.7e-3).
    const d = maxAbsDiff(theirs, ours);
    console.log(`merged f16 vs 4-bit base + adapter: max |diff| ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(2e-2);
  }, 120_000);

  it('GGUF LoRA is written as for a float base (PEFT files hold only the adapter)', async () => {
    const f32 = new Uint8Array(readFileSync(join(TINY_LLAMA, 'model.onnx')));
    const q8 = await loadModel(variant(TINY_LLAMA, { 'model.onnx': quantizeOnnx(f32, { bits: 8, blockSize: 32, zeroPoints: false }).bytes }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    const adapter = randomAdapter(q8, { target_modules: ['q_proj', 'down_proj'] });
    const modules = adapterModules(q8, adapter);
    expect(modules.length).toBe(4);
    const bytes = ggufLoraAdapter(modules, { family: q8.family, config: q8.config, alpha: 8, r: 4, useRslora: false, dtype: 'f32', name: 'a' });
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('GGUF');
  });
});
