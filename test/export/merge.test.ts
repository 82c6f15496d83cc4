// Merged ONNX: onnxruntime-web running the merged file must give our engine's logits with the
// adapter plugged in (random non-zero A and B on every linear layer), on the torch-made fixtures
// (Llama; Qwen2 with external data; GPT-2 with its packed Conv1D c_attn), with rsLoRA, and the
// merged file must keep the graph, inputs and outputs of the original.
import { basename } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { mergeOnnx } from '../../src/engine/export/merge.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TINY_GPT2, TINY_LLAMA, TINY_QWEN2 } from '../model/helpers.js';
import { engineLogits, loadMerged, maxAbsDiff, ortLogits, randomAdapter, randomBatch } from './helpers.js';

// fp32 on both sides: the merged weight W + s·B·A rounds once where the engine adds x·Aᵀ·Bᵀ·s
// to x·W; observed differences are ~1e-6 on logits of a few units.
const TOL = 1e-4;

afterAll(async () => (await testEngine()).pool.trim());

describe.each([
  { dir: TINY_LLAMA, lora: { target_modules: 'all-linear' as const } },
  { dir: TINY_QWEN2, lora: { target_modules: ['q_proj', 'v_proj', 'down_proj'], use_rslora: true, r: 3 } },
  { dir: TINY_GPT2, lora: { target_modules: ['c_attn', 'c_fc'], r: 2, lora_alpha: 5 } },
].map((c) => ({ ...c, name: basename(c.dir) })))('$name', ({ dir, lora }) => {
  it('merged ONNX in onnxruntime-web = our engine with the adapter (1e-4)', async () => {
    const model = await loadModel(nodeDirSource(dir));
    const adapter = randomAdapter(model, lora);
    const batch = randomBatch(model.config.vocabSize);
    const ours = await engineLogits(model, adapter, batch);
    const base = await engineLogits(model, null, batch);
    expect(maxAbsDiff(ours, base)).toBeGreaterThan(0.05); // the adapter matters

    const merged = mergeOnnx(model, adapter);
    expect(merged.data !== null).toBe(model.externalData().length > 0);
    const reloaded = await loadMerged(dir, model, merged);
    const theirs = await ortLogits(reloaded, batch);
    expect(maxAbsDiff(theirs, ours)).toBeLessThanOrEqual(TOL);

    // Same graph, inputs and outputs; only the targeted weights changed.
    expect(reloaded.graph.ops).toEqual(model.graph.ops);
    expect(reloaded.graph.inputs).toEqual(model.graph.inputs);
    expect(reloaded.graph.outputs).toEqual(model.graph.outputs);
    expect(new Set(merged.merged)).toEqual(new Set([...adapter.tensors.keys()].filter((k) => k.includes('lora_A')).flatMap((k) => {
      const path = k.replace(/^base_model\.model\./, '').replace(/\.lora_A\.weight$/, '');
      return path.endsWith('c_attn') ? ['q_proj', 'k_proj', 'v_proj'].map((x) => path.replace('c_attn', x) + '.weight') : [`${path}.weight`];
    })));
    for (const name of model.weights.keys()) {
      const changed = merged.merged.includes(name);
      const same = maxAbsDiff(reloaded.weight(name, 'f32').data, model.weight(name, 'f32').data) === 0;
      expect(same, name).toBe(!changed);
    }
  }, 120_000);
});
