// The loader on the two shared fixtures (onnxruntime-genai llama fp16 with external data and
// com.microsoft fused ops; onnxruntime.transformers GPT-2 with de-duplicated initializers) and the
// three torch-made ones (standard ops, anonymous initializers, transformers.js layout): the
// architecture, the dimensions, the parameter count, a complete canonical weight map with the
// right shapes, and weight values equal to what independent readers saw (PyTorch's state_dict and
// python onnx's numpy_helper, written at fixture time). Values are compared exactly: loading only
// moves float32 / float16 values, it never computes with them.
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { decodeFloats } from '../../src/engine/model/onnx.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { expectedWeightShapes, validateWeights, type TransformerConfig } from '../../src/engine/transformer/config.js';
import { GPT2_SHARED, LLAMA_FP16, LOCAL, TINY_GPT2, TINY_LLAMA, TINY_QWEN2, f32FromB64, readJsonFile, type ReferenceFile, type WeightsFile } from './helpers.js';

interface Case {
  name: string;
  dir: string;
  arch: 'llama' | 'gpt2';
  family: string;
  parameters: number;
  dtype: 'f32' | 'f16';
  config: Partial<TransformerConfig>;
  style: { norm: string; attention: string };
}

const llamaFp16Params = 32000 * 16 * 2 + 2 * (4 * 16 * 16 + 3 * 16 * 64 + 2 * 16) + 16;
const gpt2SharedParams = 1000 * 32 + 512 * 32 + 5 * (4 * 32 + 4 * 32 * 32 + 4 * 32 + 2 * 32 * 128 + 128 + 32) + 2 * 32;
const torchParams = (dir: string) => readJsonFile<ReferenceFile>(join(dir, 'reference.json')).parameters;

const CASES: Case[] = [
  {
    name: 'tiny-random-llama-fp16 (genai builder, fused ops, external data)', dir: LLAMA_FP16, arch: 'llama', family: 'llama', parameters: llamaFp16Params, dtype: 'f16',
    config: { vocabSize: 32000, hidden: 16, layers: 2, heads: 1, kvHeads: 1, headDim: 16, intermediate: 64, maxPositions: 2048, normEps: 1e-6, ropeTheta: 10000, rotaryDim: 16, ropeInterleaved: false, tiedEmbeddings: false, qkvBias: false, activation: 'silu', bosId: 0, eosIds: [1], padId: 2 },
    style: { norm: 'SkipSimplifiedLayerNormalization', attention: 'com.microsoft.MultiHeadAttention' },
  },
  {
    name: 'tiny-random-gpt2 (onnxruntime.transformers, fused ops, shared initializers)', dir: GPT2_SHARED, arch: 'gpt2', family: 'gpt2', parameters: gpt2SharedParams, dtype: 'f32',
    config: { vocabSize: 1000, hidden: 32, layers: 5, heads: 4, kvHeads: 4, headDim: 8, intermediate: 128, maxPositions: 512, normEps: 1e-5, tiedEmbeddings: true, activation: 'gelu_tanh', bosId: 98, eosIds: [98], padId: 98 },
    style: { norm: 'SkipLayerNormalization', attention: 'com.microsoft.Attention' },
  },
  {
    name: 'tiny-llama (torch export, standard ops, anonymous initializers)', dir: TINY_LLAMA, arch: 'llama', family: 'llama', parameters: torchParams(TINY_LLAMA), dtype: 'f32',
    config: { vocabSize: 264, hidden: 32, layers: 2, heads: 4, kvHeads: 2, headDim: 8, intermediate: 48, maxPositions: 64, normEps: 1e-5, ropeTheta: 50000, rotaryDim: 8, tiedEmbeddings: false, qkvBias: false, activation: 'silu', bosId: 1, eosIds: [2], padId: 0 },
    style: { norm: 'decomposed', attention: 'Softmax' },
  },
  {
    name: 'tiny-qwen2 (transformers.js layout, external data, q/k/v biases, tied)', dir: TINY_QWEN2, arch: 'llama', family: 'qwen2', parameters: torchParams(TINY_QWEN2), dtype: 'f32',
    config: { vocabSize: 264, hidden: 32, layers: 2, heads: 4, kvHeads: 1, headDim: 16, intermediate: 40, maxPositions: 64, normEps: 1e-6, ropeTheta: 1e6, rotaryDim: 16, tiedEmbeddings: true, qkvBias: true, eosIds: [2, 1] },
    style: { norm: 'decomposed', attention: 'Softmax' },
  },
  {
    name: 'tiny-gpt2 (torch export, Conv1D weights, decomposed LayerNorm)', dir: TINY_GPT2, arch: 'gpt2', family: 'gpt2', parameters: torchParams(TINY_GPT2), dtype: 'f32',
    config: { vocabSize: 264, hidden: 32, layers: 2, heads: 4, kvHeads: 4, headDim: 8, intermediate: 128, maxPositions: 64, normEps: 1e-5, tiedEmbeddings: true, activation: 'gelu_tanh', bosId: 1, eosIds: [2], padId: 0 },
    style: { norm: 'decomposed', attention: 'Softmax' },
  },
];

const models = new Map<string, LoadedModel>();
beforeAll(async () => {
  for (const c of CASES) models.set(c.dir, await loadModel(nodeDirSource(c.dir), { acknowledge: ['tokenizer-vocab-mismatch'] }));
});

describe.each(CASES)('$name', (c) => {
  it('is recognised with the right architecture, dimensions and parameter count', () => {
    const m = models.get(c.dir)!;
    expect(m.arch).toBe(c.arch);
    expect(m.family).toBe(c.family);
    expect(m.config).toMatchObject(c.config);
    expect(m.parameterCount).toBe(c.parameters);
    expect(m.graph.style).toEqual(c.style);
  });

  it('has a complete canonical weight map with HF shapes', () => {
    const m = models.get(c.dir)!;
    const expected = expectedWeightShapes(m.config);
    expect([...m.weights.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, shape] of expected) expect(m.weights.get(name)!.shape, name).toEqual(shape);
    for (const w of m.weights.values()) expect(w.dtype, w.name).toBe(c.dtype);
    const tw = m.transformerWeights();
    expect(() => validateWeights(m.config, tw)).not.toThrow();
    // 'stored' keeps f16 linear weights as f16; norms become f32.
    if (c.dtype === 'f16') {
      expect(tw.get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('f16');
      expect(tw.get('model.norm.weight')!.dtype).toBe('f32');
    }
  });
});

// ---- values against independent readers ----

/** Torch's tensor for a canonical name, in HF layout; GPT-2's Conv1D weights split/transposed here. */
function torchWeight(ref: WeightsFile, name: string, C: number): Float32Array {
  const direct = ref.hf[name];
  if (direct) return f32FromB64(direct.f32_b64);
  const m = /^(transformer\.h\.\d+)\.attn\.([qkv])_proj\.(weight|bias)$/.exec(name);
  if (m) {
    const src = ref.hf[`${m[1]}.attn.c_attn.${m[3]}`]!;
    const all = f32FromB64(src.f32_b64);
    const part = 'qkv'.indexOf(m[2]!);
    if (m[3] === 'bias') return all.slice(part * C, (part + 1) * C);
    // c_attn.weight is [C, 3C] (in, out): q_proj[r][c] = c_attn[c][part·C + r].
    const out = new Float32Array(C * C);
    for (let r = 0; r < C; r++) for (let k = 0; k < C; k++) out[r * C + k] = all[k * 3 * C + part * C + r]!;
    return out;
  }
  throw new Error(`no torch tensor for ${name}`);
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

describe.each([TINY_LLAMA, TINY_QWEN2, TINY_GPT2].map((d) => [basename(d), d]))('weights of %s', (_name, dir) => {
  it('equal PyTorch state_dict tensors by Hugging Face name', () => {
    const m = models.get(dir)!;
    const ref = readJsonFile<WeightsFile>(join(dir, 'weights.json'));
    for (const name of m.weights.keys()) {
      let want = torchWeight(ref, name, m.config.hidden);
      const w = m.weights.get(name)!;
      // GPT-2's Conv1D c_proj / c_fc are [in, out] in torch too; HF layout is [out, in].
      if (/\.(c_proj|c_fc)\.weight$/.test(name)) want = transpose(want, w.shape[1]!, w.shape[0]!);
      expect(Array.from(m.weight(name, 'f32').data), name).toEqual(Array.from(want));
    }
  });

  it('read as stored equal python onnx numpy_helper, initializer by initializer', () => {
    const m = models.get(dir)!;
    const ref = readJsonFile<WeightsFile>(join(dir, 'weights.json'));
    const seen = new Set<string>();
    for (const w of m.weights.values()) {
      if (seen.has(w.source)) continue;
      seen.add(w.source);
      const want = ref.onnx[w.source];
      expect(want, w.source).toBeDefined();
      expect(w.tensor.dims).toEqual(want!.dims);
      expect(Array.from(decodeFloats(w.tensor.dtype, m.storedBytes(w.name)))).toEqual(Array.from(f32FromB64(want!.f32_b64)));
    }
    // Linear weights are found by tracing, whatever their names: the llama exports keep them anonymous.
    if (m.arch === 'llama') expect(m.weights.get('model.layers.1.mlp.down_proj.weight')!.source).toMatch(/^onnx::MatMul_\d+$/);
  });
});

describe('shared fixtures against numpy_helper (shared-weights.json)', () => {
  const ref = readJsonFile<Record<string, Record<string, { dims: number[]; sum: number; sumsq: number; first: number[]; f32_b64?: string }>>>(join(LOCAL, 'shared-weights.json'));
  it.each([['tiny-random-llama-fp16', LLAMA_FP16], ['tiny-random-gpt2', GPT2_SHARED]])('%s: every stored tensor read matches', (key, dir) => {
    const m = models.get(dir)!;
    const seen = new Set<string>();
    for (const w of m.weights.values()) {
      if (seen.has(w.source)) continue;
      seen.add(w.source);
      const want = ref[key]![w.source]!;
      expect(want, w.source).toBeDefined();
      expect(w.tensor.dims).toEqual(want.dims);
      const got = decodeFloats(w.tensor.dtype, m.storedBytes(w.name));
      expect(Array.from(got.subarray(0, 8))).toEqual(want.first);
      if (want.f32_b64) expect(Array.from(got)).toEqual(Array.from(f32FromB64(want.f32_b64)));
      let sum = 0, sumsq = 0;
      for (const v of got) {
        sum += v;
        sumsq += v * v;
      }
      // float64 sums in a different order than numpy's pairwise sum: agree to ~1e-12 relative.
      expect(Math.abs(sum - want.sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, want.sumsq));
      expect(Math.abs(sumsq - want.sumsq)).toBeLessThanOrEqual(1e-9 * Math.max(1, want.sumsq));
    }
  });

  it('genai [in, out] weights come out transposed to HF [out, in]', () => {
    const m = models.get(LLAMA_FP16)!;
    const q = m.weights.get('model.layers.1.self_attn.q_proj.weight')!;
    expect(q.source).toBe('model.layers.1.attn.q_proj.MatMul.weight');
    expect(q.transposed).toBe(true);
    const stored = f32FromB64(ref['tiny-random-llama-fp16']!['model.layers.1.attn.q_proj.MatMul.weight']!.f32_b64!); // [in, out]
    expect(Array.from(m.weight(q.name, 'f32').data)).toEqual(Array.from(transpose(stored, 16, 16)));
    const down = m.weights.get('model.layers.0.mlp.down_proj.weight')!;
    expect(down.shape).toEqual([16, 64]);
    expect(down.source).toBe('model.layers.0.mlp.down_proj.MatMul.weight');
    expect(m.weights.get('lm_head.weight')!.source).toBe('lm_head.MatMul.weight');
    for (const w of m.weights.values()) if (w.shape.length === 2 && w.name !== 'model.embed_tokens.weight') expect(w.transposed, w.name).toBe(true);
  });

  it('GPT-2: de-duplicated initializers serve every layer that shares them, fused-op biases included', () => {
    const m = models.get(GPT2_SHARED)!;
    for (let l = 0; l < 5; l++) {
      expect(m.weights.get(`transformer.h.${l}.ln_2.weight`)!.source).toBe('transformer.h.0.ln_1.weight');
      // Attention's packed bias input, split in three.
      expect(m.weights.get(`transformer.h.${l}.attn.k_proj.bias`)!).toMatchObject({ source: 'transformer.h.0.attn.c_attn.bias', rows: { start: 32, count: 32 } });
      // FastGelu's bias input is c_fc's bias; SkipLayerNormalization's bias input is c_proj's.
      expect(m.weights.get(`transformer.h.${l}.mlp.c_fc.bias`)!.source).toBe('transformer.h.0.mlp.c_fc.bias');
      expect(m.weights.get(`transformer.h.${l}.mlp.c_proj.bias`)!.source).toBe('transformer.h.0.ln_1.bias');
      expect(m.weights.get(`transformer.h.${l}.attn.q_proj.weight`)!.source).toBe(`transformer.h.${l}.attn.c_attn.weight`);
    }
    expect(m.weights.get('transformer.ln_f.weight')!.source).toBe('transformer.h.0.ln_1.weight');
    expect(m.weights.get('transformer.h.0.ln_1.weight')!.sharedWith).toContain('transformer.ln_f.weight');
    // The exporter's separate transposed LM head equals wte, so the model is tied (no lm_head).
    expect(m.config.tiedEmbeddings).toBe(true);
  });
});

describe('no needless copies', () => {
  it('embedded weights are views into the .onnx bytes', () => {
    const m = models.get(TINY_GPT2)!;
    for (const w of m.weights.values()) expect(m.storedBytes(w.name).buffer, w.name).toBe(m.onnx.modelBytes.buffer);
  });

  it('external weights are views into the data file, read once', () => {
    const m = models.get(TINY_QWEN2)!;
    const data = m.externalData();
    expect(data.map((d) => d.path)).toEqual(['model.onnx_data']);
    for (const w of m.weights.values()) expect(m.storedBytes(w.name).buffer, w.name).toBe(data[0]!.data.buffer);
  });

  it('an f32 weight already in HF layout is handed out without a copy when aligned', () => {
    const m = models.get(TINY_QWEN2)!;
    const stored = m.storedBytes('model.embed_tokens.weight');
    const t = m.weight('model.embed_tokens.weight');
    expect(t.data.buffer === stored.buffer).toBe(stored.byteOffset % 4 === 0);
    const f16 = models.get(LLAMA_FP16)!;
    const e = f16.weight('model.embed_tokens.weight');
    expect(e.dtype).toBe('f16');
    expect(e.data.buffer).toBe(f16.storedBytes('model.embed_tokens.weight').buffer);
  });
});
