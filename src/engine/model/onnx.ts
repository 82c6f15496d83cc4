// ONNX files read with onnx-proto (protobufjs-generated definitions), into a small plain graph:
// nodes in topological order, initializers and Constant-node values by
// name, graph inputs and outputs.
//
// Weight bytes are not copied: protobufjs returns `bytes` fields as views into the buffer it
// decodes (subarray / Buffer.slice), so an embedded tensor's `bytes` is a view into the .onnx file;
// external tensors keep their file, offset and length and are read later (tensor-store.ts).
// Only tensors stored in typed fields (float_data, int32_data, ...) are packed into new bytes.

import onnxProto from 'onnx-proto';
import { bf16BitsToF32, f16BitsToF32 } from '../f16.js';
import { ModelLoadError } from './errors.js';
import { dirname, joinPath } from './source.js';

const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export type OnnxDType =
  | 'float32' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'string' | 'bool'
  | 'float16' | 'float64' | 'uint32' | 'uint64' | 'complex64' | 'complex128' | 'bfloat16'
  | 'float8e4m3fn' | 'float8e4m3fnuz' | 'float8e5m2' | 'float8e5m2fnuz' | 'uint4' | 'int4' | 'undefined';

const DTYPES: Record<number, OnnxDType> = {
  0: 'undefined', 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64',
  8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64',
  15: 'complex128', 16: 'bfloat16', 17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2',
  20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4',
};

/** Bytes per element; 0.5 for the packed 4-bit types; 0 where it is not fixed (string). */
export const DTYPE_BYTES: Record<OnnxDType, number> = {
  float32: 4, uint8: 1, int8: 1, uint16: 2, int16: 2, int32: 4, int64: 8, string: 0, bool: 1,
  float16: 2, float64: 8, uint32: 4, uint64: 8, complex64: 8, complex128: 16, bfloat16: 2,
  float8e4m3fn: 1, float8e4m3fnuz: 1, float8e5m2: 1, float8e5m2fnuz: 1, uint4: 0.5, int4: 0.5, undefined: 0,
};

export function dtypeName(code: number): OnnxDType | `unknown(${number})` {
  return DTYPES[code] ?? `unknown(${code})`;
}

export interface ExternalLocation {
  /** Path inside the model folder (resolved against the .onnx file's folder). */
  file: string;
  offset: number;
  length: number;
}

export interface OnnxTensor {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  /** Stored bytes (little-endian); a view into the .onnx buffer for raw_data. */
  bytes?: Uint8Array;
  external?: ExternalLocation;
}

export type AttrValue = number | string | number[] | string[] | OnnxTensor | { graph: true };

export interface OnnxNode {
  /** Position in topological order (see sortNodes). */
  index: number;
  name: string;
  opType: string;
  /** '' for the default ONNX domain ('ai.onnx' is normalized to ''). */
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

export interface ValueInfo {
  name: string;
  dtype: OnnxDType | `unknown(${number})`;
  /** Each dimension: a number, a symbolic name, or null when unknown. */
  shape: (number | string | null)[] | null;
}

export interface OnnxGraph {
  /** The .onnx path inside the model folder. */
  file: string;
  irVersion: number;
  producer: string;
  opsets: Map<string, number>;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  /** Outputs of Constant nodes, by tensor name. */
  constants: Map<string, OnnxTensor>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** The bytes decoded (embedded tensors view into them). */
  modelBytes: Uint8Array;
}

interface LongLike {
  toNumber(): number;
}

export function toNumber(v: number | LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function tensorByteLength(t: Pick<OnnxTensor, 'dtype' | 'dims'>): number {
  return Math.ceil(numel(t.dims) * DTYPE_BYTES[t.dtype]);
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Decodes one TensorProto. Data in typed fields is packed into fresh little-endian bytes. */
function readTensor(t: ITensorProto, file: string, where: string): OnnxTensor {
  const name = t.name ?? '';
  const code = t.dataType ?? 0;
  const dtype = DTYPES[code];
  // 0 is UNDEFINED: a damaged or hand-made file, not a type we could support.
  if (code === 0) throw new ModelLoadError('onnx-invalid', `${file}: tensor "${name}" (${where}) has no data type (ONNX data type 0, UNDEFINED)`, { file, tensor: name, dataType: code });
  if (!dtype) throw new ModelLoadError('unsupported-dtype', `${file}: tensor "${name}" (${where}) has ONNX data type ${code}, which this loader does not know`, { file, tensor: name, dataType: code });
  const dims = (t.dims ?? []).map((d) => toNumber(d));
  // Negative or huge dims make negative or absurd byte counts that pass the size checks below.
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ModelLoadError('onnx-invalid', `${file}: tensor "${name}" (${where}) has shape [${dims.join(', ')}]; dimensions must be counts`, { file, tensor: name, dims });
  }
  const out: OnnxTensor = { name, dtype, dims };
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const loc = kv.get('location');
    if (!loc) throw new ModelLoadError('onnx-invalid', `${file}: tensor "${name}" is marked external but names no location`, { file, tensor: name });
    const path = joinPath(dirname(file), loc);
    if (!path) throw new ModelLoadError('onnx-invalid', `${file}: tensor "${name}" names external data "${loc}" outside the model folder`, { file, tensor: name, location: loc });
    // Byte counts only: a negative or non-numeric offset would read from the wrong place
    // (subarray counts negative offsets from the end) and load a weight with missing bytes.
    const count = (key: 'offset' | 'length', fallback: number): number => {
      const v = kv.get(key);
      if (v === undefined) return fallback;
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n)) throw new ModelLoadError('onnx-invalid', `${file}: tensor "${name}" has external data ${key} "${v.slice(0, 40)}", which is not a byte count`, { file, tensor: name, [key]: v });
      return n;
    };
    const offset = count('offset', 0);
    const length = count('length', tensorByteLength(out));
    out.external = { file: path, offset, length };
    return out;
  }
  if (t.rawData && t.rawData.byteLength > 0) out.bytes = t.rawData;
  else if (t.floatData?.length) out.bytes = bytesOf(Float32Array.from(t.floatData));
  else if (t.doubleData?.length) out.bytes = bytesOf(Float64Array.from(t.doubleData));
  else if (t.int64Data?.length) out.bytes = bytesOf(BigInt64Array.from(t.int64Data, (v) => BigInt(toNumber(v))));
  else if (t.uint64Data?.length) {
    out.bytes = dtype === 'uint32' ? bytesOf(Uint32Array.from(t.uint64Data, (v) => toNumber(v))) : bytesOf(BigUint64Array.from(t.uint64Data, (v) => BigInt(toNumber(v))));
  } else if (t.int32Data?.length) {
    const v = t.int32Data;
    switch (dtype) {
      case 'float16': case 'bfloat16': case 'uint16': out.bytes = bytesOf(Uint16Array.from(v)); break;
      case 'int16': out.bytes = bytesOf(Int16Array.from(v)); break;
      case 'int8': out.bytes = bytesOf(Int8Array.from(v)); break;
      case 'uint8': case 'bool': out.bytes = Uint8Array.from(v); break;
      default: out.bytes = bytesOf(Int32Array.from(v));
    }
  } else if (t.stringData?.length) {
    return out; // strings carry no weights; left undecoded
  } else out.bytes = new Uint8Array(0);
  const want = tensorByteLength(out);
  // An empty shape with bytes is as wrong as a full one without: recognition trusts the shape.
  if (out.bytes.byteLength !== want) {
    throw new ModelLoadError('onnx-invalid', `${file}: tensor "${name}" (${where}) holds ${out.bytes.byteLength} bytes, its shape [${dims.join(', ')}] of ${dtype} needs ${want}`, { file, tensor: name, expected: want, actual: out.bytes.byteLength });
  }
  return out;
}

function readValueInfo(v: IValueInfoProto): ValueInfo {
  const tt = v.type?.tensorType;
  return {
    name: v.name ?? '',
    dtype: dtypeName(tt?.elemType ?? 0),
    shape: tt?.shape ? (tt.shape.dim ?? []).map((d) => (d.dimValue !== null && d.dimValue !== undefined && toNumber(d.dimValue) !== 0 ? toNumber(d.dimValue) : d.dimParam || null)) : null,
  };
}

const textDecoder = new TextDecoder();

/**
 * Decodes an .onnx file. `file` is its path in the model folder (external data paths are
 * resolved against its folder, and messages name it).
 */
export function parseOnnx(bytes: Uint8Array, file: string): OnnxGraph {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    const msg = (e as Error).message;
    const truncated = e instanceof RangeError || /index out of range/.test(msg);
    throw new ModelLoadError(
      truncated ? 'onnx-truncated' : 'onnx-invalid',
      truncated
        ? `${file}: the file ends early (${bytes.byteLength} bytes; protobuf: ${msg}); it is truncated, or still downloading`
        : `${file}: not an ONNX model (protobuf: ${msg})`,
      { file, size: bytes.byteLength },
    );
  }
  const g = model.graph;
  if (!g || !(g.node?.length)) {
    throw new ModelLoadError('onnx-invalid', `${file}: no graph or an empty graph (${bytes.byteLength} bytes); not an ONNX model, or truncated`, { file, size: bytes.byteLength });
  }
  const opsets = new Map<string, number>();
  for (const o of model.opsetImport ?? []) opsets.set(o.domain === 'ai.onnx' ? '' : o.domain ?? '', toNumber(o.version));
  if (opsets.size === 0) {
    // The graph (field 7) is written before opset_import (field 8): a file cut just after the
    // graph decodes cleanly but has no opsets.
    throw new ModelLoadError('onnx-truncated', `${file}: no opset_import after the graph; the file is probably truncated (${bytes.byteLength} bytes)`, { file, size: bytes.byteLength });
  }
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', readTensor(t, file, 'initializer'));
  const constants = new Map<string, OnnxTensor>();
  const nodes: OnnxNode[] = (g.node ?? []).map((n, index) => {
    const attrs = new Map<string, AttrValue>();
    const nodeName = n.name || `#${index}`;
    for (const a of n.attribute ?? []) {
      const T = onnx.AttributeProto.AttributeType;
      let v: AttrValue;
      switch (a.type) {
        case T.FLOAT: v = a.f ?? 0; break;
        case T.INT: v = toNumber(a.i); break;
        case T.STRING: v = textDecoder.decode(a.s ?? new Uint8Array()); break;
        case T.TENSOR: v = readTensor(a.t ?? {}, file, `attribute ${a.name} of node ${nodeName}`); break;
        case T.FLOATS: v = (a.floats ?? []).slice(); break;
        case T.INTS: v = (a.ints ?? []).map((x) => toNumber(x)); break;
        case T.STRINGS: v = (a.strings ?? []).map((s) => textDecoder.decode(s)); break;
        case T.GRAPH: case T.GRAPHS: v = { graph: true }; break;
        default: continue;
      }
      attrs.set(a.name ?? '', v);
    }
    const node: OnnxNode = {
      index,
      name: n.name ?? '',
      opType: n.opType ?? '',
      domain: n.domain === 'ai.onnx' ? '' : n.domain ?? '',
      inputs: (n.input ?? []).slice(),
      outputs: (n.output ?? []).slice(),
      attrs,
    };
    if (node.opType === 'Constant' && node.domain === '' && node.outputs[0]) {
      const t = constantValue(node);
      if (t) constants.set(node.outputs[0], { ...t, name: node.outputs[0] });
    }
    return node;
  });
  return {
    file,
    irVersion: toNumber(model.irVersion),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opsets,
    nodes: sortNodes(nodes, file),
    initializers,
    constants,
    inputs: (g.input ?? []).map(readValueInfo).filter((v) => !initializers.has(v.name)),
    outputs: (g.output ?? []).map(readValueInfo),
    modelBytes: bytes,
  };
}

/**
 * Topological order, kept as close to the file's order as possible. ONNX asks for sorted nodes
 * but not every exporter complies (the onnxruntime-genai builder writes some mask nodes after
 * their consumers); onnxruntime sorts them itself, and so do we. Renumbers `index`.
 */
function sortNodes(nodes: OnnxNode[], file: string): OnnxNode[] {
  const producer = new Map<string, OnnxNode>();
  for (const n of nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const state = new Map<OnnxNode, 1 | 2>(); // 1: on the stack, 2: placed
  const out: OnnxNode[] = [];
  for (const root of nodes) {
    if (state.has(root)) continue;
    state.set(root, 1);
    const stack: [OnnxNode, number][] = [[root, 0]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [n, i] = top;
      if (i < n.inputs.length) {
        top[1]++;
        const p = producer.get(n.inputs[i]!);
        if (!p || p === n) continue;
        const st = state.get(p);
        if (st === 1) throw new ModelLoadError('onnx-invalid', `${file}: the graph has a cycle through node "${p.name}" (${p.opType})`, { file, node: p.name });
        if (st === undefined) {
          state.set(p, 1);
          stack.push([p, 0]);
        }
      } else {
        state.set(n, 2);
        out.push(n);
        stack.pop();
      }
    }
  }
  out.forEach((n, i) => (n.index = i));
  return out;
}

function constantValue(node: OnnxNode): OnnxTensor | null {
  const v = node.attrs.get('value');
  if (v && typeof v === 'object' && 'dtype' in v) return v;
  const f = node.attrs.get('value_float');
  if (typeof f === 'number') return { name: '', dtype: 'float32', dims: [], bytes: bytesOf(Float32Array.of(f)) };
  const i = node.attrs.get('value_int');
  if (typeof i === 'number') return { name: '', dtype: 'int64', dims: [], bytes: bytesOf(BigInt64Array.of(BigInt(i))) };
  const fs = node.attrs.get('value_floats');
  if (Array.isArray(fs)) return { name: '', dtype: 'float32', dims: [fs.length], bytes: bytesOf(Float32Array.from(fs as number[])) };
  const is = node.attrs.get('value_ints');
  if (Array.isArray(is)) return { name: '', dtype: 'int64', dims: [is.length], bytes: bytesOf(BigInt64Array.from(is as number[], (x) => BigInt(x))) };
  return null;
}

// ---- reading tensor bytes as numbers ----

/** A typed view when the bytes are aligned for it, else an aligned copy. */
function aligned<T>(bytes: Uint8Array, size: number, make: (buf: ArrayBufferLike, off: number, len: number) => T): T {
  if (bytes.byteOffset % size === 0) return make(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  // new Uint8Array(view) copies; a Node Buffer's slice() would not.
  const copy = new Uint8Array(bytes);
  return make(copy.buffer, 0, copy.byteLength / size);
}

export function viewF32(bytes: Uint8Array): Float32Array {
  return aligned(bytes, 4, (b, o, n) => new Float32Array(b, o, n));
}

export function viewU16(bytes: Uint8Array): Uint16Array {
  return aligned(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
}

/** float32 / float16 / bfloat16 / float64 bytes as float32 values (a view for aligned float32). */
export function decodeFloats(dtype: OnnxDType, bytes: Uint8Array): Float32Array {
  switch (dtype) {
    case 'float32':
      return viewF32(bytes);
    case 'float16': {
      const h = viewU16(bytes);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = f16BitsToF32(h[i]!);
      return out;
    }
    case 'bfloat16': {
      const h = viewU16(bytes);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = bf16BitsToF32(h[i]!);
      return out;
    }
    case 'float64':
      return Float32Array.from(aligned(bytes, 8, (b, o, n) => new Float64Array(b, o, n)));
    default:
      throw new Error(`decodeFloats: ${dtype} is not a float type`);
  }
}

/** Integer (or bool) tensor bytes as JS numbers: for shape constants, never for weights. */
export function decodeInts(dtype: OnnxDType, bytes: Uint8Array): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = DTYPE_BYTES[dtype];
  const n = size ? Math.floor(bytes.byteLength / size) : 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'int64': out.push(Number(dv.getBigInt64(i * 8, true))); break;
      case 'uint64': out.push(Number(dv.getBigUint64(i * 8, true))); break;
      case 'int32': out.push(dv.getInt32(i * 4, true)); break;
      case 'uint32': out.push(dv.getUint32(i * 4, true)); break;
      case 'int16': out.push(dv.getInt16(i * 2, true)); break;
      case 'uint16': out.push(dv.getUint16(i * 2, true)); break;
      case 'int8': out.push(dv.getInt8(i)); break;
      case 'uint8': case 'bool': out.push(dv.getUint8(i)); break;
      default: throw new Error(`decodeInts: ${dtype} is not an integer type`);
    }
  }
  return out;
}
