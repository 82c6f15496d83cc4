// Quantized weights in ONNX graphs (QLoRA bases), read as onnxruntime's contrib-op spec
// (docs/ContribOperators.md) and transformers.js's onnx-community exports write them:
//
//   com.microsoft.MatMulNBits(A, B, scales, zero_points?, g_idx?, bias?)  a linear layer
//       attributes K, N, bits (4 or 8 here; the spec also has 2), block_size (a power of two
//       ≥ 16; 16-256 here), accuracy_level (how A may be rounded inside: ignored, we compute in
//       f32), weight_prepacked (an EP-specific layout: refused);
//       B uint8 (N, ceil(K / block_size), block_size · bits / 8), codes packed low bits first
//       along K; K need not be a multiple of block_size (the last block is padded);
//       scales (N, k_blocks) or flat, float or float16;
//       zero_points packed uint8 (N, ceil(k_blocks · bits / 8)) or unpacked float (N, k_blocks);
//       absent: 2^(bits-1)
//   com.microsoft.GatherBlockQuantized(data, indices, scales, zero_points?)  the token embedding
//       attributes gather_axis (0), quantize_axis (the last), block_size (default 128), bits
//       (default 4); data uint4 / int4 (V, C), or uint8 (V, C · bits / 8) with bits 4 or 8
//       packed along the row, low bits first; scales (V, ceil(C / block_size)); zero_points of
//       data's type; absent: 0 for int4/uint4, 2^(bits-1) for uint8
//   DequantizeLinear(w, scale, zero_point?) feeding MatMul's weight (QDQ exports)
//       w int8 / uint8 (K, N) as MatMul reads it; scale a scalar (per tensor) or (N) with axis 1
//       (per output column); zero_point likewise, of w's type, default 0; blocked
//       (block_size, opset 21) and per-input-row (axis 0) scales are refused
//   MatMulInteger(DynamicQuantizeLinear(x), w, x_zero_point, w_zero_point) · (x_scale · w_scale)
//       onnxruntime's quantize_dynamic (transformers.js's model_int8 / model_uint8 /
//       model_quantized): w int8 / uint8 (K, N), w_scale and w_zero_point per tensor or per
//       column. The weight is read like DequantizeLinear's; the activations are NOT quantized
//       here (the engine computes x · dequantize(w) in f32, the finer of the two), so logits
//       differ from onnxruntime's by its activation rounding
//
// All become the engine's one block-quantized format (src/engine/blockq.ts), kept packed on the
// GPU. Every inconsistency is a ModelLoadError naming the file, the node and the tensor.

import { blobBytes, nBlocksOf, type BlockQuantized, type QuantBits } from '../blockq.js';
import { ModelLoadError } from './errors.js';
import { decodeFloats, numel, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx.js';

export interface QuantSpec {
  op: 'MatMulNBits' | 'GatherBlockQuantized' | 'DequantizeLinear' | 'MatMulInteger';
  node: OnnxNode;
  bits: QuantBits;
  blockSize: number;
  /** Rows (N, or V) and the quantized axis (K, or C). */
  rows: number;
  cols: number;
  data: OnnxTensor;
  scales: OnnxTensor;
  zeroPoints: OnnxTensor | null;
  /** data holds two's-complement int4 codes (GatherBlockQuantized int4). */
  signed: boolean;
}

/** Block sizes the kernels take (the spec allows any power of two ≥ 16). */
const MAX_BLOCK = 256;

const label = (n: OnnxNode) => `"${n.name || `#${n.index}`}"`;

function fail(g: OnnxGraph, n: OnnxNode, what: string, details: Record<string, unknown> = {}): ModelLoadError {
  return new ModelLoadError('quantized', `${g.file}: node ${label(n)} (com.microsoft.${n.opType}) ${what}`, { file: g.file, node: n.name, op: n.opType, ...details });
}

function intAttr(g: OnnxGraph, n: OnnxNode, name: string, fallback?: number): number {
  const v = n.attrs.get(name);
  if (v === undefined) {
    if (fallback === undefined) throw fail(g, n, `has no ${name} attribute, which the spec requires`, { attribute: name });
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw fail(g, n, `has ${name} = ${JSON.stringify(v)}, not an integer`, { attribute: name });
  return v;
}

function checkBlock(g: OnnxGraph, n: OnnxNode, bs: number): void {
  if (bs < 16 || (bs & (bs - 1)) !== 0) throw fail(g, n, `has block_size ${bs}; the spec requires a power of two, at least 16`, { attribute: 'block_size', value: bs });
  if (bs > MAX_BLOCK) throw fail(g, n, `has block_size ${bs}; this engine reads blocks of 16 to ${MAX_BLOCK}`, { attribute: 'block_size', value: bs });
}

const FLOATS = new Set(['float32', 'float16', 'bfloat16']);

/**
 * The spec of a MatMulNBits node, checked: attributes, B's shape, scales' and zero points' lengths
 * and types. `constOf` finds an input's initializer or Constant.
 */
export function matMulNBitsSpec(g: OnnxGraph, n: OnnxNode, constOf: (t: string) => OnnxTensor | undefined): QuantSpec {
  const K = intAttr(g, n, 'K'), N = intAttr(g, n, 'N');
  const bits = intAttr(g, n, 'bits', 4);
  const bs = intAttr(g, n, 'block_size');
  if (K < 1 || N < 1) throw fail(g, n, `has K = ${K}, N = ${N}; both must be positive`);
  if (bits !== 4 && bits !== 8) throw fail(g, n, `has bits = ${bits}; this engine reads 4- and 8-bit weights`, { attribute: 'bits', value: bits });
  checkBlock(g, n, bs);
  const prepacked = intAttr(g, n, 'weight_prepacked', 0);
  if (prepacked !== 0) throw fail(g, n, `has weight_prepacked = ${prepacked}, an execution provider's private layout; export it unprepacked`, { attribute: 'weight_prepacked', value: prepacked });
  for (const a of n.attrs.keys()) {
    if (!['K', 'N', 'bits', 'block_size', 'accuracy_level', 'weight_prepacked'].includes(a)) throw fail(g, n, `has the attribute ${a}, which the MatMulNBits spec does not define`, { attribute: a });
  }
  if (n.inputs[4]) throw fail(g, n, 'has a g_idx input (act-order group indices), which the spec deprecates and this engine does not read', { input: 'g_idx' });
  const B = constOf(n.inputs[1] ?? '');
  const scales = constOf(n.inputs[2] ?? '');
  if (!B) throw fail(g, n, 'reads B from a computed tensor; quantized weights must be initializers');
  if (!scales) throw fail(g, n, 'reads scales from a computed tensor; they must be initializers');
  const nb = nBlocksOf(K, bs), blob = blobBytes(bits as QuantBits, bs);
  if (B.dtype !== 'uint8') throw fail(g, n, `has B "${B.name}" of ${B.dtype}; the spec says uint8`, { tensor: B.name });
  if (B.dims.join() !== [N, nb, blob].join()) {
    throw fail(g, n, `has B "${B.name}" of shape [${B.dims.join(', ')}]; K = ${K}, N = ${N} in blocks of ${bs} at ${bits} bits need [${N}, ${nb}, ${blob}]`, { tensor: B.name, expected: [N, nb, blob], actual: B.dims });
  }
  if (!FLOATS.has(scales.dtype)) throw fail(g, n, `has scales "${scales.name}" of ${scales.dtype}; float or float16 expected`, { tensor: scales.name });
  if (numel(scales.dims) !== N * nb) {
    throw fail(g, n, `has ${numel(scales.dims)} scales ("${scales.name}", [${scales.dims.join(', ')}]); N = ${N} rows of ${nb} blocks need ${N * nb}`, { tensor: scales.name, expected: N * nb, actual: numel(scales.dims) });
  }
  let zp: OnnxTensor | null = null;
  if (n.inputs[3]) {
    zp = constOf(n.inputs[3]) ?? null;
    if (!zp) throw fail(g, n, 'reads zero_points from a computed tensor; they must be initializers');
    const want = zp.dtype === 'uint8' ? N * Math.ceil((nb * bits) / 8) : N * nb;
    if (zp.dtype !== 'uint8' && !FLOATS.has(zp.dtype)) throw fail(g, n, `has zero_points "${zp.name}" of ${zp.dtype}; uint8 (packed) or float expected`, { tensor: zp.name });
    if (numel(zp.dims) !== want) {
      throw fail(g, n, `has ${numel(zp.dims)} zero points ("${zp.name}", [${zp.dims.join(', ')}]); ${zp.dtype === 'uint8' ? 'packed ' : ''}${N} rows of ${nb} blocks need ${want}`, { tensor: zp.name, expected: want, actual: numel(zp.dims) });
    }
  }
  return { op: 'MatMulNBits', node: n, bits: bits as QuantBits, blockSize: bs, rows: N, cols: K, data: B, scales, zeroPoints: zp, signed: false };
}

/** Block size the engine gives an 8-bit per-tensor / per-column weight (any size holds one scale per row). */
const DQL_BLOCK = 32;

function fail0(g: OnnxGraph, n: OnnxNode, what: string, details: Record<string, unknown> = {}): ModelLoadError {
  return new ModelLoadError('quantized', `${g.file}: node ${label(n)} (${n.opType}) ${what}`, { file: g.file, node: n.name, op: n.opType, ...details });
}

/**
 * The spec of a MatMulInteger's weight: w = input 1, its zero point input 3, its scale the
 * constant `scale` found beside the activation scale (graph.ts), checked as DequantizeLinear's.
 */
export function matMulIntegerSpec(g: OnnxGraph, n: OnnxNode, scale: string, constOf: (t: string) => OnnxTensor | undefined): QuantSpec {
  const s = dequantizeLinearSpec(g, { ...n, inputs: [n.inputs[1] ?? '', scale, n.inputs[3] ?? ''], attrs: new Map() }, constOf);
  return { ...s, op: 'MatMulInteger', node: n };
}

/** The spec of a DequantizeLinear node whose output is a MatMul's weight, checked. */
export function dequantizeLinearSpec(g: OnnxGraph, n: OnnxNode, constOf: (t: string) => OnnxTensor | undefined): QuantSpec {
  const w = constOf(n.inputs[0] ?? '');
  const scale = constOf(n.inputs[1] ?? '');
  if (!w || !scale) throw fail0(g, n, 'reads its weight or scale from a computed tensor; they must be initializers');
  if (w.dtype !== 'int8' && w.dtype !== 'uint8') throw fail0(g, n, `dequantizes "${w.name}" of ${w.dtype}; this engine reads int8 and uint8 weights this way (4-bit ones as MatMulNBits)`, { tensor: w.name });
  if (w.dims.length !== 2) throw fail0(g, n, `dequantizes "${w.name}" of rank ${w.dims.length}; a linear weight is 2-D`, { tensor: w.name });
  for (const a of n.attrs.keys()) if (!['axis', 'block_size', 'output_dtype'].includes(a)) throw fail0(g, n, `has the attribute ${a}, which the DequantizeLinear spec does not define`, { attribute: a });
  const block = n.attrs.get('block_size');
  if (typeof block === 'number' && block !== 0) throw fail0(g, n, `has block_size ${block} (blocked quantization); this engine reads per-tensor and per-column scales here`, { attribute: 'block_size', value: block });
  const [K, N] = w.dims as [number, number];
  const axis = n.attrs.get('axis') ?? 1;
  const count = numel(scale.dims);
  if (!FLOATS.has(scale.dtype)) throw fail0(g, n, `has scale "${scale.name}" of ${scale.dtype}; float or float16 expected`, { tensor: scale.name });
  if (count !== 1) {
    if (axis !== 1 && axis !== -1) throw fail0(g, n, `scales "${w.name}" along axis ${String(axis)} (per input row); this engine reads per-tensor or per-output-column (axis 1) scales`, { attribute: 'axis', value: axis });
    if (count !== N) throw fail0(g, n, `has ${count} scales ("${scale.name}"); per column of "${w.name}" [${K}, ${N}] needs ${N}`, { tensor: scale.name, expected: N, actual: count });
  }
  let zp: OnnxTensor | null = null;
  if (n.inputs[2]) {
    zp = constOf(n.inputs[2]) ?? null;
    if (!zp) throw fail0(g, n, 'reads its zero point from a computed tensor; it must be an initializer');
    if (zp.dtype !== w.dtype) throw fail0(g, n, `has zero point "${zp.name}" of ${zp.dtype}; the spec wants the weight's type, ${w.dtype}`, { tensor: zp.name });
    if (numel(zp.dims) !== count) throw fail0(g, n, `has ${numel(zp.dims)} zero points ("${zp.name}") for ${count} scales`, { tensor: zp.name, expected: count, actual: numel(zp.dims) });
  }
  return { op: 'DequantizeLinear', node: n, bits: 8, blockSize: DQL_BLOCK, rows: N, cols: K, data: w, scales: scale, zeroPoints: zp, signed: w.dtype === 'int8' };
}

/** The spec of a GatherBlockQuantized node used as an embedding (gather rows, quantized along them), checked. */
export function gatherBlockQuantizedSpec(g: OnnxGraph, n: OnnxNode, constOf: (t: string) => OnnxTensor | undefined): QuantSpec {
  const data = constOf(n.inputs[0] ?? '');
  const scales = constOf(n.inputs[2] ?? '');
  if (!data || !scales) throw fail(g, n, 'reads its data or scales from a computed tensor; they must be initializers');
  if (data.dims.length !== 2) throw fail(g, n, `has data "${data.name}" of rank ${data.dims.length}; an embedding table is 2-D`, { tensor: data.name });
  for (const a of n.attrs.keys()) {
    if (!['gather_axis', 'quantize_axis', 'block_size', 'bits'].includes(a)) throw fail(g, n, `has the attribute ${a}, which the GatherBlockQuantized spec does not define`, { attribute: a });
  }
  const gatherAxis = intAttr(g, n, 'gather_axis', 0);
  const quantAxis = intAttr(g, n, 'quantize_axis', 1);
  if (gatherAxis !== 0 && gatherAxis !== -2) throw fail(g, n, `has gather_axis = ${gatherAxis}; an embedding gathers rows (0)`, { attribute: 'gather_axis', value: gatherAxis });
  if (quantAxis !== 1 && quantAxis !== -1) throw fail(g, n, `has quantize_axis = ${quantAxis}; this engine reads tables quantized along their rows (the last axis)`, { attribute: 'quantize_axis', value: quantAxis });
  const bs = intAttr(g, n, 'block_size', 128);
  checkBlock(g, n, bs);
  let bits: number;
  let cols: number;
  const V = data.dims[0]!;
  if (data.dtype === 'uint4' || data.dtype === 'int4') {
    bits = intAttr(g, n, 'bits', 4);
    if (bits !== 4) throw fail(g, n, `has bits = ${bits} with ${data.dtype} data`, { attribute: 'bits', value: bits });
    cols = data.dims[1]!;
  } else if (data.dtype === 'uint8') {
    bits = intAttr(g, n, 'bits', 4);
    if (bits !== 4 && bits !== 8) throw fail(g, n, `has bits = ${bits}; this engine reads 4- and 8-bit tables`, { attribute: 'bits', value: bits });
    cols = (data.dims[1]! * 8) / bits;
  } else throw fail(g, n, `has data "${data.name}" of ${data.dtype}; int4, uint4 or uint8 expected`, { tensor: data.name });
  const nb = nBlocksOf(cols, bs);
  if (!FLOATS.has(scales.dtype)) throw fail(g, n, `has scales "${scales.name}" of ${scales.dtype}; float or float16 expected`, { tensor: scales.name });
  if (numel(scales.dims) !== V * nb) {
    throw fail(g, n, `has ${numel(scales.dims)} scales ("${scales.name}", [${scales.dims.join(', ')}]); ${V} rows of ${cols} in blocks of ${bs} need [${V}, ${nb}]`, { tensor: scales.name, expected: V * nb, actual: numel(scales.dims) });
  }
  let zp: OnnxTensor | null = null;
  if (n.inputs[3]) {
    zp = constOf(n.inputs[3]) ?? null;
    if (!zp) throw fail(g, n, 'reads zero_points from a computed tensor; they must be initializers');
    if (zp.dtype !== data.dtype) throw fail(g, n, `has zero_points "${zp.name}" of ${zp.dtype}; the spec wants data's type, ${data.dtype}`, { tensor: zp.name });
    const want = data.dtype === 'uint8' ? V * Math.ceil((nb * bits) / 8) : V * nb;
    const have = data.dtype === 'uint8' ? numel(zp.dims) : numel(zp.dims);
    if (have !== want) throw fail(g, n, `has ${have} zero points ("${zp.name}", [${zp.dims.join(', ')}]); ${V} rows of ${nb} blocks need ${want}`, { tensor: zp.name, expected: want, actual: have });
  }
  return { op: 'GatherBlockQuantized', node: n, bits: bits as QuantBits, blockSize: bs, rows: V, cols, data, scales, zeroPoints: zp, signed: data.dtype === 'int4' };
}

/**
 * The engine's block-quantized weight from a spec and its tensors' bytes: rows [start, start +
 * count) (one part of a packed q|k|v or gate|up), codes re-laid in MatMulNBits blobs, zero points
 * unpacked (defaults filled in, int4 codes shifted to unsigned).
 */
export function toBlockQuantized(spec: QuantSpec, bytesOf: (t: OnnxTensor) => Uint8Array, rows?: { start: number; count: number }): BlockQuantized {
  const { bits, blockSize: bs, cols: K } = spec;
  const start = rows?.start ?? 0, N = rows?.count ?? spec.rows;
  const nb = nBlocksOf(K, bs), blob = blobBytes(bits, bs);
  const data = bytesOf(spec.data);
  const codes = new Uint8Array(N * nb * blob);
  if (spec.op === 'DequantizeLinear' || spec.op === 'MatMulInteger') {
    // w (K, N): column n is row n; int8 codes c become c + 128 (flip the top bit) with their zero points.
    const flip = spec.signed ? 0x80 : 0;
    const total = spec.rows;
    for (let r = 0; r < N; r++) for (let k = 0; k < K; k++) codes[(r * nb + Math.floor(k / bs)) * blob + (k % bs)] = data[k * total + start + r]! ^ flip;
    const sc = decodeFloats(spec.scales.dtype, bytesOf(spec.scales));
    const zb = spec.zeroPoints ? bytesOf(spec.zeroPoints) : null;
    const scales = new Float32Array(N * nb), zeros = new Float32Array(N * nb);
    for (let r = 0; r < N; r++) {
      const i = sc.length === 1 ? 0 : start + r;
      const z = zb ? zb[i]! ^ flip : flip;
      scales.fill(sc[i]!, r * nb, (r + 1) * nb);
      zeros.fill(z, r * nb, (r + 1) * nb);
    }
    return { bits, blockSize: bs, rows: N, cols: K, codes, scales, zeros };
  }
  if (spec.op === 'MatMulNBits') {
    codes.set(data.subarray(start * nb * blob, (start + N) * nb * blob));
  } else {
    // Rows of K codes back to back (4-bit: two per byte over the flattened tensor), into padded
    // blocks; int4 codes c become c + 8 (flip the nibble's top bit) with their zero points.
    const flip = spec.signed ? 8 : 0;
    for (let r = 0; r < N; r++) {
      for (let k = 0; k < K; k++) {
        const e = (start + r) * K + k;
        const c = bits === 8 ? data[e]! : ((data[e >> 1]! >> ((e & 1) * 4)) & 0xf) ^ flip;
        const at = (r * nb + Math.floor(k / bs)) * blob;
        const within = k % bs;
        if (bits === 8) codes[at + within] = c;
        else codes[at + (within >> 1)]! |= (within & 1) === 0 ? c : c << 4;
      }
    }
  }
  const allScales = decodeFloats(spec.scales.dtype, bytesOf(spec.scales));
  const scales = Float32Array.from(allScales.subarray(start * nb, (start + N) * nb));
  const zeros = new Float32Array(N * nb);
  const zp = spec.zeroPoints;
  if (!zp) {
    zeros.fill(spec.op === 'GatherBlockQuantized' && spec.data.dtype !== 'uint8' ? (spec.signed ? 8 : 0) : 2 ** (bits - 1));
  } else if (zp.dtype === 'uint8' && spec.op === 'MatMulNBits') {
    // Packed per row: ceil(nb · bits / 8) bytes, block b at bits b·bits.
    const zb = bytesOf(zp), rowBytes = Math.ceil((nb * bits) / 8);
    for (let r = 0; r < N; r++) {
      for (let b = 0; b < nb; b++) {
        const byte = zb[(start + r) * rowBytes + ((b * bits) >> 3)]!;
        zeros[r * nb + b] = bits === 8 ? byte : (byte >> ((b & 1) * 4)) & 0xf;
      }
    }
  } else if (FLOATS.has(zp.dtype)) {
    zeros.set(decodeFloats(zp.dtype, bytesOf(zp)).subarray(start * nb, (start + N) * nb));
  } else {
    // GatherBlockQuantized: data's type; uint8 packs along each row, 4-bit types over the flat tensor.
    const zb = bytesOf(zp);
    const rowBytes = Math.ceil((nb * bits) / 8);
    for (let r = 0; r < N; r++) {
      for (let b = 0; b < nb; b++) {
        let z: number;
        if (zp.dtype === 'uint8') {
          const byte = zb[(start + r) * rowBytes + ((b * bits) >> 3)]!;
          z = bits === 8 ? byte : (byte >> ((b & 1) * 4)) & 0xf;
        } else {
          const e = (start + r) * nb + b;
          z = ((zb[e >> 1]! >> ((e & 1) * 4)) & 0xf) ^ (spec.signed ? 8 : 0);
        }
        zeros[r * nb + b] = z;
      }
    }
  }
  return { bits, blockSize: bs, rows: N, cols: K, codes, scales, zeros };
}
