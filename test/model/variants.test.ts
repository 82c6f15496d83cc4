// Tracing finds weights by how the graph uses them, not by their names or the file's node order:
// rewritten copies of the torch fixtures (every initializer renamed, nodes written backwards,
// weights behind Transpose or in a Gemm, bf16 weights) must give the same canonical weights.
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32 } from '../../src/engine/f16.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TINY_GPT2, TINY_LLAMA, fileBytes, onnx, rewrite, variant, type ModelProto, type NodeProto, type TensorProto as Init } from './helpers.js';

function f32Of(t: Init): Float32Array {
  return new Float32Array(new Uint8Array(t.rawData).buffer);
}

function sameWeights(a: LoadedModel, b: LoadedModel): void {
  expect(b.config).toEqual(a.config);
  expect([...b.weights.keys()]).toEqual([...a.weights.keys()]);
  for (const name of a.weights.keys()) expect(Array.from(b.weight(name, 'f32').data), name).toEqual(Array.from(a.weight(name, 'f32').data));
}

describe.each([TINY_LLAMA, TINY_GPT2])('%s', (dir) => {
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
