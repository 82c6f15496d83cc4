// PEFT adapters in and out: an adapter written by PyTorch code (scripts/fixtures/
// export_peft_reference.py, not ours) imports and gives PyTorch's logits of W + s·B·A; what we
// export parses with an independent reader (Python standard library) with exactly PEFT's names,
// shapes and values; zip and folder round trips are lossless; bad adapters fail naming the tensor.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { adapterModules } from '../../src/engine/export/modules.js';
import { peftFiles, readPeftFiles, readPeftZip, zipFiles } from '../../src/engine/export/peft.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TINY_GPT2, TINY_LLAMA, f32FromB64, readJsonFile } from '../model/helpers.js';
import { engineLogits, maxAbsDiff } from './helpers.js';

const FIXTURES = new URL('../fixtures/export/', import.meta.url).pathname;
const READER = new URL('../../scripts/fixtures/export_read_safetensors.py', import.meta.url).pathname;

function torchAdapterFiles(name: string): Record<string, Uint8Array> {
  const dir = join(FIXTURES, `${name}-adapter`);
  return Object.fromEntries(['adapter_config.json', 'adapter_model.safetensors'].map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

afterAll(async () => (await testEngine()).pool.trim());

describe.each([
  { name: 'tiny-llama', dir: TINY_LLAMA },
  { name: 'tiny-gpt2', dir: TINY_GPT2 },
])('$name', ({ name, dir }) => {
  it("a PyTorch-written PEFT adapter imports and gives PyTorch's merged-weight logits (1e-4)", async () => {
    const model = await loadModel(nodeDirSource(dir));
    const adapter = readPeftFiles(torchAdapterFiles(name), name);
    const ref = readJsonFile<{ ids: number[][]; logits_f32_b64: string }>(join(FIXTURES, `${name}-logits.json`));
    const batch = { B: ref.ids.length, T: ref.ids[0]!.length, ids: ref.ids.flat() };
    const ours = await engineLogits(model, adapter, batch);
    const base = await engineLogits(model, null, batch);
    const want = f32FromB64(ref.logits_f32_b64);
    expect(maxAbsDiff(ours, base)).toBeGreaterThan(0.1);
    // float64 in PyTorch, f32 here: observed ~1e-6.
    expect(maxAbsDiff(ours, want)).toBeLessThanOrEqual(1e-4);
  }, 60_000);

  it("our export parses with Python's standard library: PEFT's names, shapes and values; zip and folder round trips are lossless", async () => {
    const model = await loadModel(nodeDirSource(dir));
    const adapter = readPeftFiles(torchAdapterFiles(name), name);
    const files = peftFiles(model, adapter);
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-peft-'));
    writeFileSync(join(out, 'adapter_model.safetensors'), files['adapter_model.safetensors']!);
    const parsed = JSON.parse(execFileSync('/usr/bin/python3', [READER, join(out, 'adapter_model.safetensors')], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
      metadata: Record<string, string>;
      tensors: Record<string, { shape: number[]; values: number[] }>;
    };
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect(Object.keys(parsed.tensors).sort()).toEqual([...adapter.tensors.keys()].sort());
    const r = adapter.lora.r;
    for (const m of adapterModules(model, adapter)) {
      const a = parsed.tensors[`base_model.model.${m.slot.path}.lora_A.weight`]!;
      const b = parsed.tensors[`base_model.model.${m.slot.path}.lora_B.weight`]!;
      expect(a.shape).toEqual([r, m.slot.inFeatures]);
      expect(b.shape).toEqual([m.slot.outFeatures, r]);
      expect(Float32Array.from(a.values)).toEqual(m.a);
      expect(Float32Array.from(b.values)).toEqual(m.b);
    }
    const cfg = JSON.parse(new TextDecoder().decode(files['adapter_config.json'])) as Record<string, unknown>;
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: adapter.lora.lora_alpha, use_rslora: adapter.lora.use_rslora, fan_in_fan_out: name === 'tiny-gpt2' });
    const torchCfg = JSON.parse(new TextDecoder().decode(torchAdapterFiles(name)['adapter_config.json'])) as { target_modules: string[] };
    expect(cfg.target_modules).toEqual(torchCfg.target_modules);

    // Round trips: zip → import → export gives the same bytes; values equal the PyTorch file's.
    const zip = zipFiles(files);
    expect(Object.keys(unzipSync(zip)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const back = readPeftZip(zip);
    expect(back.lora).toEqual(adapter.lora);
    expect(back.tensors).toEqual(adapter.tensors);
    expect(peftFiles(model, back)).toEqual(files);
    // A zipped folder (files one level down) imports too.
    expect(readPeftZip(zipFiles({ 'run-3/adapter_config.json': files['adapter_config.json']!, 'run-3/adapter_model.safetensors': files['adapter_model.safetensors']! })).tensors).toEqual(adapter.tensors);
  }, 60_000);
});

describe('bad adapters', () => {
  it('name the tensor and what is wrong', async () => {
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const adapter = readPeftFiles(torchAdapterFiles('tiny-llama'));
    const without = (n: string) => ({ ...adapter, tensors: new Map([...adapter.tensors].filter(([k]) => k !== n)) });
    const b0 = 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight';
    expect(() => adapterModules(model, without(b0))).toThrow(`adapter tensor ${b0} is missing (its partner is there)`);
    const short = { ...adapter, tensors: new Map([...adapter.tensors].map(([k, v]) => [k, k === b0 ? v.subarray(1) : v])) };
    expect(() => adapterModules(model, short)).toThrow(/q_proj\.lora_B\.weight has 127 values; PEFT's shape \[out, r\] = \[32, 4\] needs 128/);
    const stray = { ...adapter, tensors: new Map([...adapter.tensors, ['base_model.model.lm_head.lora_A.weight', new Float32Array(4)]]) };
    expect(() => adapterModules(model, stray)).toThrow(/lm_head\.lora_A\.weight is not a LoRA tensor of a linear layer of this llama model/);
    expect(() => readPeftZip(new Uint8Array([1, 2, 3]))).toThrow(/adapter zip: not a zip file/);
    expect(() => readPeftFiles({ 'adapter_config.json': new Uint8Array(0) }, 'upload')).toThrow(/upload: no adapter_model.safetensors/);
  });
});
