// Merged ONNX: the model's own .onnx with W + s·B·A folded into every weight the adapter targets,
// so that onnxruntime(-web) or transformers.js run the tuned model with no LoRA support.
//
// - Same graph, inputs, outputs and node order: only initializer values change (and, for a
//   de-duplicated initializer that other layers also read, see below). The file is decoded and
//   re-encoded with onnx-proto, the library the loader parses it with.
// - Each weight keeps its storage: layout ([in, out] for MatMul and Conv1D, [out, in] for Gemm
//   transB or MatMul behind a Transpose; GPT-2's packed c_attn gets its q, k and v column blocks)
//   and dtype (f16 stays f16, bf16 stays bf16; the sum is formed in f32 and rounded once).
//   Where each weight lives comes from the loader's recognised mapping (CanonicalWeight:
//   initializer, transposed, rows), never from initializer names.
// - Exporters de-duplicate equal initializers, so one tensor may serve several layers (or a
//   layer and the tied LM head). If the layers sharing it get the same update it is updated in
//   place; otherwise each updated layer gets its own copy of the tensor (and of any Transpose /
//   Cast between the tensor and its MatMul), so layers the adapter leaves alone keep the original.
// - External data: written when the source used it, when asked, or when the file would pass
//   protobuf's 2 GiB limit. Tensors of 1 KiB or more go to one data file next to the .onnx, each
//   at a 64-byte aligned offset (onnx's own layout: location / offset / length entries).
// - A quantized base (MatMulNBits, GatherBlockQuantized) is written in float16: its quantized
//   weights dequantized (dequantize-graph.ts), the adapter merged into them, never re-quantized
//   (MergedOnnx.dequantized names them).

import onnxProto from 'onnx-proto';
import { f32ToF16Bits } from '../f16.js';
import { assertFinite } from '../finite.js';
import { GraphIndex, type LinearOp } from '../model/graph.js';
import type { LoadedModel } from '../model/load.js';
import { decodeFloats, type OnnxTensor } from '../model/onnx.js';
import type { CanonicalWeight } from '../model/recognize.js';
import { adapterModules, adapterScale, deltaRows, type AdapterData } from './modules.js';
import { dequantizeGraph } from './dequantize-graph.js';

const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type INodeProto = onnxProto.onnx.INodeProto;

/** protobuf's hard limit on one message, less room for the graph itself. */
const PROTOBUF_LIMIT = 2 ** 31 - 64 * 2 ** 20;
/** Tensors this size and up go to external data (onnx's size_threshold default). */
const EXTERNAL_THRESHOLD = 1024;
const ALIGN = 64;

export interface MergeOptions {
  /** Force external data on (true) or off (false); default: as the source, or when too large. */
  externalData?: boolean;
  /** File name of the merged .onnx (names the data file); default: the source's file name. */
  fileName?: string;
}

export interface MergedOnnx {
  fileName: string;
  onnx: Uint8Array;
  /** The external data file (name relative to the .onnx), in chunks so nothing needs one 2 GB buffer. */
  data: { fileName: string; size: number; chunks: Uint8Array[] } | null;
  /** Canonical weights changed, and tensors copied to un-share them. */
  merged: string[];
  unshared: string[];
  /** Quantized weights of the base written dequantized, in float16 (empty for a float base). */
  dequantized: string[];
}

/** ONNX data type codes of the float types weights come in. */
const FLOAT_CODES: Record<string, number> = { float32: 1, float16: 10, float64: 11, bfloat16: 16 };

function encodeFloats(dtype: OnnxTensor['dtype'], v: Float32Array): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
    case 'float16': {
      const h = new Uint16Array(v.length);
      for (let i = 0; i < v.length; i++) h[i] = f32ToF16Bits(v[i]!);
      return new Uint8Array(h.buffer);
    }
    case 'bfloat16': {
      // Round to nearest even on the upper 16 bits (NaN kept quiet).
      const bits = new Uint32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
      const h = new Uint16Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const b = bits[i]!;
        h[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      }
      return new Uint8Array(h.buffer);
    }
    case 'float64':
      return new Uint8Array(Float64Array.from(v).buffer);
    default:
      throw new Error(`merge: cannot write ${dtype} weights`);
  }
}

/** Adds delta (rows, in) to the weight's place in the stored tensor's values. */
function addDelta(values: Float32Array, t: OnnxTensor, w: CanonicalWeight, delta: Float32Array): void {
  const [rows, inF] = w.shape as [number, number];
  const start = w.rows?.start ?? 0;
  if (w.transposed) {
    const outTotal = t.dims[1]!;
    for (let r = 0; r < rows; r++) for (let c = 0; c < inF; c++) values[c * outTotal + start + r]! += delta[r * inF + c]!;
  } else {
    for (let r = 0; r < rows; r++) for (let c = 0; c < inF; c++) values[(start + r) * inF + c]! += delta[r * inF + c]!;
  }
}

/** Where a canonical linear weight sits in the traced graph: its norm index and depth (recognize.ts). */
function placeOf(name: string, layers: number): { norm: number; depth: number } | null {
  if (name === 'lm_head.weight') return { norm: 2 * layers, depth: 0 };
  const m = /^(?:model\.layers|transformer\.h)\.(\d+)\.(.+)\.weight$/.exec(name);
  if (!m) return null;
  const l = Number(m[1]);
  const mod = m[2]!;
  if (/^(self_attn|attn)\.[qkv]_proj$/.test(mod)) return { norm: 2 * l, depth: 0 };
  if (mod === 'self_attn.o_proj' || mod === 'attn.c_proj') return { norm: 2 * l, depth: 1 };
  if (mod === 'mlp.gate_proj' || mod === 'mlp.up_proj' || mod === 'mlp.c_fc') return { norm: 2 * l + 1, depth: 0 };
  if (mod === 'mlp.down_proj' || mod === 'mlp.c_proj') return { norm: 2 * l + 1, depth: 1 };
  return null;
}

export function mergeOnnx(model: LoadedModel, adapter: AdapterData, options: MergeOptions = {}): MergedOnnx {
  if (!model.weightsLoaded) throw new Error('merge: the model was loaded without its weights (readWeights() first)');
  const modules = adapterModules(model, adapter);
  const scale = adapterScale(adapter.lora);
  const r = adapter.lora.r;

  // The update of every targeted canonical weight, in HF layout (rows, in).
  const deltas = new Map<string, Float32Array>();
  for (const m of modules) for (const p of m.slot.parts) deltas.set(p.weight, deltaRows(m, r, scale, p.rowOffset, p.rows));

  const proto = onnx.ModelProto.decode(model.onnx.modelBytes);
  const graph = proto.graph!;
  // A quantized base: its quantized nodes become float16 MatMul / Gather first.
  const deq = model.quantized ? dequantizeGraph(proto, model) : null;
  const weightOf = (name: string): CanonicalWeight => deq?.weights.get(name) ?? model.weights.get(name)!;
  const inits = new Map<string, ITensorProto>(graph.initializer!.map((t) => [t.name ?? '', t]));
  const constNodes = new Map<string, INodeProto>();
  for (const n of graph.node ?? []) if (n.opType === 'Constant' && n.output?.[0]) constNodes.set(n.output[0], n);
  const protoOf = (t: OnnxTensor): ITensorProto => {
    const d = deq?.protos.get(t);
    if (d) return d;
    const init = inits.get(t.name);
    if (init) return init;
    const v = constNodes.get(t.name)?.attribute?.find((a) => a.name === 'value')?.t;
    if (v) return v;
    throw new Error(`merge: weight tensor "${t.name}" is neither an initializer nor a Constant value in ${model.onnx.file}`);
  };
  /** Replacement bytes by TensorProto (changed or newly copied tensors). */
  const newBytes = new Map<ITensorProto, Uint8Array>();
  // A merged weight must stay finite in its own dtype (an f16 weight overflows past 65504).
  const setValues = (tp: ITensorProto, t: OnnxTensor, values: Float32Array, weights: string) => {
    const bytes = encodeFloats(t.dtype, values);
    assertFinite(`merge: the merged weight ${weights} (${tp.name ?? t.name}, ${t.dtype})`, t.dtype === 'float32' ? values : decodeFloats(t.dtype, bytes), ': the adapter is too large for this model; nothing written');
    newBytes.set(tp, bytes);
  };
  const freshValues = (t: OnnxTensor) => deq?.values.get(t)?.slice() ?? decodeFloats(t.dtype, model.store.bytesSync(t)).slice();
  // The dequantized tensors are new: written whether or not the adapter touches them.
  if (deq) for (const [t, tp] of deq.protos) newBytes.set(tp, encodeFloats(t.dtype, deq.values.get(t)!));

  // Group the targeted weights by the stored tensor behind them.
  const byTensor = new Map<OnnxTensor, CanonicalWeight[]>();
  for (const name of deltas.keys()) {
    const w = weightOf(name);
    const list = byTensor.get(w.tensor) ?? [];
    list.push(w);
    byTensor.set(w.tensor, list);
  }

  const merged: string[] = [];
  const unshared: string[] = [];
  let index: GraphIndex | null = null;
  const protoNodes = new Map<string, INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) protoNodes.set(o, n);

  for (const [t, targeted] of byTensor) {
    const tp = protoOf(t);
    const sharers = [...new Set(targeted.flatMap((w) => [w.name, ...w.sharedWith]))];
    const sameUpdate = sharers.every((n) => sameArray(deltas.get(n), deltas.get(sharers[0]!)));
    if ((sharers.length === targeted.length && targeted.every((w) => w.sharedWith.length === 0)) || sameUpdate) {
      // One owner (or packed parts of one tensor), or every reader gets the same update.
      const values = freshValues(t);
      const done = new Set<string>();
      for (const w of targeted) {
        if (w.sharedWith.length && [...done].some((d) => w.sharedWith.includes(d))) continue; // shared: add once
        addDelta(values, t, w, deltas.get(w.name)!);
        done.add(w.name);
      }
      setValues(tp, t, values, targeted.map((w) => w.name).join(', '));
      merged.push(...targeted.map((w) => w.name));
      continue;
    }
    // Shared with layers that get another (or no) update: each updated layer gets its own copy.
    if (!inits.has(t.name)) throw new Error(`merge: "${t.name}" is a Constant node's value shared by ${sharers.join(', ')}; un-sharing is only done for initializers`);
    if (targeted.some((w) => w.rows)) throw new Error(`merge: "${t.name}" is both packed (q|k|v) and shared by ${sharers.join(', ')}; not supported`);
    index ??= new GraphIndex(model.onnx, (x) => (x.external ? model.store.bytesSync(x) : x.bytes));
    for (const w of targeted) {
      const lin = linearFor(index, w, model.config.layers);
      const copyName = uniqueName(`${t.name}.lora_merged.${w.name}`, inits, protoNodes);
      const copy = onnx.TensorProto.create({ name: copyName, dataType: FLOAT_CODES[t.dtype], dims: t.dims.slice() });
      const values = freshValues(t);
      addDelta(values, t, w, deltas.get(w.name)!);
      setValues(copy, t, values, w.name);
      graph.initializer!.push(copy);
      inits.set(copyName, copy);
      rewire(graph, protoNodes, index, lin, t.name, copyName);
      merged.push(w.name);
      unshared.push(`${t.name} → ${copyName} (${w.name})`);
    }
    pruneUnread(graph, t.name, inits);
  }

  // Bytes of every tensor proto, for re-embedding or moving out.
  const bytesOf = (tp: ITensorProto, loaderTensor: OnnxTensor | undefined): Uint8Array | null => {
    const b = newBytes.get(tp);
    if (b) return b;
    if (!loaderTensor) return null;
    return loaderTensor.external ? model.store.bytesSync(loaderTensor) : loaderTensor.bytes ?? null;
  };
  const all: { tp: ITensorProto; bytes: Uint8Array | null }[] = [];
  for (const tp of graph.initializer!) all.push({ tp, bytes: bytesOf(tp, model.onnx.initializers.get(tp.name ?? '')) });
  for (const [out, n] of constNodes) {
    const tp = n.attribute?.find((a) => a.name === 'value')?.t;
    if (tp) all.push({ tp, bytes: bytesOf(tp, model.onnx.constants.get(out)) });
  }
  const totalBytes = all.reduce((s, x) => s + (x.bytes?.byteLength ?? 0), 0);
  const sourceExternal = model.onnx.initializers.size > 0 && [...model.onnx.initializers.values()].some((x) => x.external);
  const external = options.externalData ?? (sourceExternal || totalBytes > PROTOBUF_LIMIT);
  if (!external && totalBytes > PROTOBUF_LIMIT) throw new Error(`merge: ${totalBytes} bytes of weights cannot be embedded in one .onnx (protobuf's 2 GiB limit); use external data`);

  const fileName = options.fileName ?? model.onnx.file.split('/').pop()!;
  const dataName = `${fileName}.data`;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { tp, bytes } of all) {
    if (!bytes) continue; // string tensors and the like: left as they are
    const isExternal = tp.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
    if (external && bytes.byteLength >= EXTERNAL_THRESHOLD) {
      const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
      if (pad) chunks.push(new Uint8Array(pad));
      offset += pad;
      clearData(tp);
      tp.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tp.externalData = [
        { key: 'location', value: dataName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.byteLength) },
      ];
      chunks.push(bytes);
      offset += bytes.byteLength;
    } else if (isExternal || newBytes.has(tp)) {
      clearData(tp);
      tp.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      tp.externalData = [];
      tp.rawData = bytes;
    }
  }
  proto.metadataProps = [...(proto.metadataProps ?? []).filter((p) => p.key !== 'prefstudio.lora_merged'), {
    key: 'prefstudio.lora_merged',
    value: JSON.stringify({ r: adapter.lora.r, lora_alpha: adapter.lora.lora_alpha, use_rslora: adapter.lora.use_rslora, target_modules: adapter.lora.target_modules, base_model: adapter.baseModel }),
  }];
  return {
    fileName,
    onnx: onnx.ModelProto.encode(proto).finish(),
    data: external && offset > 0 ? { fileName: dataName, size: offset, chunks } : null,
    merged,
    unshared,
    dequantized: deq?.dequantized ?? [],
  };
}

function clearData(tp: ITensorProto): void {
  tp.rawData = new Uint8Array(0);
  tp.floatData = [];
  tp.int32Data = [];
  tp.int64Data = [];
  tp.doubleData = [];
  tp.uint64Data = [];
}

function sameArray(a: Float32Array | undefined, b: Float32Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function uniqueName(base: string, inits: Map<string, unknown>, outputs: Map<string, unknown>): string {
  let name = base;
  for (let i = 1; inits.has(name) || outputs.has(name); i++) name = `${base}.${i}`;
  return name;
}

/**
 * The one linear op of the graph that reads `w`: the node the loader saw read it (recognize.ts),
 * else by tensor and by the place of its layer (pre-norm layouts).
 */
function linearFor(ix: GraphIndex, w: CanonicalWeight, layers: number): LinearOp {
  const byNode = w.reader !== undefined ? ix.linears.filter((l) => l.node.index === w.reader && l.weight === w.tensor) : [];
  if (byNode.length === 1) return byNode[0]!;
  const place = placeOf(w.name, layers);
  const found = ix.linears.filter((l) => l.weight === w.tensor && place && l.place.norm === place.norm && l.place.depth === place.depth);
  if (found.length !== 1) {
    throw new Error(`merge: cannot tell which node reads "${w.tensor.name}" as ${w.name} (${found.length} candidates); the initializer is shared and would need un-sharing`);
  }
  return found[0]!;
}

/**
 * Points the linear's weight input at `copy` instead of `original`, copying any Transpose / Cast
 * between the two so the other readers keep the original chain.
 */
function rewire(graph: onnxProto.onnx.IGraphProto, protoNodes: Map<string, INodeProto>, ix: GraphIndex, lin: LinearOp, original: string, copy: string): void {
  const consumer = protoNodes.get(lin.node.outputs[0]!);
  if (!consumer) throw new Error(`merge: node ${lin.node.name} not found in the graph`);
  const chain: INodeProto[] = [];
  let t = lin.node.inputs[1]!;
  while (t !== original) {
    const p = ix.producer.get(t)?.node;
    const pp = p && protoNodes.get(p.outputs[0]!);
    if (!p || !pp || chain.length > 8) throw new Error(`merge: cannot follow ${lin.node.name}'s weight input back to "${original}"`);
    chain.push(pp);
    t = p.inputs[0]!;
  }
  let current = copy;
  const clones: INodeProto[] = [];
  for (const n of chain.reverse()) {
    const out = uniqueName(`${n.output![0]}.lora_merged`, new Map(), protoNodes);
    const clone = onnx.NodeProto.create({ ...n, name: n.name ? `${n.name}.lora_merged` : '', input: [current, ...n.input!.slice(1)], output: [out] });
    protoNodes.set(out, clone);
    clones.push(clone);
    current = out;
  }
  const nodes = graph.node!;
  nodes.splice(nodes.indexOf(consumer), 0, ...clones);
  consumer.input![1] = current;
}

/**
 * After un-sharing, the original tensor (and a Transpose / Cast chain from it) may be read by no
 * one any more: drop them rather than ship dead weights.
 */
function pruneUnread(graph: onnxProto.onnx.IGraphProto, tensor: string, inits: Map<string, ITensorProto>): void {
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const unary = ['Transpose', 'Cast', 'Identity', 'CastLike'];
  for (let changed = true; changed; ) {
    changed = false;
    const read = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
    // Tensors derived from `tensor` through unary ops only.
    const derived = new Set([tensor]);
    for (const n of graph.node ?? []) if (unary.includes(n.opType ?? '') && derived.has(n.input?.[0] ?? '')) for (const o of n.output ?? []) derived.add(o);
    const nodes = graph.node!;
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i]!;
      if (unary.includes(n.opType ?? '') && derived.has(n.input?.[0] ?? '') && !(n.output ?? []).some((o) => read.has(o) || outputs.has(o))) {
        nodes.splice(i, 1);
        changed = true;
      }
    }
    if (!changed && !read.has(tensor) && inits.has(tensor)) {
      graph.initializer!.splice(graph.initializer!.indexOf(inits.get(tensor)!), 1);
      inits.delete(tensor);
    }
  }
}

/** Total size of the merged files in bytes. */
export function mergedSize(m: MergedOnnx): number {
  return m.onnx.byteLength + (m.data?.size ?? 0);
}
