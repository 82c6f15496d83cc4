// Broken and unsupported models give a ModelLoadError with a stable code and a message that names
// what and where; nothing crashes, and the same caller can load another model right after.
// Broken variants are made in memory from the fixtures (truncated bytes, a removed file, a
// rewritten node) with onnx-proto.
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isModelLoadError, ModelLoadError, type ModelErrorCode } from '../../src/engine/model/errors.js';
import { loadModel } from '../../src/engine/model/load.js';
import { assertFits, checkFits, estimateMemory } from '../../src/engine/model/memory.js';
import { memorySource, type ModelSource } from '../../src/engine/model/source.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { readFileSync } from 'node:fs';
import { GPT2_SHARED, LLAMA_FP16, LOCAL, TINY_GPT2, TINY_LLAMA, TINY_QWEN2, decodeModel, encodeModel, fileBytes, folderFiles, onnx, rewrite, variant } from './helpers.js';

async function loadError(source: ModelSource, options = {}): Promise<ModelLoadError> {
  try {
    await loadModel(source, options);
  } catch (e) {
    if (isModelLoadError(e)) return e;
    throw e;
  }
  throw new Error('expected loading to fail');
}

function expectError(e: ModelLoadError, code: ModelErrorCode, ...parts: (string | RegExp)[]): void {
  expect(e.code, e.message).toBe(code);
  for (const p of parts) expect(e.message).toMatch(p);
}

const llamaOnnx = () => fileBytes(`${TINY_LLAMA}/model.onnx`);

describe('truncated or corrupt .onnx', () => {
  const full = fileBytes(`${TINY_GPT2}/model.onnx`);
  it.each([100, Math.floor(full.length / 2), full.length - 1])('cut to %i bytes: onnx-truncated, naming the file', async (n) => {
    const e = await loadError(variant(TINY_GPT2, { 'model.onnx': full.slice(0, n) }));
    expectError(e, 'onnx-truncated', 'model.onnx', /ends early|truncated/);
  });

  it('cut right after the graph (which decodes cleanly) is still reported as truncated', async () => {
    // Find the longest prefix protobuf decodes without error: the file minus its opset_import.
    let cut = full.length - 1;
    for (; cut > full.length - 64; cut--) {
      try {
        decodeModel(full.subarray(0, cut));
        break;
      } catch {
        /* keep cutting */
      }
    }
    expect(decodeModel(full.subarray(0, cut)).opsetImport).toHaveLength(0);
    const e = await loadError(variant(TINY_GPT2, { 'model.onnx': full.slice(0, cut) }));
    expectError(e, 'onnx-truncated', 'no opset_import');
  });

  it('a file that is not ONNX at all: onnx-invalid', async () => {
    const e = await loadError(variant(TINY_GPT2, { 'model.onnx': '<html><body>404 Not Found</body></html>' }));
    expect(['onnx-invalid', 'onnx-truncated']).toContain(e.code);
    expect(e.message).toMatch('model.onnx');
  });

  it('a node reading a tensor nothing defines: onnx-invalid naming node and tensor', async () => {
    const bytes = rewrite(llamaOnnx(), (m) => {
      const n = m.graph!.node!.find((x) => x.opType === 'Softmax')!;
      n.input![0] = 'nowhere';
    });
    const e = await loadError(variant(TINY_LLAMA, { 'model.onnx': bytes }));
    expectError(e, 'onnx-invalid', '"nowhere"', 'Softmax');
  });
});

describe('external data', () => {
  const data = fileBytes(`${LLAMA_FP16}/model.onnx.data`);
  it('missing model.onnx.data: names the file, a tensor and the size needed', async () => {
    const e = await loadError(variant(LLAMA_FP16, { 'model.onnx.data': undefined }));
    expectError(e, 'external-data-missing', '"model.onnx.data"', 'missing', '"model.embed_tokens.weight"', String(data.length));
    expect(e.details).toMatchObject({ file: 'model.onnx.data', expected: data.length });
  });

  it('truncated model.onnx.data: names the file, the first tensor cut off, expected and actual size', async () => {
    const e = await loadError(variant(LLAMA_FP16, { 'model.onnx.data': data.slice(0, 2_000_000) }));
    // lm_head.MatMul.weight sits at 1106080..2130080, the end of the file.
    expectError(e, 'external-data-truncated', '"model.onnx.data"', '"lm_head.MatMul.weight"', '2000000', '2130080', '1106080');
    expect(e.details).toMatchObject({ file: 'model.onnx.data', tensor: 'lm_head.MatMul.weight', expected: 2130080, actual: 2000000 });
  });

  it('the transformers.js layout resolves data beside onnx/model.onnx and reports it there', async () => {
    const e = await loadError(variant(TINY_QWEN2, { 'onnx/model.onnx_data': undefined }));
    expectError(e, 'external-data-missing', '"onnx/model.onnx_data"');
  });

  it('an external location outside the model folder is refused', async () => {
    const bytes = rewrite(fileBytes(`${TINY_QWEN2}/onnx/model.onnx`), (m) => {
      m.graph!.initializer![0]!.externalData!.find((kv) => kv.key === 'location')!.value = '../../secret.bin';
    });
    const e = await loadError(variant(TINY_QWEN2, { 'onnx/model.onnx': bytes }));
    expectError(e, 'onnx-invalid', 'outside the model folder');
  });
});

describe('operators', () => {
  it('an unknown operator is named with its domain and node', async () => {
    const bytes = rewrite(llamaOnnx(), (m) => {
      const n = m.graph!.node!.find((x) => x.opType === 'Sigmoid')!;
      n.opType = 'MysteryOp';
      n.domain = 'com.example';
      n.name = 'the_mystery';
    });
    const e = await loadError(variant(TINY_LLAMA, { 'model.onnx': bytes }));
    expectError(e, 'unknown-op', 'com.example.MysteryOp', '"the_mystery"');
  });

  it('an unknown standard op too (LSTM)', async () => {
    const bytes = rewrite(llamaOnnx(), (m) => {
      m.graph!.node!.find((x) => x.opType === 'Softmax')!.opType = 'LSTM';
    });
    expectError(await loadError(variant(TINY_LLAMA, { 'model.onnx': bytes })), 'unknown-op', 'LSTM');
  });

  /** Replaces the first weight MatMul with com.microsoft MatMulNBits (an int4 export's op). */
  const int4 = () => rewrite(llamaOnnx(), (m) => {
    const n = m.graph!.node!.find((x) => x.opType === 'MatMul' && x.input![1]!.startsWith('onnx::MatMul'))!;
    n.opType = 'MatMulNBits';
    n.domain = 'com.microsoft';
  });

  it('a MatMulNBits without the attributes its spec requires: refused, naming the node and the attribute', async () => {
    // Well-formed MatMulNBits files load (test/model/quantized.test.ts); this one lacks K, N, block_size.
    const e = await loadError(variant(TINY_LLAMA, { 'model.onnx': int4() }));
    expectError(e, 'quantized', 'com.microsoft.MatMulNBits', 'model.onnx', 'has no K attribute');
  });

  it('int8 DequantizeLinear in front of a weight with per-input-row scales (axis 0): refused, naming the node', async () => {
    // Per-tensor and per-column (axis 1) ones load (test/model/quantized.test.ts).
    const bytes = rewrite(llamaOnnx(), (m) => {
      const g = m.graph!;
      const mm = g.node!.find((x) => x.opType === 'MatMul' && x.input![1]!.startsWith('onnx::MatMul'))!;
      const w = g.initializer!.find((t) => t.name === mm.input![1])!;
      const K = Number(w.dims![0]);
      const q = onnx.TensorProto.create({ name: 'w_q', dims: w.dims, dataType: onnx.TensorProto.DataType.INT8, rawData: new Uint8Array(w.rawData!.length / 4) });
      const s = onnx.TensorProto.create({ name: 'w_scale', dims: [K], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(new Float32Array(K).fill(0.01).buffer) });
      g.initializer!.push(q, s);
      g.node!.unshift(onnx.NodeProto.create({ opType: 'DequantizeLinear', input: ['w_q', 'w_scale'], output: ['w_deq'], name: 'dq0', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] }));
      mm.input![1] = 'w_deq';
    });
    expectError(await loadError(variant(TINY_LLAMA, { 'model.onnx': bytes })), 'quantized', 'model.onnx: node "dq0" (DequantizeLinear)', 'along axis 0');
  });

  it('a folder holding only onnx/model_quantized.onnx picks it and refuses it', async () => {
    const files = folderFiles(TINY_LLAMA);
    delete files['model.onnx'];
    files['onnx/model_quantized.onnx'] = int4();
    const e = await loadError(memorySource(files));
    expectError(e, 'quantized', 'onnx/model_quantized.onnx');
  });
});

describe('architecture', () => {
  const config = (patch: Record<string, unknown>) => {
    const c = JSON.parse(new TextDecoder().decode(fileBytes(`${TINY_LLAMA}/config.json`))) as Record<string, unknown>;
    return JSON.stringify({ ...c, ...patch });
  };
  it('an unknown model_type is named', async () => {
    const e = await loadError(variant(TINY_LLAMA, { 'config.json': config({ model_type: 'falcon' }) }));
    expectError(e, 'unknown-architecture', '"falcon"', 'llama', 'gemma2', 'phi3', 'gpt2');
  });

  it('a family whose structure the graph lacks is refused, naming what differs', async () => {
    // Gemma 2 puts norms before and after each branch; the Llama graph has them before only.
    const gemma = await loadError(variant(TINY_LLAMA, { 'config.json': config({ model_type: 'gemma2', hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: 8, sliding_window: 4 }) }));
    expectError(gemma, 'unrecognised-graph', 'gemma2', 'sandwich', "'pre'");
    // Qwen3 normalizes q and k; the Llama graph does not.
    const qwen3 = await loadError(variant(TINY_LLAMA, { 'config.json': config({ model_type: 'qwen3' }) }));
    expectError(qwen3, 'unrecognised-graph', 'qwen3', "q/k norms are 'head'", '0 q/k norm');
    // A Gemma 3 graph without its config.json: the graph cannot tell its soft-caps, windows, norm offsets.
    const arch = `${LOCAL}arch-gemma3`;
    const noConfig = await loadError(variant(arch, { 'config.json': undefined }));
    expectError(noConfig, 'unknown-architecture', 'q/k norms', 'config.json');
    // A setting this engine does not run.
    const gelu = await loadError(variant(arch, { 'config.json': JSON.stringify({ ...JSON.parse(readFileSync(`${arch}/config.json`, 'utf8')), hidden_activation: 'gelu' }) }));
    expectError(gelu, 'unknown-architecture', 'hidden_activation "gelu"', 'gelu_pytorch_tanh');
  });

  it('a config that contradicts the graph is refused', async () => {
    const e = await loadError(variant(TINY_LLAMA, { 'config.json': config({ model_type: 'gpt2' }) }));
    expectError(e, 'unknown-architecture', 'gpt2', 'RMSNorm');
  });

  it('head counts that do not divide the projections are refused', async () => {
    const e = await loadError(variant(TINY_LLAMA, { 'config.json': config({ num_attention_heads: 5, head_dim: undefined }) }));
    expectError(e, 'config-invalid', 'heads');
  });

  it('config.json that is not JSON: config-invalid naming the file', async () => {
    expectError(await loadError(variant(TINY_LLAMA, { 'config.json': '{"model_type": ' })), 'config-invalid', 'config.json');
  });

  it('no .onnx in the folder: no-model-file', async () => {
    expectError(await loadError(memorySource({ 'config.json': '{}' }, 'empty folder')), 'no-model-file', 'empty folder', 'model.onnx');
  });

  it('genai_config.json naming a decoder that is not there: file-missing', async () => {
    const files = folderFiles(LLAMA_FP16);
    files['genai_config.json'] = new TextEncoder().encode(JSON.stringify({ model: { type: 'llama', decoder: { filename: 'decoder.onnx' } } }));
    expectError(await loadError(memorySource(files)), 'file-missing', '"decoder.onnx"');
  });
});

describe('the GPT-2 fixture: tokenizer ids up to 50294, model vocabulary 1000', () => {
  it('refuses by default with both numbers and the way to acknowledge', async () => {
    const e = await loadError(nodeDirSource(GPT2_SHARED));
    expectError(e, 'tokenizer-vocab-mismatch', '50294', '1000', "acknowledge: ['tokenizer-vocab-mismatch']");
    expect(e.details).toMatchObject({ vocabSize: 1000, tokenizerMaxId: 50294 });
  });

  it('loads when acknowledged, keeping the warning, and stays usable', async () => {
    const m = await loadModel(nodeDirSource(GPT2_SHARED), { acknowledge: ['tokenizer-vocab-mismatch'] });
    expect(m.warnings.map((w) => w.code)).toContain('tokenizer-vocab-mismatch');
    expect(m.tokenizer!.maxId).toBe(50294);
    expect(m.transformerWeights().size).toBe(m.weights.size);
  });
});

describe('models too large for the adapter', () => {
  const MiB = 1024 * 1024;
  const limits = { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB };

  it('checkFits says how much is needed and how much is available, for f32 and f16 weights', async () => {
    const m = await loadModel(nodeDirSource(LLAMA_FP16), { readWeights: false });
    const est = m.memory;
    // Embeddings and linear weights: 1,024,000 + 1,024,000 + 2·(4·256 + 3·1024) elements; 5 norms of 16.
    const linear = 2 * 512_000 + 2 * (4 * 256 + 3 * 1024);
    expect(est.bytes.f32).toBe(4 * (linear + 5 * 16));
    expect(est.bytes.f16).toBe(2 * linear + 4 * 5 * 16);
    // The embedding and LM-head tables are split across buffers when too large: not the largest that must fit one.
    expect(est.largest.name).toMatch(/^model\.layers\.\d+\./);
    const r = checkFits(est, limits, 3 * MiB, { dtype: 'f32' });
    expect(r).toMatchObject({ ok: false, neededBytes: est.bytes.f32, budgetBytes: 3 * MiB });
    expect(r.problems[0]).toMatch(/needs 3\.94 MiB .* but 3\.00 MiB is available \(with f16 weights it would need 1\.97 MiB, which fits\)/);
    expect(checkFits(est, limits, 3 * MiB, { dtype: 'f16' }).ok).toBe(true);
    expect(checkFits(est, limits, 3 * MiB, { dtype: 'f16', extraBytes: 2 * MiB }).ok).toBe(false);
  });

  it('an embedding larger than one storage binding is split, not refused (Qwen2.5-0.5B in f32)', () => {
    const est = estimateMemory([{ name: 'model.embed_tokens.weight', shape: [151936, 896] }, { name: 'model.norm.weight', shape: [896] }]);
    expect(est.bytes.f32).toBe(4 * (151936 * 896 + 896));
    expect(assertFits(est, limits, 4096 * MiB, { dtype: 'f32' }).ok).toBe(true);
  });

  it('another tensor larger than one storage binding is named', () => {
    const est = estimateMemory([{ name: 'model.layers.0.mlp.down_proj.weight', shape: [151936, 896] }, { name: 'model.norm.weight', shape: [896] }]);
    const e = (() => {
      try {
        assertFits(est, limits, 4096 * MiB, { dtype: 'f32' });
      } catch (x) {
        return x as ModelLoadError;
      }
      throw new Error('expected model-too-large');
    })();
    expectError(e, 'model-too-large', 'model.layers.0.mlp.down_proj.weight [151936, 896]', '519 MiB', '128 MiB', 'maxStorageBufferBindingSize');
  });

  it('loadModel refuses before reading the weights', async () => {
    const src = nodeDirSource(LLAMA_FP16);
    const whole: string[] = [];
    const watched: ModelSource = { ...src, read: async (p) => (whole.push(p), src.read(p)) };
    const e = await loadError(watched, { fit: { limits: { maxStorageBufferBindingSize: MiB, maxBufferSize: 256 * MiB }, budgetBytes: 2 * MiB, dtype: 'f32' } });
    expectError(e, 'model-too-large', 'needs 3.94 MiB', '2.00 MiB is available');
    expect(whole).not.toContain('model.onnx.data');
  });
});

it('after a failed load the caller can load again', async () => {
  await loadError(variant(TINY_GPT2, { 'model.onnx': fileBytes(`${TINY_GPT2}/model.onnx`).slice(0, 1000) }));
  const m = await loadModel(nodeDirSource(TINY_GPT2));
  expect(m.arch).toBe('gpt2');
  expect(basename(m.source.label)).toBe('tiny-gpt2');
  expect(encodeModel(decodeModel(m.onnx.modelBytes)).length).toBeGreaterThan(0);
});
