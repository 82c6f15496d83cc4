// Exports of an adapter on the architecture replicas (issue 12; scripts/fixtures/make_arch_fixtures.py):
//   - merged ONNX: onnxruntime-web running the merged file gives our engine's logits with the
//     adapter plugged in (random non-zero A and B on every linear module; Phi-3's packed
//     qkv_proj / gate_up_proj land in row ranges of the packed tensors), the graph unchanged;
//   - GGUF LoRA: llama.cpp's architecture name and tensor names for each family (Phi-3:
//     attn_qkv and ffn_up, packed as convert_hf_to_gguf.py keeps them), dims as llama.cpp checks
//     them, B as PEFT's where the converter permutes nothing, parsed back with @huggingface/gguf;
//   - the whole-model GGUF, not written yet for these families, is refused naming why.
// Runs on lavapipe where it is set up (vitest.config.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { ggufLoraAdapter, ggufLoraB } from '../../src/engine/export/gguf.js';
import { assertGgufExportable } from '../../src/engine/export/gguf-model.js';
import { mergeOnnx } from '../../src/engine/export/merge.js';
import { adapterModules } from '../../src/engine/export/modules.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { LOCAL } from '../model/helpers.js';
import { engineLogits, loadMerged, maxAbsDiff, ortLogits, randomAdapter, randomBatch } from './helpers.js';

afterAll(async () => (await testEngine()).pool.trim());

/** fp32: the merged weight rounds once where the engine adds the LoRA term; a few ulps of the logits. */
const REL_TOL = 1e-4;

const CASES = [
  { name: 'gemma3', gguf: 'gemma3', modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
  { name: 'gemma2', gguf: 'gemma2', modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
  { name: 'qwen3', gguf: 'qwen3', modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
  { name: 'phi3', gguf: 'phi3', modules: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'] },
  { name: 'olmo2', gguf: 'olmo2', modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
  { name: 'mistral', gguf: 'llama', modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
];

/** llama.cpp's tensor name of each PEFT module (gguf-py tensor_mapping.py). */
const GGUF_NAME: Record<string, string> = {
  q_proj: 'attn_q', k_proj: 'attn_k', v_proj: 'attn_v', o_proj: 'attn_output', qkv_proj: 'attn_qkv',
  gate_proj: 'ffn_gate', up_proj: 'ffn_up', gate_up_proj: 'ffn_up', down_proj: 'ffn_down',
};

describe.each(CASES)('$name', ({ name, gguf: arch, modules: moduleNames }) => {
  const dir = join(LOCAL, `arch-${name}`);

  it('merged ONNX in onnxruntime-web = our engine with the adapter', async () => {
    const model = await loadModel(nodeDirSource(dir));
    const adapter = randomAdapter(model);
    expect([...new Set([...adapter.tensors.keys()].map((k) => k.split('.').at(-3)))].sort()).toEqual([...moduleNames].sort());
    // Rows of 9 tokens: past the windows of 4.
    const batch = randomBatch(model.config.vocabSize, 2, 9);
    const ours = await engineLogits(model, adapter, batch);
    const base = await engineLogits(model, null, batch);
    const scale = Math.max(...ours.map(Math.abs));
    expect(maxAbsDiff(ours, base)).toBeGreaterThan(100 * REL_TOL * scale); // the adapter matters
    const merged = mergeOnnx(model, adapter);
    const reloaded = await loadMerged(dir, model, merged);
    const theirs = await ortLogits(reloaded, batch);
    console.log(`${name}: merged ONNX vs engine ${maxAbsDiff(theirs, ours).toExponential(2)} (max |logit| ${scale.toFixed(2)})`);
    expect(maxAbsDiff(theirs, ours)).toBeLessThanOrEqual(REL_TOL * scale);
    expect(reloaded.graph.ops).toEqual(model.graph.ops);
    // Every linear weight changed (all-linear), norms and embeddings not.
    for (const w of model.weights.keys()) {
      const same = maxAbsDiff(reloaded.weight(w, 'f32').data, model.weight(w, 'f32').data) === 0;
      expect(same, w).toBe(!/_proj\.weight$/.test(w));
    }
  }, 120_000);

  it('GGUF LoRA: llama.cpp\'s architecture and tensor names, dims and values', async () => {
    const model = await loadModel(nodeDirSource(dir));
    const adapter = randomAdapter(model, { r: 3, lora_alpha: 6 });
    const modules = adapterModules(model, adapter);
    const r = 3;
    // llama.cpp's phi3 derives the head size as hidden / heads (no attention.key_length): the
    // replica, whose hidden is cut to 32, is refused for that; the real Phi-4-mini's counts pass.
    let config = model.config;
    if (name === 'phi3') {
      expect(() => ggufLoraAdapter(modules, { family: model.family, config, alpha: 6, r, useRslora: false })).toThrow(/heads × head_dim = hidden/);
      config = { ...config, hidden: config.heads * config.headDim };
    }
    const bytes = ggufLoraAdapter(modules, { family: model.family, config, alpha: 6, r, useRslora: false });
    const file = join(mkdtempSync(join(tmpdir(), 'prefstudio-gguf-arch-')), 'adapter.gguf');
    writeFileSync(file, bytes);
    const parsed = await gguf(file, { allowLocalFile: true });
    const md = parsed.metadata as unknown as Record<string, unknown>;
    expect(md['general.architecture']).toBe(arch);
    const want = Array.from({ length: model.config.layers }, (_, l) => moduleNames.flatMap((m) => [`blk.${l}.${GGUF_NAME[m]}.weight.lora_a`, `blk.${l}.${GGUF_NAME[m]}.weight.lora_b`])).flat();
    expect(parsed.tensorInfos.map((t) => t.name)).toEqual(want);
    const c = model.config;
    for (const m of modules) {
      const a = parsed.tensorInfos.find((t) => t.name === `${m.slot.gguf}.weight.lora_a`)!;
      const b = parsed.tensorInfos.find((t) => t.name === `${m.slot.gguf}.weight.lora_b`)!;
      expect(a.shape.map(Number)).toEqual([m.slot.inFeatures, r]);
      expect(b.shape.map(Number)).toEqual([r, m.slot.outFeatures]);
      // Packed Phi-3 modules: q | k | v and gate | up rows, as HF and llama.cpp order them.
      if (m.slot.path.endsWith('qkv_proj')) expect(m.slot.outFeatures).toBe((c.heads + 2 * c.kvHeads) * c.headDim);
      if (m.slot.path.endsWith('gate_up_proj')) expect(m.slot.outFeatures).toBe(2 * c.intermediate);
      // Only llama / mistral permute q and k rows (convert_lora_to_gguf.py); the others keep PEFT's B.
      const permuted = arch === 'llama' && /\.(q|k)_proj$/.test(m.slot.path);
      expect(ggufLoraB(m, model.family, c, r) === m.b, m.slot.path).toBe(!permuted);
    }
    if (arch !== 'llama') {
      // (The phi3 replica's cut hidden size is refused first, as above.)
      expect(() => assertGgufExportable(model)).toThrow(name === 'phi3' ? /heads × head_dim = hidden/ : new RegExp(`whole ${model.family} model is not written yet`));
      expect(() => assertGgufExportable({ ...model, config })).toThrow(new RegExp(`whole ${model.family} model is not written yet`));
    }
  });
});
