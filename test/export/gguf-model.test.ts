// The whole-model GGUF, read back with @huggingface/gguf (a maintained reader): the keys and
// tensors convert_hf_to_gguf.py writes, the vocabulary (tokens, types, merges, special ids), q8_0
// blocks against their definition, and the refusals: an architecture llama.cpp lacks, an attention
// shape its graph cannot take, a tokenizer it cannot reproduce. That llama.cpp runs these files
// is llama-cpp.test.ts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf, GGMLQuantizationType } from '@huggingface/gguf';
import { describe, expect, it } from 'vitest';
import { concatChunks, dequantizeQ8_0, quantizeQ8_0 } from '../../src/engine/export/gguf-file.js';
import { ggufArchitectureOf, ropePermuteRows } from '../../src/engine/export/gguf-arch.js';
import { assertGgufExportable, ggufModel, preTokenizerType } from '../../src/engine/export/gguf-model.js';
import { ggufLoraAdapter } from '../../src/engine/export/gguf.js';
import { adapterModules } from '../../src/engine/export/modules.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { LOCAL, TINY_GPT2, TINY_LLAMA, TINY_QWEN2 } from '../model/helpers.js';
import { randomAdapter } from './helpers.js';

async function parse(bytes: Uint8Array) {
  const file = join(mkdtempSync(join(tmpdir(), 'prefstudio-gguf-model-')), 'model.gguf');
  writeFileSync(file, bytes);
  return gguf(file, { allowLocalFile: true });
}

/** The same model with another family, as a loader that knew more families would give. */
const asFamily = (model: LoadedModel, family: string): LoadedModel => Object.create(model, { family: { value: family } }) as LoadedModel;

describe('merged GGUF of tiny-llama', () => {
  it('has the converter keys, the vocabulary and every weight (q and k permuted, the adapter merged)', async () => {
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const adapter = randomAdapter(model, { target_modules: ['q_proj', 'down_proj'] });
    const g = ggufModel(model, adapter, { type: 'f32' });
    const parsed = await parse(concatChunks(g));
    const md = parsed.metadata as unknown as Record<string, unknown>;
    expect(md['general.architecture']).toBe('llama');
    expect(md['general.type']).toBe('model');
    expect(md['general.file_type']).toBe(0);
    expect(md['llama.block_count']).toBe(2);
    expect(md['llama.attention.head_count']).toBe(4);
    expect(md['llama.attention.head_count_kv']).toBe(2);
    expect(md['llama.rope.dimension_count']).toBe(8);
    expect(md['llama.rope.freq_base']).toBe(50000);
    expect(md['llama.context_length']).toBe(64);
    expect(md['tokenizer.ggml.model']).toBe('gpt2');
    expect(md['tokenizer.ggml.pre']).toBe('gpt-2');
    const tokens = md['tokenizer.ggml.tokens'] as string[];
    const types = md['tokenizer.ggml.token_type'] as number[];
    expect(tokens.length).toBe(264);
    expect(tokens.slice(0, 3)).toEqual(['<pad>', '<s>', '</s>']);
    expect(types.slice(0, 4)).toEqual([3, 3, 3, 1]);
    expect(md['tokenizer.ggml.merges']).toEqual((model.tokenizer!.files.tokenizerJson.model as { merges: string[] }).merges);
    expect((md['tokenizer.ggml.merges'] as string[])[0]).toBe('Ġ t');
    expect(md['tokenizer.ggml.bos_token_id']).toBe(1);
    expect(md['tokenizer.ggml.eos_token_id']).toBe(2);
    expect(md['tokenizer.ggml.padding_token_id']).toBe(0);
    expect(md['tokenizer.ggml.add_bos_token']).toBe(true);
    expect(md['tokenizer.chat_template']).toBe(model.tokenizer!.chatTemplate);
    // Untied: output.weight is there; every layer's tensors; no LoRA tensors in a merged model.
    const names = parsed.tensorInfos.map((t) => t.name);
    for (const n of ['token_embd.weight', 'output_norm.weight', 'output.weight', 'blk.1.attn_q.weight', 'blk.1.attn_k.weight', 'blk.0.ffn_gate.weight', 'blk.0.attn_norm.weight', 'blk.0.ffn_norm.weight']) expect(names).toContain(n);
    expect(names.length).toBe(3 + 2 * 9);
    expect(g.merged.sort()).toEqual(['model.layers.0.mlp.down_proj.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.1.self_attn.q_proj.weight']);
    // k_proj unchanged by the adapter: its GGUF rows are the permuted HF rows.
    const k = parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_k.weight')!;
    expect(k.shape.map(Number)).toEqual([32, 16]);
    const bytes = concatChunks(g);
    const at = Number(parsed.tensorDataOffset + k.offset);
    const stored = new Float32Array(bytes.slice(at, at + 4 * 32 * 16).buffer);
    const hf = model.weight('model.layers.0.self_attn.k_proj.weight', 'f32').data as Float32Array;
    expect(stored).toEqual(ropePermuteRows(hf, 32, 2));
    expect(stored).not.toEqual(hf);
  });

  it('q8_0: matrices in blocks of 32 (rows of 48 fall back to f16), norms in f32', async () => {
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const g = ggufModel(model, null, { type: 'q8_0' });
    const parsed = await parse(concatChunks(g));
    const type = (n: string) => parsed.tensorInfos.find((t) => t.name === n)!.dtype;
    expect(type('blk.0.attn_q.weight')).toBe(GGMLQuantizationType.Q8_0);
    expect(type('blk.0.ffn_down.weight')).toBe(GGMLQuantizationType.F16); // intermediate 48
    expect(type('blk.0.attn_norm.weight')).toBe(GGMLQuantizationType.F32);
    expect(g.fallbacks).toEqual(['blk.0.ffn_down.weight (rows of 48): f16', 'blk.1.ffn_down.weight (rows of 48): f16']);
    expect((parsed.metadata as unknown as Record<string, unknown>)['general.file_type']).toBe(7);
  });
});

describe('GGUF building blocks', () => {
  it('q8_0 blocks: d = max|x| / 127 in f16, q = round(x / d) half away from zero, within d / 2', () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * (i < 32 ? 3 : 0.01));
    x[5] = -3.5; // the block's max |x|: q = -127
    const q = quantizeQ8_0(x);
    expect(q.byteLength).toBe(2 * 34);
    expect(new Int8Array(q.buffer, 2 + 5, 1)[0]).toBe(-127);
    const back = dequantizeQ8_0(q, 64);
    // Half a step, plus d's own f16 rounding (2^-11 relative) times |q| <= 127.
    for (let i = 0; i < 64; i++) expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(((i < 32 ? 3.5 : 0.01) / 127) * (0.5 + 127 * 2 ** -11));
    expect(dequantizeQ8_0(quantizeQ8_0(new Float32Array(32)), 32)).toEqual(new Float32Array(32));
  });

  it('rope permutation: within each head, the two halves interleave (LlamaModel.permute)', () => {
    // 2 heads of 4 rows, rows of 1: [a0 a1 a2 a3 | b0 b1 b2 b3] → [a0 a2 a1 a3 | b0 b2 b1 b3].
    expect([...ropePermuteRows(Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]), 1, 2)]).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
    expect(() => ropePermuteRows(new Float32Array(6), 1, 2)).toThrow(/even size/);
  });

  it('pre-tokenizers: byte-level GPT-2, Llama 3 and Qwen2 splits, SmolLM digits; others refused naming what was found', () => {
    expect(preTokenizerType({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true } })).toBe('gpt-2');
    const split = (Regex: string) => ({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex }, behavior: 'Isolated' }, { type: 'ByteLevel', use_regex: false }] } });
    expect(preTokenizerType(split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"))).toBe('llama-bpe');
    expect(preTokenizerType(split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"))).toBe('qwen2');
    expect(preTokenizerType({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'ByteLevel', use_regex: true }] } })).toBe('smollm');
    expect(() => preTokenizerType(split('\\w+'))).toThrow(/"\\\\w\+", which is not one llama.cpp implements/);
    expect(() => preTokenizerType({ pre_tokenizer: { type: 'Metaspace', replacement: '▁' } })).toThrow(/Metaspace.*SentencePiece-style tokenizers are not written yet/);
  });
});

describe('refusals', () => {
  it('an architecture llama.cpp lacks is refused naming it, for the whole model and the LoRA adapter', async () => {
    const model = asFamily(await loadModel(nodeDirSource(TINY_LLAMA)), 'rwkv7');
    expect(() => ggufArchitectureOf('rwkv7')).toThrow('GGUF export: llama.cpp has no architecture for "rwkv7" models');
    expect(() => assertGgufExportable(model)).toThrow(/"rwkv7"/);
    expect(() => ggufModel(model, null, { type: 'f16' })).toThrow(/"rwkv7"/);
    const adapter = randomAdapter(model);
    expect(() => ggufLoraAdapter(adapterModules(model, adapter), { family: model.family, config: model.config, alpha: 8, r: 4, useRslora: false })).toThrow(/"rwkv7"/);
  });

  it("qwen2 with heads × head_dim ≠ hidden is refused (llama.cpp's qwen2 graph cannot take it), naming the numbers", async () => {
    const model = await loadModel(nodeDirSource(TINY_QWEN2));
    expect(() => assertGgufExportable(model)).toThrow("llama.cpp's qwen2 needs heads × head_dim = hidden size, and this qwen2 model has 4 × 16 ≠ 32");
    // The one that fits exports.
    const ok = await loadModel(nodeDirSource(join(LOCAL, 'tiny-qwen2-mha')));
    expect(assertGgufExportable(ok).name).toBe('qwen2');
  });

  it('gpt2: no output tensor (tied), one qkv tensor per layer', async () => {
    const model = await loadModel(nodeDirSource(TINY_GPT2));
    const parsed = await parse(concatChunks(ggufModel(model, null, { type: 'f16' })));
    const names = parsed.tensorInfos.map((t) => t.name);
    expect(names).not.toContain('output.weight');
    expect(names).toContain('blk.0.attn_qkv.weight');
    expect(names).toContain('position_embd.weight');
    expect(parsed.tensorInfos.find((t) => t.name === 'position_embd.weight')!.dtype).toBe(GGMLQuantizationType.F32);
    expect(parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_qkv.weight')!.shape.map(Number)).toEqual([32, 96]);
    expect((parsed.metadata as unknown as Record<string, unknown>)['tokenizer.ggml.add_bos_token']).toBe(false);
  });
});
