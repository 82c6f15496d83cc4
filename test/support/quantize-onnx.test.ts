// The quantizer's own edges that bench/make-variants.ts relies on (the real-shapes benchmark):
// - float16Onnx of a PyTorch export whose Range runs on int64 (the demo model's causal mask):
//   onnxconverter-common leaves such an op as it is; onnxruntime-web runs the converted file and
//   its logits stay within f16 rounding of the f32 file's; a blocked op on floats is still refused;
// - readOnnx attaches external data as views, so a model over 2 GiB is never encoded whole, and
//   inlineExternalData refuses a result over 2 GiB (protobufjs wrote such a message with NUL names).
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { fromF16Array } from '../../src/engine/f16.js';
import { fileBytes } from '../model/helpers.js';
import { float16Onnx, inlineExternalData, readOnnx } from './quantize-onnx.js';

ort.env.wasm.numThreads = 1;
const { onnx } = onnxProto;
const DEMO = new URL('../../public/models/demo-fortunes/model.onnx', import.meta.url).pathname;

/** Logits (1, T, V) of a demo-layout file (input_ids, attention_mask, position_ids, empty past). */
async function logits(bytes: Uint8Array, ids: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const T = ids.length;
    const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a, BigInt), [1, T]);
    const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids), attention_mask: i64(ids.map(() => 1)), position_ids: i64(ids.map((_, t) => t)) };
    const model = onnx.ModelProto.decode(bytes);
    for (const v of model.graph!.input ?? []) {
      if (!v.name!.startsWith('past')) continue;
      const dims = v.type!.tensorType!.shape!.dim!.map((d, k) => (k === 0 ? 1 : d.dimValue ? Number(d.dimValue) : 0));
      feeds[v.name!] = v.type!.tensorType!.elemType === 10 ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims);
    }
    const out = (await session.run(feeds, ['logits'])).logits!;
    return out.type === 'float16' ? fromF16Array(out.data as Uint16Array) : Float32Array.from(out.data as Float32Array);
  } finally {
    await session.release();
  }
}

describe('float16Onnx on a PyTorch export', () => {
  const f32 = fileBytes(DEMO);

  it('leaves the int64 Range as it is and onnxruntime runs the result within f16 rounding', { timeout: 60_000 }, async () => {
    const half = float16Onnx(f32, { keepIoTypes: true });
    const g = onnx.ModelProto.decode(half).graph!;
    const ranges = g.node!.filter((n) => n.opType === 'Range');
    expect(ranges.length).toBeGreaterThan(0);
    const before = onnx.ModelProto.decode(f32).graph!.node!.filter((n) => n.opType === 'Range');
    expect(ranges.map((n) => n.input)).toEqual(before.map((n) => n.input));
    // Every float initializer is half now.
    expect((g.initializer ?? []).filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT)).toEqual([]);
    const ids = [5, 17, 300, 2, 41, 1999, 7, 8];
    const [want, got] = [await logits(f32, ids), await logits(half, ids)];
    expect(got.length).toBe(want.length);
    const maxLogit = want.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(want[i]! - got[i]!));
    // f16 weights and activations through 4 layers: a few f16 ulps of the largest logit, not more.
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(20 * 2 ** -11 * maxLogit);
  });

  it('still refuses a blocked op on floats', () => {
    const model = onnx.ModelProto.decode(f32);
    const g = model.graph!;
    const norm = g.node!.find((n) => n.opType === 'Mul')!;
    g.node!.push(onnx.NodeProto.create({ opType: 'Max', name: 'float_max', input: [norm.output![0]!, norm.output![0]!], output: ['float_max_out'] }));
    expect(() => float16Onnx(onnx.ModelProto.encode(model).finish())).toThrow(/"float_max" \(Max\) would stay float32/);
  });
});

describe('readOnnx with external data', () => {
  it('attaches each tensor as a view of the data, equal to the inline file', () => {
    const inline = onnx.ModelProto.decode(fileBytes(DEMO));
    // The same model with every initializer moved into one data buffer, as model.onnx_data.
    const ext = onnx.ModelProto.decode(fileBytes(DEMO));
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const t of ext.graph!.initializer ?? []) {
      const raw = new Uint8Array(t.rawData!);
      parts.push(raw);
      t.externalData = [{ key: 'location', value: 'model.onnx_data' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.length) }];
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.rawData = new Uint8Array(0);
      offset += raw.length;
    }
    const data = new Uint8Array(offset);
    parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
    const graphFile = onnx.ModelProto.encode(ext).finish();

    const read = readOnnx(graphFile, data);
    const want = new Map((inline.graph!.initializer ?? []).map((t) => [t.name, new Uint8Array(t.rawData!)]));
    for (const t of read.graph!.initializer ?? []) {
      expect(t.rawData!.buffer, t.name!).toBe(data.buffer); // a view, not a copy
      expect(Buffer.from(t.rawData!).equals(Buffer.from(want.get(t.name)!)), t.name!).toBe(true);
    }
    expect(() => readOnnx(graphFile)).toThrow(/is external data and no data file was given/);
    expect(() => readOnnx(graphFile, data.subarray(0, offset - 1))).toThrow(/lies past the data's/);
    expect(() => inlineExternalData(graphFile, { length: 2 ** 31 } as Uint8Array)).toThrow(/would pass protobuf's 2 GiB/);
  });
});
