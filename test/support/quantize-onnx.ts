// A TypeScript quantizer for test fixtures and replicas, following onnxruntime's contrib-op spec
// (docs/ContribOperators.md): an f32 decoder's MatMul weights become com.microsoft.MatMulNBits
// (B uint8 (N, k_blocks, blob) packed low bits first along K, scales (N, k_blocks) f32, zero
// points packed uint8 (N, ceil(k_blocks · bits / 8)) or none: default 2^(bits-1)), and its token
// embedding Gather becomes com.microsoft.GatherBlockQuantized (data int4 / uint4 (V, C) or uint8
// (V, C · bits / 8), scales (V, ceil(C / block)), zero points of data's type or none: default 0
// for int4/uint4, 2^(bits-1) for uint8). The values come from src/engine/blockq.ts's
// quantizeBlockwise. `swapNibbles` writes 4-bit codes high nibble first: what a reader with the
// wrong packing order would see.
// `float16` then converts the whole graph to float16 as onnxconverter-common's
// convert_float_to_float16 does (`toFloat16`), which is how transformers.js makes its q4f16 files
// (quantize to q4 first, then convert): every float initializer and Constant becomes float16
// (clipped to ±1e4 and away from 0 below 1e-7, as that converter does), Cast(to = float) becomes
// Cast(to = float16), the float graph inputs and outputs become float16 (or keep float32 behind
// Casts with keepIoTypes), so MatMulNBits and GatherBlockQuantized get float16 A / scales / Y.
// A graph that is float16 already (the genai builder's fp16 export, `inlineExternalData` first)
// is quantized in place the same way: float16 weights give float16 scales.

import onnxProto from 'onnx-proto';
import { blobBytes, codeAt, nBlocksOf, quantizeBlockwise, type BlockQuantized, type QuantBits } from '../../src/engine/blockq.js';
import { f16BitsToF32, toF16Array } from '../../src/engine/f16.js';

const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

export interface QuantizeOnnxOptions {
  bits: QuantBits;
  blockSize: number;
  /** Asymmetric with zero points (true), or symmetric around the default zero point. */
  zeroPoints: boolean;
  /** Quantize the token embedding with GatherBlockQuantized of this data type (default: keep it f32). */
  embedding?: 'int4' | 'uint4' | 'uint8' | null;
  /** Swap the two nibbles of every 4-bit code byte (the wrong packing order). */
  swapNibbles?: boolean;
  /**
   * Instead of MatMulNBits: a QDQ export's DequantizeLinear(w int8/uint8 (K, N), scale (N),
   * zero point (N)) feeding each MatMul (per output column, axis 1; bits and blockSize ignored).
   */
  qdq?: 'int8' | 'uint8';
  /**
   * With qdq: onnxruntime quantize_dynamic's form instead, the same weights read by
   * MatMulInteger(DynamicQuantizeLinear(x), w, x_zp, w_zp) · Mul(x_scale, w_scale) after a Cast.
   */
  dynamic?: boolean;
  /** Then convert the graph to float16 (transformers.js's q4f16: `toFloat16` on the quantized graph). */
  float16?: Float16Options | boolean;
}

export interface Float16Options {
  /** onnxconverter-common's keep_io_types: float graph inputs / outputs stay float32, with Casts at the boundary. */
  keepIoTypes?: boolean;
  /**
   * Keep each RMSNorm's statistics (Pow, ReduceMean, Add eps, Sqrt, Div, with their constants) and
   * each Softmax in float32 behind Cast(to float) / Cast(to float16), as a PyTorch export of a
   * half model writes them (transformers' LlamaRMSNorm upcasts, softmax(dtype = float32)).
   */
  float32Islands?: boolean;
}

export interface QuantizedOnnx {
  bytes: Uint8Array;
  /** Canonical values: initializer name of each original weight → its quantized form ([N, K]). */
  weights: Map<string, BlockQuantized>;
}

function floatsOf(t: ITensorProto): Float32Array {
  if (t.dataType === onnx.TensorProto.DataType.FLOAT16) {
    // Halves: raw little-endian, or one per int32_data entry.
    if (t.rawData && t.rawData.byteLength) return Float32Array.from(new Uint16Array(new Uint8Array(t.rawData).buffer.slice(0)), f16BitsToF32);
    return Float32Array.from(t.int32Data ?? [], f16BitsToF32);
  }
  if (t.rawData && t.rawData.byteLength) return new Float32Array(new Uint8Array(t.rawData).buffer.slice(0));
  return Float32Array.from(t.floatData ?? []);
}

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function tensor(name: string, dataType: number, dims: number[], raw: Uint8Array): ITensorProto {
  return { name, dataType, dims, rawData: raw };
}

const intAttr = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });

/** Packs 4-bit values low nibble first (or swapped), two per byte over the flat array. */
function pack4(values: ArrayLike<number>, swap: boolean): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) {
    const v = values[i]! & 0xf;
    const high = (i & 1) === 1 ? !swap : swap;
    out[i >> 1]! |= high ? v << 4 : v;
  }
  return out;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT, FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

/** onnxconverter-common's convert_np_to_float16 clipping (min_positive_val 1e-7, max_finite_val 1e4), then rounding to half. */
function halfOf(values: Float32Array): Uint16Array {
  const clipped = values.map((x) => {
    const a = Math.abs(x);
    if (a > 0 && a < 1e-7) return Math.sign(x) * 1e-7;
    if (a > 1e4 && a < Infinity) return Math.sign(x) * 1e4;
    return x;
  });
  return toF16Array(clipped);
}

function tensorToF16(t: ITensorProto): void {
  if (t.dataType !== FLOAT) return;
  t.rawData = bytes(halfOf(floatsOf(t)));
  t.floatData = [];
  t.dataType = FLOAT16;
}

/** onnxconverter-common's DEFAULT_OP_BLOCK_LIST: ops it keeps in float32 behind Casts. */
const F16_BLOCKED = new Set(['ArrayFeatureExtractor', 'Binarizer', 'CastMap', 'CategoryMapper', 'DictVectorizer', 'FeatureVectorizer', 'Imputer', 'LabelEncoder', 'LinearClassifier', 'LinearRegressor', 'Normalizer', 'OneHotEncoder', 'RandomUniformLike', 'SVMClassifier', 'SVMRegressor', 'Scaler', 'TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'ZipMap', 'NonMaxSuppression', 'TopK', 'RoiAlign', 'Resize', 'Range', 'CumSum', 'Min', 'Max', 'Upsample']);

const castNode = (name: string, input: string, output: string, to: number) =>
  onnx.NodeProto.create({ opType: 'Cast', name, input: [input], output: [output], attribute: [intAttr('to', to)] });

interface Island {
  /** In graph order; the last one's output leaves the island. */
  nodes: onnxProto.onnx.INodeProto[];
  /** Tensors cast to float on the way in. */
  enter: string[];
  /** Constants (Constant outputs, initializers) used only inside: they stay float32. */
  constants: string[];
}

/** The RMSNorm statistics (x / sqrt(mean(x^2) + eps)) and Softmax nodes of an f32 graph. */
function float32Islands(g: onnxProto.onnx.IGraphProto): Island[] {
  const nodes = g.node ?? [];
  const consumers = (t: string) => nodes.filter((n) => (n.input ?? []).includes(t));
  const only = (t: string, op: string) => {
    const c = consumers(t);
    return c.length === 1 && c[0]!.opType === op ? c[0]! : null;
  };
  const constants = (ns: onnxProto.onnx.INodeProto[], enter: string[]) => ns.flatMap((n) => n.input ?? [])
    .filter((t) => !enter.includes(t) && !ns.some((n) => n.output?.includes(t)))
    .filter((t) => consumers(t).every((c) => ns.includes(c)));
  const out: Island[] = [];
  for (const pow of nodes.filter((n) => n.opType === 'Pow')) {
    const x = pow.input![0]!;
    const mean = only(pow.output![0]!, 'ReduceMean'), add = mean && only(mean.output![0]!, 'Add');
    const sqrt = add && only(add.output![0]!, 'Sqrt'), div = sqrt && only(sqrt.output![0]!, 'Div');
    if (!div || div.input![0] !== x) continue;
    const ns = [pow, mean!, add!, sqrt, div];
    out.push({ nodes: ns, enter: [x], constants: constants(ns, [x]) });
  }
  for (const sm of nodes.filter((n) => n.opType === 'Softmax')) out.push({ nodes: [sm], enter: [sm.input![0]!], constants: [] });
  return out;
}

/** Tensors known to be integers: non-float Constants, initializers and graph inputs, and Casts to an integer type. */
function integerTensors(g: onnxProto.onnx.IGraphProto): Set<string> {
  const isInt = (dt: number | null | undefined) => dt !== undefined && dt !== null && [2, 3, 4, 5, 6, 7, 12, 13].includes(Number(dt));
  const out = new Set<string>();
  for (const t of g.initializer ?? []) if (isInt(t.dataType)) out.add(t.name ?? '');
  for (const v of g.input ?? []) if (isInt(v.type?.tensorType?.elemType)) out.add(v.name ?? '');
  for (const n of g.node ?? []) {
    const y = n.output?.[0];
    if (!y) continue;
    if (n.opType === 'Constant' && isInt(n.attribute?.find((a) => a.name === 'value')?.t?.dataType)) out.add(y);
    if (n.opType === 'Cast' && isInt(Number(n.attribute?.find((a) => a.name === 'to')?.i))) out.add(y);
  }
  return out;
}

/**
 * The graph in float16, in place, as onnxconverter-common's convert_float_to_float16 with its
 * defaults (keep_io_types as asked). A node of its block list is refused rather than wrapped in
 * Casts (the decoders we convert have none).
 */
export function toFloat16(model: onnxProto.onnx.IModelProto, o: Float16Options = {}): void {
  const g = model.graph!;
  const islands = o.float32Islands ? float32Islands(g) : [];
  const keep = new Set(islands.flatMap((i) => i.constants));
  for (const t of g.initializer ?? []) if (!keep.has(t.name ?? '')) tensorToF16(t);
  // A blocked node on integers only (a PyTorch export's Range over int64 positions) is left as it
  // is, as the converter leaves it: it inserts Casts on float inputs only.
  const intTensors = integerTensors(g);
  for (const n of g.node ?? []) {
    if (F16_BLOCKED.has(n.opType ?? '') && !(n.input ?? []).every((i) => i === '' || intTensors.has(i))) {
      throw new Error(`toFloat16: node "${n.name}" (${n.opType}) would stay float32 behind Casts; not supported here`);
    }
    if (n.opType === 'Constant' && keep.has(n.output?.[0] ?? '')) continue;
    for (const a of n.attribute ?? []) {
      if (a.t) tensorToF16(a.t);
      for (const t of a.tensors ?? []) tensorToF16(t);
      if (a.g) throw new Error(`toFloat16: node "${n.name}" has a subgraph; not supported here`);
      if (n.opType === 'Cast' && a.name === 'to' && Number(a.i) === FLOAT) a.i = FLOAT16;
    }
  }
  for (const isl of islands) {
    const first = g.node!.indexOf(isl.nodes[0]!);
    for (const x of isl.enter) {
      for (const n of isl.nodes) n.input = n.input!.map((i) => (i === x ? `${x}_float` : i));
      g.node!.splice(first, 0, castNode(`${isl.nodes[0]!.name}/Cast_to_float`, x, `${x}_float`, FLOAT));
    }
    const last = isl.nodes[isl.nodes.length - 1]!, y = last.output![0]!;
    last.output = [`${y}_float`];
    g.node!.splice(g.node!.indexOf(last) + 1, 0, castNode(`${last.name}/Cast_to_float16`, `${y}_float`, y, FLOAT16));
  }
  const isFloat = (v: onnxProto.onnx.IValueInfoProto) => v.type?.tensorType?.elemType === FLOAT;
  const toHalf = (v: onnxProto.onnx.IValueInfoProto) => { v.type!.tensorType!.elemType = FLOAT16; };
  for (const v of g.valueInfo ?? []) if (isFloat(v)) toHalf(v);
  (g.input ?? []).forEach((v, i) => {
    if (!isFloat(v)) return;
    if (!o.keepIoTypes) return toHalf(v);
    const inner = `graph_input_cast_${i}`;
    for (const n of g.node ?? []) n.input = (n.input ?? []).map((x) => (x === v.name ? inner : x));
    g.node!.unshift(castNode(`graph_input_cast${i}`, v.name!, inner, FLOAT16));
  });
  (g.output ?? []).forEach((v, i) => {
    if (!isFloat(v)) return;
    if (!o.keepIoTypes) return toHalf(v);
    const inner = `graph_output_cast_${i}`;
    for (const n of g.node ?? []) {
      n.output = (n.output ?? []).map((x) => (x === v.name ? inner : x));
      n.input = (n.input ?? []).map((x) => (x === v.name ? inner : x));
    }
    g.node!.push(castNode(`graph_output_cast${i}`, inner, v.name!, FLOAT));
  });
}

/**
 * An f32 file converted to float16 (`toFloat16`), unquantized: transformers.js's model_fp16.onnx.
 * `file` may be a decoded model (`readOnnx`), which is then converted in place.
 */
export function float16Onnx(file: Uint8Array | onnxProto.onnx.ModelProto, o: Float16Options = {}): Uint8Array {
  const model = file instanceof Uint8Array ? onnx.ModelProto.decode(file) : file;
  toFloat16(model, o);
  return onnx.ModelProto.encode(model).finish();
}

const roundToHalf = (a: Float32Array) => Float32Array.from(halfOf(a), f16BitsToF32);

const scalesTensor = (name: string, half: boolean, dims: number[], scales: Float32Array) =>
  half ? tensor(name, FLOAT16, dims, bytes(halfOf(scales))) : tensor(name, FLOAT, dims, bytes(scales));

/**
 * The decoded model, with its external-data initializers read from `data` (one .onnx.data file)
 * into raw_data as views of `data` (no copy, nothing encoded: the whole may be over protobuf's 2 GB).
 */
export function readOnnx(file: Uint8Array, data?: Uint8Array): onnxProto.onnx.ModelProto {
  const model = onnx.ModelProto.decode(file);
  for (const t of model.graph!.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    if (!data) throw new Error(`readOnnx: initializer "${t.name}" is external data and no data file was given`);
    const kv = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
    const offset = Number(kv.get('offset') ?? 0), length = Number(kv.get('length'));
    if (!(offset + length <= data.length)) throw new Error(`readOnnx: initializer "${t.name}" (bytes ${offset}..${offset + length}) lies past the data's ${data.length} bytes`);
    t.rawData = data.subarray(offset, offset + length);
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  }
  return model;
}

/** The file with its external-data initializers read from `data` (one .onnx.data file) into raw_data. */
export function inlineExternalData(file: Uint8Array, data: Uint8Array): Uint8Array {
  // protobufjs writes a message over 2 GiB wrongly (names came out as NUL bytes): refuse it.
  if (file.length + data.length >= 2 ** 31) throw new Error(`inlineExternalData: ${file.length + data.length} bytes inline would pass protobuf's 2 GiB; use readOnnx and convert the decoded model`);
  return onnx.ModelProto.encode(readOnnx(file, data)).finish();
}

/** `file` may be a decoded model (`readOnnx`), which is then quantized in place. */
export function quantizeOnnx(file: Uint8Array | onnxProto.onnx.ModelProto, o: QuantizeOnnxOptions): QuantizedOnnx {
  const model = file instanceof Uint8Array ? onnx.ModelProto.decode(file) : file;
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const uses = new Map<string, number>();
  for (const n of g.node ?? []) for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  const drop = new Set<string>();
  const added: ITensorProto[] = [];
  const weights = new Map<string, BlockQuantized>();
  const newNodes: { at: onnxProto.onnx.INodeProto; node: onnxProto.onnx.INodeProto }[] = [];
  const { bits, blockSize: bs } = o;
  for (const n of g.node ?? []) {
    if ((n.domain ?? '') !== '') continue;
    if (n.opType === 'MatMul') {
      const w = inits.get(n.input?.[1] ?? '');
      if (!w || (w.dataType !== 1 && w.dataType !== 10) || w.dims?.length !== 2) continue;
      // A float16 graph (MatMulNBits with T = float16): its scales are halves too.
      const half = w.dataType === 10;
      const [K, N] = (w.dims as number[]).map(Number) as [number, number];
      const stored = floatsOf(w); // (K, N)
      if (o.qdq) {
        if (half) throw new Error(`quantizeOnnx: QDQ of the float16 weight "${w.name}" is not written here`);
        // One block per column: codes (N, 1, K); int8 stores code − 128 (zero point likewise).
        const hfq = new Float32Array(N * K);
        for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) hfq[j * K + k] = stored[k * N + j]!;
        const withZp = o.zeroPoints || o.qdq === 'uint8'; // uint8's default zero point is 0
        const q = quantizeBlockwise(hfq, N, K, 8, K, !withZp);
        const shift = o.qdq === 'int8' ? 128 : 0;
        const wq = new Uint8Array(K * N);
        for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) wq[k * N + j] = (q.codes[j * K + k]! - shift) & 0xff;
        const base = `${w.name}_QDQ`;
        const dt = o.qdq === 'int8' ? 3 : 2;
        added.push(tensor(`${base}_w`, dt, [K, N], wq), tensor(`${base}_scale`, 1, [N], bytes(q.scales)));
        const inputs = [`${base}_w`, `${base}_scale`];
        if (withZp) {
          added.push(tensor(`${base}_zero_point`, dt, [N], Uint8Array.from(q.zeros, (z) => (z - shift) & 0xff)));
          inputs.push(`${base}_zero_point`);
        }
        if (o.dynamic) {
          const x = n.input![0]!, y = n.output![0]!;
          newNodes.push(
            { at: n, node: { opType: 'DynamicQuantizeLinear', name: `${base}/DynamicQuantizeLinear`, input: [x], output: [`${base}_xq`, `${base}_xs`, `${base}_xzp`] } },
            { at: n, node: { opType: 'MatMulInteger', name: `${base}/MatMulInteger`, input: [`${base}_xq`, `${base}_w`, `${base}_xzp`, ...(withZp ? [`${base}_zero_point`] : [])], output: [`${base}_int`] } },
            { at: n, node: { opType: 'Cast', name: `${base}/Cast`, input: [`${base}_int`], output: [`${base}_float`], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] } },
            { at: n, node: { opType: 'Mul', name: `${base}/scales_mul`, input: [`${base}_xs`, `${base}_scale`], output: [`${base}_scales`] } },
          );
          n.opType = 'Mul';
          n.name = `${base}/output_mul`;
          n.input = [`${base}_float`, `${base}_scales`];
          n.output = [y];
        } else {
          newNodes.push({ at: n, node: { opType: 'DequantizeLinear', name: `${base}/DequantizeLinear`, input: inputs, output: [`${base}_deq`], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] } });
          n.input = [n.input![0]!, `${base}_deq`];
        }
        if ((uses.get(w.name!) ?? 0) === 1) drop.add(w.name!);
        weights.set(w.name!, q);
        continue;
      }
      const hf = new Float32Array(N * K);
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) hf[j * K + k] = stored[k * N + j]!;
      const q = quantizeBlockwise(hf, N, K, bits, bs, !o.zeroPoints);
      if (half) q.scales = roundToHalf(q.scales);
      weights.set(w.name!, q);
      const nb = nBlocksOf(K, bs);
      const base = `${w.name}_MatMulNBits`;
      let codes = q.codes;
      if (o.swapNibbles && bits === 4) codes = codes.map((b) => ((b & 0xf) << 4) | (b >> 4));
      added.push(tensor(`${base}_B`, 2, [N, nb, blobBytes(bits, bs)], codes));
      added.push(scalesTensor(`${base}_scales`, half, [N, nb], q.scales));
      const inputs = [n.input![0]!, `${base}_B`, `${base}_scales`];
      if (o.zeroPoints) {
        const rowBytes = Math.ceil((nb * bits) / 8);
        const zp = new Uint8Array(N * rowBytes);
        for (let r = 0; r < N; r++) {
          for (let b = 0; b < nb; b++) {
            const z = q.zeros[r * nb + b]!;
            if (bits === 8) zp[r * rowBytes + b] = z;
            else zp[r * rowBytes + (b >> 1)]! |= (b & 1) === 0 ? z : z << 4;
          }
        }
        added.push(tensor(`${base}_zero_points`, 2, [N, rowBytes], zp));
        inputs.push(`${base}_zero_points`);
      }
      if ((uses.get(w.name!) ?? 0) === 1) drop.add(w.name!);
      n.opType = 'MatMulNBits';
      n.domain = 'com.microsoft';
      n.input = inputs;
      n.attribute = [intAttr('K', K), intAttr('N', N), intAttr('bits', bits), intAttr('block_size', bs)];
    } else if (n.opType === 'Gather' && o.embedding) {
      const t = inits.get(n.input?.[0] ?? '');
      if (!t || (t.dataType !== 1 && t.dataType !== 10) || t.dims?.length !== 2 || inits.has(n.input?.[1] ?? '')) continue;
      const half = t.dataType === 10;
      const [V, C] = (t.dims as number[]).map(Number) as [number, number];
      const ebits: QuantBits = o.embedding === 'uint8' ? bits : 4;
      // int4 and uint8 take the default zero point when asked for none; uint4's default is 0, so it always has them.
      const withZp = o.zeroPoints || o.embedding === 'uint4';
      const q = quantizeBlockwise(floatsOf(t), V, C, ebits, bs, !withZp);
      if (half) q.scales = roundToHalf(q.scales);
      weights.set(t.name!, q);
      const nb = nBlocksOf(C, bs);
      const codes: number[] = [];
      for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) codes.push(codeAt(q, v, c) - (o.embedding === 'int4' ? 8 : 0));
      const base = `${t.name}_GatherBlockQuantized`;
      const swap = !!o.swapNibbles;
      let data: ITensorProto;
      if (o.embedding === 'uint8') {
        const rowBytes = (C * ebits) / 8;
        if (!Number.isInteger(rowBytes)) throw new Error('quantizeOnnx: uint8 tables need C · bits / 8 whole bytes');
        const raw = new Uint8Array(V * rowBytes);
        for (let v = 0; v < V; v++) raw.set(ebits === 8 ? codes.slice(v * C, (v + 1) * C) : pack4(codes.slice(v * C, (v + 1) * C), swap), v * rowBytes);
        data = tensor(`${base}_data`, 2, [V, rowBytes], raw);
      } else data = tensor(`${base}_data`, o.embedding === 'int4' ? 22 : 21, [V, C], pack4(codes, swap));
      added.push(data, scalesTensor(`${base}_scales`, half, [V, nb], q.scales));
      const inputs = [data.name!, n.input![1]!, `${base}_scales`];
      if (withZp) {
        const z = Array.from(q.zeros, (x) => x - (o.embedding === 'int4' ? 8 : 0));
        let zraw: Uint8Array;
        if (o.embedding === 'uint8') {
          const rowBytes = Math.ceil((nb * ebits) / 8);
          zraw = new Uint8Array(V * rowBytes);
          for (let v = 0; v < V; v++) zraw.set(ebits === 8 ? z.slice(v * nb, (v + 1) * nb) : pack4(z.slice(v * nb, (v + 1) * nb), false), v * rowBytes);
          added.push(tensor(`${base}_zero_points`, 2, [V, rowBytes], zraw));
        } else added.push(tensor(`${base}_zero_points`, o.embedding === 'int4' ? 22 : 21, [V, nb], pack4(z, false)));
        inputs.push(`${base}_zero_points`);
      }
      if ((uses.get(t.name!) ?? 0) === 1) drop.add(t.name!);
      n.opType = 'GatherBlockQuantized';
      n.domain = 'com.microsoft';
      n.input = inputs;
      n.attribute = [intAttr('gather_axis', 0), intAttr('quantize_axis', 1), intAttr('block_size', bs), intAttr('bits', ebits)];
    }
  }
  for (const { at, node } of newNodes) g.node!.splice(g.node!.indexOf(at), 0, onnx.NodeProto.create(node));
  g.initializer = [...(g.initializer ?? []).filter((t) => !drop.has(t.name ?? '')), ...added];
  if (!(model.opsetImport ?? []).some((x) => x.domain === 'com.microsoft')) model.opsetImport = [...(model.opsetImport ?? []), { domain: 'com.microsoft', version: 1 }];
  if (o.float16) {
    toFloat16(model, o.float16 === true ? {} : o.float16);
    // The file's scales are now halves: so are the canonical values.
    for (const q of weights.values()) q.scales = roundToHalf(q.scales);
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), weights };
}
