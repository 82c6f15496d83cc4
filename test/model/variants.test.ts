// Tracing finds weights by how the graph uses them, not by their names or the file's node order:
// rewritten copies of the torch fixtures (every initializer renamed, nodes written backwards,
// weights behind Transpose or in a Gemm, bf16 weights) must give the same canonical weights.
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32 } from '../../src/engine/f16.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { GPT2_SHARED, LLAMA_FP16, TINY_GPT2, TINY_LLAMA, fileBytes, onnx, rewrite, variant, type ModelProto, type NodeProto, type TensorProto as Init } from './helpers.js';

function f32Of(t: Init): Float32Array {
  return new Float32Array(new Uint8Array(t.rawData).buffer);
}

function sameWeights(a: LoadedModel, b: LoadedModel, sameConfig = true): void {
  if (sameConfig) expect(b.config).toEqual(a.config);
  expect([...b.weights.keys()]).toEqual([...a.weights.keys()]);
  for (const name of a.weights.keys()) expect(Array.from(b.weight(name, 'f32').data), name).toEqual(Array.from(a.weight(name, 'f32').data));
}

describe.each([TINY_LLAMA, TINY_GPT2].map((d) => [basename(d), d]))('%s', (_name, dir) => {
  const bytes = fileBytes(`${dir}/model.onnx`);

  it('every initializer renamed: same canonical weights', async () => {
    const renamed = rewrite(bytes, (m) => {
      const names = new Map<string, string>();
      m.graph!.initializer!.forEach((t, i) => {
        names.set(t.name!, `w${i}`);
        t.name = `w${i}`;
      });
      for (const n of m.graph!.node!) n.input = n.input!.map((x) => names.get(x) ?? x);
    });
    const a = await loadModel(nodeDirSource(dir));
    const b = await loadModel(variant(dir, { 'model.onnx': renamed }));
    sameWeights(a, b);
    expect(new Set([...b.weights.values()].map((w) => w.source.replace(/\d+$/, '')))).toEqual(new Set(['w']));
  });

  it('nodes written in reverse order: sorted and traced the same', async () => {
    const reversed = rewrite(bytes, (m) => {
      m.graph!.node!.reverse();
    });
    sameWeights(await loadModel(nodeDirSource(dir)), await loadModel(variant(dir, { 'model.onnx': reversed })));
  });
});

/** Rewrites each weight MatMul of tiny-llama, with the stored [in, out] weight `w`, via `edit`. */
function eachLinear(m: ModelProto, edit: (node: NodeProto, w: Init, i: number) => void): void {
  const g = m.graph!;
  const inits = new Map(g.initializer!.map((t) => [t.name!, t as Init]));
  g.node!.filter((n) => n.opType === 'MatMul' && inits.has(n.input![1]!)).forEach((n, i) => edit(n, inits.get(n.input![1]!)!, i));
}

function transposed(w: Init): Float32Array {
  const [a, b] = w.dims as number[] as [number, number];
  const v = f32Of(w);
  const out = new Float32Array(v.length);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = v[i * b + j]!;
  return out;
}

describe('tiny-llama linear forms', () => {
  const bytes = fileBytes(`${TINY_LLAMA}/model.onnx`);

  it('MatMul(x, Transpose(W [out, in])) and Gemm(x, W [out, in], transB = 1): weights found untransposed', async () => {
    const edited = rewrite(bytes, (m) => {
      const g = m.graph!;
      eachLinear(m, (n, w, i) => {
        const hf = onnx.TensorProto.create({ name: `hf_${i}`, dims: [w.dims[1]!, w.dims[0]!], dataType: 1, rawData: new Uint8Array(transposed(w).buffer) });
        g.initializer!.push(hf);
        if (i % 2 === 0) {
          g.node!.unshift(onnx.NodeProto.create({ opType: 'Transpose', input: [`hf_${i}`], output: [`hf_${i}_t`], attribute: [onnx.AttributeProto.create({ name: 'perm', type: 7, ints: [1, 0] })] }));
          n.input![1] = `hf_${i}_t`;
        } else {
          n.opType = 'Gemm';
          n.input![1] = `hf_${i}`;
          n.attribute = [onnx.AttributeProto.create({ name: 'transB', type: 2, i: 1 })];
        }
      });
    });
    const a = await loadModel(nodeDirSource(TINY_LLAMA));
    const b = await loadModel(variant(TINY_LLAMA, { 'model.onnx': edited }));
    sameWeights(a, b);
    const q = b.weights.get('model.layers.0.self_attn.q_proj.weight')!;
    expect(q.transposed).toBe(false);
    expect(q.source).toMatch(/^hf_\d+$/);
    // Untransposed f32 weights come out as views of the stored bytes when 4-byte aligned.
    const stored = b.storedBytes(q.name);
    expect(b.weight(q.name).data.buffer === stored.buffer).toBe(stored.byteOffset % 4 === 0);
  });

  it('bf16 weights: read as bf16, widened exactly to f32', async () => {
    const edited = rewrite(bytes, (m) => {
      for (const t of m.graph!.initializer!) {
        if (t.dataType !== 1) continue;
        const u32 = new Uint32Array(new Uint8Array(t.rawData!).buffer);
        t.rawData = new Uint8Array(Uint16Array.from(u32, (x) => x >>> 16).buffer); // truncation to bf16
        t.dataType = onnx.TensorProto.DataType.BFLOAT16;
      }
    });
    const a = await loadModel(nodeDirSource(TINY_LLAMA));
    const b = await loadModel(variant(TINY_LLAMA, { 'model.onnx': edited }));
    expect(b.config).toEqual(a.config);
    for (const [name, w] of b.weights) {
      expect(w.dtype, name).toBe('bf16');
      const want = Array.from(a.weight(name, 'f32').data, (x) => bf16BitsToF32(new Uint32Array(new Float32Array([x]).buffer)[0]! >>> 16));
      expect(Array.from(b.weight(name, 'f32').data), name).toEqual(want);
    }
    // The engine has no bf16: 'stored' gives f32.
    expect(b.transformerWeights().get('model.embed_tokens.weight')!.dtype).toBe('f32');
  });
});

describe('genai llama rewritten around com.microsoft GroupQueryAttention', () => {
  const bytes = fileBytes(`${LLAMA_FP16}/model.onnx`);
  const data = fileBytes(`${LLAMA_FP16}/model.onnx.data`);
  const attr = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });

  /** The stored bytes of an external initializer. */
  function externalBytes(t: Init): Uint8Array {
    const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
    const off = Number(kv.get('offset') ?? 0);
    return data.subarray(off, off + Number(kv.get('length')));
  }

  /**
   * Each layer's RotaryEmbedding + MultiHeadAttention become one GroupQueryAttention (rotary
   * inside, cos/sin caches as inputs 7 and 8); with `packed`, q/k/v become one MatMul whose
   * [16, 48] weight holds q | k | v columns.
   */
  function toGqa(packed: boolean): Uint8Array {
    return rewrite(bytes, (m) => {
      const g = m.graph!;
      const inits = new Map(g.initializer!.map((t) => [t.name!, t as Init]));
      const producer = new Map(g.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
      for (const mha of g.node!.filter((n) => n.opType === 'MultiHeadAttention')) {
        const [qRot, kRot, v] = mha.input! as [string, string, string];
        const q = producer.get(qRot)!.input![0]!, k = producer.get(kRot)!.input![0]!;
        const gqaInputs = [q, k, v, mha.input![6]!, mha.input![7]!, 'attention_mask', 'attention_mask', 'cos_cache', 'sin_cache'];
        if (packed) {
          const mms = [q, k, v].map((t) => producer.get(t)!);
          const ws = mms.map((n) => externalBytes(inits.get(n.input![1]!)!)); // each [16, 16] f16, [in, out]
          const cat = new Uint8Array(16 * 48 * 2);
          for (let r = 0; r < 16; r++) ws.forEach((w, j) => cat.set(w.subarray(r * 32, r * 32 + 32), r * 96 + j * 32));
          const name = `${mha.name}/qkv_proj.weight`;
          g.initializer!.push(onnx.TensorProto.create({ name, dims: [16, 48], dataType: onnx.TensorProto.DataType.FLOAT16, rawData: cat }));
          const mm = onnx.NodeProto.create({ opType: 'MatMul', name: `${mha.name}/qkv_proj`, input: [mms[0]!.input![0]!, name], output: [`${name}:out`] });
          g.node!.splice(g.node!.indexOf(mms[0]!), 1, mm);
          for (const n of mms.slice(1)) g.node!.splice(g.node!.indexOf(n), 1);
          gqaInputs.splice(0, 3, `${name}:out`, '', '');
        }
        for (const r of [producer.get(qRot)!, producer.get(kRot)!]) g.node!.splice(g.node!.indexOf(r), 1);
        mha.opType = 'GroupQueryAttention';
        mha.input = gqaInputs;
        mha.attribute = [attr('num_heads', 1), attr('kv_num_heads', 1), attr('do_rotary', 1), attr('rotary_interleaved', 0)];
      }
    });
  }

  it.each([false, true])('packed q|k|v: %s — same canonical weights, rope read from its caches', async (packed) => {
    const a = await loadModel(nodeDirSource(LLAMA_FP16));
    const b = await loadModel(variant(LLAMA_FP16, { 'model.onnx': toGqa(packed) }));
    expect(b.graph.style.attention).toBe('com.microsoft.GroupQueryAttention');
    expect(b.graph.ops['com.microsoft.RotaryEmbedding']).toBeUndefined();
    expect(b.provenance.ropeTheta).toBe('graph');
    sameWeights(a, b);
    const k = b.weights.get('model.layers.1.self_attn.k_proj.weight')!;
    if (packed) expect(k).toMatchObject({ transposed: true, rows: { start: 16, count: 16 }, source: '/model/layers.1/attn/MultiHeadAttention/qkv_proj.weight' });
    else expect(k.source).toBe('model.layers.1.attn.k_proj.MatMul.weight');
  });
});

describe('no config file: facts read from the graph', () => {
  it('genai llama: heads from MultiHeadAttention, head size from its scale, theta from the cos/sin caches, eps from the norms', async () => {
    const a = await loadModel(nodeDirSource(LLAMA_FP16));
    const b = await loadModel(variant(LLAMA_FP16, { 'genai_config.json': undefined }));
    expect(b.warnings.map((w) => w.code)).toContain('no-config');
    const { bosId: _b, eosIds: _e, padId: _p, ...rest } = a.config;
    expect(b.config).toMatchObject(rest);
    expect(b.provenance).toMatchObject({ heads: 'graph', headDim: 'graph', ropeTheta: 'graph', normEps: 'graph', maxPositions: 'graph' });
  });

  it('GPT-2 fused: heads from Attention num_heads, positions from wpe, eps from SkipLayerNormalization', async () => {
    const b = await loadModel(variant(GPT2_SHARED, { 'config.json': undefined, 'genai_config.json': undefined }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    expect(b.config).toMatchObject({ arch: 'gpt2', heads: 4, headDim: 8, maxPositions: 512, normEps: 1e-5, activation: 'gelu_tanh' });
  });

  it('torch llama: head size from the 1/sqrt(HS) score scale, theta from the inv_freq constant', async () => {
    const a = await loadModel(nodeDirSource(TINY_LLAMA));
    const b = await loadModel(variant(TINY_LLAMA, { 'config.json': undefined, 'generation_config.json': undefined }));
    expect(b.config).toMatchObject({ heads: 4, kvHeads: 2, headDim: 8, ropeTheta: 50000, normEps: 1e-5, bosId: null });
    expect(b.warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['no-config', 'max-positions-default']));
    sameWeights(a, b, false);
  });
});
