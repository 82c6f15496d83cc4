// GGUF LoRA adapters, parsed back with @huggingface/gguf (a maintained reader): the keys
// convert_lora_to_gguf.py writes, <gguf name>.weight.lora_a / .lora_b for every module with
// llama.cpp's dims (a: [in, r], b: [r, out], fastest first) and the values of A and B, alignment,
// and llama.cpp's scale alpha / r equal to PEFT's (rsLoRA folded into alpha).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf, GGMLQuantizationType } from '@huggingface/gguf';
import { describe, expect, it } from 'vitest';
import { fromF16Array } from '../../src/engine/f16.js';
import { ggufLoraAdapter, ggufLoraB } from '../../src/engine/export/gguf.js';
import { adapterModules, adapterScale } from '../../src/engine/export/modules.js';
import { readPeftFiles } from '../../src/engine/export/peft.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { LOCAL, TINY_GPT2, TINY_LLAMA } from '../model/helpers.js';
import { randomAdapter } from './helpers.js';
import { METHODS } from '../../src/engine/methods/registry.js';

const FIXTURES = new URL('../fixtures/export/', import.meta.url).pathname;

const maxDiff = (x: Float32Array, y: Float32Array) => x.reduce((d, v, i) => Math.max(d, Math.abs(v - y[i]!)), 0);

describe.each([
  { dir: TINY_LLAMA, arch: 'llama', adapter: 'tiny-llama', dtype: 'f32' as const },
  { dir: TINY_GPT2, arch: 'gpt2', adapter: 'tiny-gpt2', dtype: 'f32' as const },
  // Qwen2 as llama.cpp's qwen2 takes it (heads × head_dim = hidden; gguf-model.test.ts: the refusal).
  { dir: join(LOCAL, 'tiny-qwen2-mha'), arch: 'qwen2', adapter: null, dtype: 'f16' as const },
])('$arch ($dtype)', ({ dir, arch, adapter: fixture, dtype }) => {
  it('parses with @huggingface/gguf with the expected keys and tensors', async () => {
    const model = await loadModel(nodeDirSource(dir));
    const adapter = fixture
      ? readPeftFiles(Object.fromEntries(['adapter_config.json', 'adapter_model.safetensors'].map((f) => [f, new Uint8Array(readFileSync(join(FIXTURES, `${fixture}-adapter`, f)))])))
      : randomAdapter(model, { r: 3, lora_alpha: 6, use_rslora: true });
    const modules = adapterModules(model, adapter);
    const r = adapter.lora.r;
    const method = arch === 'gpt2' ? 'kto' : 'cdpo';
    const bytes = ggufLoraAdapter(modules, { family: model.family, config: model.config, alpha: adapter.lora.lora_alpha, r, useRslora: adapter.lora.use_rslora, dtype, method });
    const file = join(mkdtempSync(join(tmpdir(), 'prefstudio-gguf-')), 'adapter.gguf');
    writeFileSync(file, bytes);

    const parsed = await gguf(file, { allowLocalFile: true });
    const md = parsed.metadata as unknown as Record<string, unknown>;
    expect(md['general.architecture']).toBe(arch);
    expect(md['general.type']).toBe('adapter');
    expect(md['adapter.type']).toBe('lora');
    expect(md['general.file_type']).toBe(dtype === 'f32' ? 0 : 1);
    // The method it was trained with, named as the registry names it.
    expect(md['general.description']).toBe(`LoRA adapter trained with ${METHODS[method].label} in PrefStudio: ${METHODS[method].summary}`);
    // llama.cpp scales by alpha / r (r from the tensors): that must be PEFT's scale.
    expect((md['adapter.lora.alpha'] as number) / r).toBeCloseTo(adapterScale(adapter.lora), 5);

    const names = modules.flatMap((m) => [`${m.slot.gguf}.weight.lora_a`, `${m.slot.gguf}.weight.lora_b`]);
    expect(parsed.tensorInfos.map((t) => t.name)).toEqual(names);
    if (arch === 'gpt2') expect(names).toContain('blk.0.attn_qkv.weight.lora_a');
    else expect(names).toContain('blk.1.attn_v.weight.lora_b');
    for (const m of modules) {
      const a = parsed.tensorInfos.find((t) => t.name === `${m.slot.gguf}.weight.lora_a`)!;
      const b = parsed.tensorInfos.find((t) => t.name === `${m.slot.gguf}.weight.lora_b`)!;
      // The base tensor in GGUF has ne = [in, out]; llama.cpp checks a.ne[0] == in, b.ne[1] == out.
      expect(a.shape.map(Number)).toEqual([m.slot.inFeatures, r]);
      expect(b.shape.map(Number)).toEqual([r, m.slot.outFeatures]);
      // B as llama.cpp wants it: q_proj / k_proj rows permuted for llama (gguf-arch.ts; proven
      // against llama.cpp itself in llama-cpp.test.ts), other modules and families as PEFT's.
      const wantB = ggufLoraB(m, model.family, model.config, r);
      const permuted = arch === 'llama' && /\.(q|k)_proj$/.test(m.slot.path);
      expect(wantB === m.b).toBe(!permuted);
      if (permuted) expect(maxDiff(wantB, m.b)).toBeGreaterThan(0);
      for (const [t, want] of [[a, m.a], [b, wantB]] as const) {
        expect(t.dtype).toBe(dtype === 'f32' ? GGMLQuantizationType.F32 : GGMLQuantizationType.F16);
        const at = Number(parsed.tensorDataOffset + t.offset);
        expect(at % 32).toBe(0);
        const n = want.length;
        const got = dtype === 'f32'
          ? new Float32Array(bytes.slice(at, at + 4 * n).buffer)
          : fromF16Array(new Uint16Array(bytes.slice(at, at + 2 * n).buffer));
        if (dtype === 'f32') expect(got).toEqual(want);
        else for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(Math.abs(want[i]!) * 2 ** -11 + 1e-7);
      }
    }
  }, 30_000);
});
