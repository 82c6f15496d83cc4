// A quantized base's graph made float for the merged ONNX: every com.microsoft MatMulNBits becomes
// a MatMul on its weight dequantized to float16 ([K, N], as MatMul reads it), every
// DequantizeLinear of a MatMul's weight a Cast of that weight in float16, and every
// GatherBlockQuantized a Gather on its table dequantized to float16; where the graph computes in
// float32 (the scales' type is the activations' type, by the ops' spec) a Cast to float32 follows
// the f16 weight (or the gathered rows). A MatMulNBits bias becomes an Add after the MatMul. The
// adapter is then merged into these f16 weights like into any other (merge.ts): the merged file
// is f16 and says so; it is never re-quantized.

import onnxProto from 'onnx-proto';
import { dequantize } from '../blockq.js';
import type { LoadedModel } from '../model/load.js';
import { integerLinear } from '../model/graph.js';
import type { OnnxTensor } from '../model/onnx.js';
import { toBlockQuantized, type QuantSpec } from '../model/quantized.js';
import type { CanonicalWeight } from '../model/recognize.js';
import { fromF16Array, toF16Array } from '../f16.js';

const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type INodeProto = onnxProto.onnx.INodeProto;
type IModelProto = onnxProto.onnx.IModelProto;

export interface DequantizedGraph {
  /** Canonical weights that now read an f16 tensor (in place of their quantized one). */
  weights: Map<string, CanonicalWeight>;
  /** Each new f16 tensor's values (f16-rounded, as f32) and its initializer. */
  values: Map<OnnxTensor, Float32Array>;
  protos: Map<OnnxTensor, ITensorProto>;
  /** Names of the canonical weights dequantized. */
  dequantized: string[];
}

const CAST_TO_F32 = { name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: 1 };

/** Rewrites `proto`'s quantized nodes in place (see above); the f16 initializers are added without bytes (the caller writes `values`). */
export function dequantizeGraph(proto: IModelProto, model: LoadedModel): DequantizedGraph {
  const graph = proto.graph!;
  const bySpec = new Map<QuantSpec, CanonicalWeight[]>();
  for (const w of model.weights.values()) {
    if (!w.quant) continue;
    const list = bySpec.get(w.quant) ?? [];
    list.push(w);
    bySpec.set(w.quant, list);
  }
  const out: DequantizedGraph = { weights: new Map(), values: new Map(), protos: new Map(), dequantized: [] };
  const nodes = graph.node ?? [];
  const bytesOf = (t: OnnxTensor) => model.store.bytesSync(t);
  const replaced = new Set<string>();
  for (const [spec, ws] of bySpec) {
    const at = nodes.findIndex((n) => n.output?.[0] === spec.node.outputs[0]);
    if (at < 0) throw new Error(`merge: node "${spec.node.name}" of ${model.onnx.file} not found in the graph`);
    const n = nodes[at]!;
    const full = dequantize(toBlockQuantized(spec, bytesOf)); // (rows, cols)
    const { rows, cols } = spec;
    const matmul = spec.op !== 'GatherBlockQuantized'; // MatMulNBits, or the DequantizeLinear of a MatMul's weight
    // MatMul reads [K, N]; Gather reads the table as is.
    const stored = new Float32Array(rows * cols);
    if (matmul) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) stored[c * rows + r] = full[r * cols + c]!;
    else stored.set(full);
    const values = fromF16Array(toF16Array(stored));
    const name = `${spec.data.name}.dequantized_f16`;
    const t: OnnxTensor = { name, dtype: 'float16', dims: matmul ? [cols, rows] : [rows, cols] };
    const tp = onnx.TensorProto.create({ name, dataType: 10, dims: t.dims.slice() });
    graph.initializer!.push(tp);
    out.values.set(t, values);
    out.protos.set(t, tp);
    const f32 = spec.scales.dtype === 'float32';
    const label = n.name || `${spec.op}_${at}`;
    const added: INodeProto[] = [];
    if (spec.op === 'MatMulInteger') {
      // The whole chain (MatMulInteger, Cast, the scales' Mul, the output Mul) becomes one MatMul
      // on the float input; the DynamicQuantizeLinear goes once nothing reads it.
      const readers = new Map<string, { node: typeof spec.node; slot: number }[]>();
      const producer = new Map<string, typeof spec.node>();
      for (const m of model.onnx.nodes) {
        m.inputs.forEach((t, slot) => t && readers.set(t, [...(readers.get(t) ?? []), { node: m, slot }]));
        for (const o of m.outputs) if (o) producer.set(o, m);
      }
      const c = integerLinear(spec.node, (t) => producer.get(t), readers, (t) => model.onnx.initializers.has(t) || model.onnx.constants.has(t));
      if (!c) throw new Error(`merge: the MatMulInteger "${spec.node.name}" of ${model.onnx.file} is not the chain the loader read`);
      const gone = new Set([spec.node.outputs[0], c.cast.outputs[0], c.scaleMul.outputs[0]]);
      const y = c.mul.outputs[0]!;
      const at2 = nodes.findIndex((m) => m.output?.[0] === y);
      nodes.splice(at2, 1, onnx.NodeProto.create({ opType: 'Cast', name: `${label}/dequantized_cast`, input: [name], output: [`${name}.f32`], attribute: [CAST_TO_F32] }), onnx.NodeProto.create({ opType: 'MatMul', name: label, input: [c.x, `${name}.f32`], output: [y] }));
      for (let i = nodes.length - 1; i >= 0; i--) if (gone.has(nodes[i]!.output?.[0] ?? '')) nodes.splice(i, 1);
      for (const x of [spec.data, spec.scales, spec.zeroPoints]) if (x) replaced.add(x.name);
      for (const w of ws) {
        out.weights.set(w.name, { ...w, tensor: t, source: name, dtype: 'f16', transposed: true, quant: undefined });
        out.dequantized.push(w.name);
      }
      continue;
    }
    if (spec.op === 'DequantizeLinear') {
      // The MatMul reads the DequantizeLinear's output: now the f16 weight, cast to the scale's type.
      added.push({ opType: 'Cast', name: `${label}/dequantized_cast`, input: [name], output: [n.output![0]!], attribute: [f32 ? CAST_TO_F32 : { ...CAST_TO_F32, i: 10 }] });
    } else if (matmul) {
      let w = name;
      if (f32) {
        w = `${name}.f32`;
        added.push({ opType: 'Cast', name: `${label}/dequantized_cast`, input: [name], output: [w], attribute: [CAST_TO_F32] });
      }
      const y = n.output![0]!;
      const bias = n.input?.[5];
      added.push({ opType: 'MatMul', name: label, input: [n.input![0]!, w], output: [bias ? `${y}.no_bias` : y] });
      if (bias) added.push({ opType: 'Add', name: `${label}/bias`, input: [`${y}.no_bias`, bias], output: [y] });
    } else {
      const y = n.output![0]!;
      added.push({ opType: 'Gather', name: label, input: [name, n.input![1]!], output: [f32 ? `${y}.f16` : y], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
      if (f32) added.push({ opType: 'Cast', name: `${label}/dequantized_cast`, input: [`${y}.f16`], output: [y], attribute: [CAST_TO_F32] });
    }
    nodes.splice(at, 1, ...added.map((x) => onnx.NodeProto.create(x)));
    for (const x of [spec.data, spec.scales, spec.zeroPoints]) if (x) replaced.add(x.name);
    for (const w of ws) {
      out.weights.set(w.name, { ...w, tensor: t, source: name, dtype: 'f16', transposed: matmul, quant: undefined });
      out.dequantized.push(w.name);
    }
  }
  // DynamicQuantizeLinear nodes nothing reads any more, then the quantized tensors no node reads.
  const live = new Set(nodes.flatMap((n) => n.input ?? []));
  for (let i = nodes.length - 1; i >= 0; i--) if (nodes[i]!.opType === 'DynamicQuantizeLinear' && !(nodes[i]!.output ?? []).some((o) => live.has(o))) nodes.splice(i, 1);
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  graph.initializer = graph.initializer!.filter((x) => !replaced.has(x.name ?? '') || read.has(x.name ?? ''));
  if (!nodes.some((n) => n.domain === 'com.microsoft')) proto.opsetImport = (proto.opsetImport ?? []).filter((o) => o.domain !== 'com.microsoft');
  return out;
}
