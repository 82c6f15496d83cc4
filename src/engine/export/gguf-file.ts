// The GGUF container, written by hand (npm has a maintained reader, @huggingface/gguf, used by the
// tests, but no writer of whole files): the LoRA adapter (gguf.ts) and the whole model
// (gguf-model.ts) are both a list of key/values and a list of tensors.
//
//   GGUF v3 (ggml docs/gguf.md), little-endian:
//     "GGUF"  u32 version = 3  u64 tensor_count  u64 kv_count
//     kv_count × { string key, u32 value_type, value }     string = u64 length + UTF-8 bytes
//       array value = u32 element type, u64 count, the elements
//     tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//     zero padding to general.alignment (32), then the tensor data; each offset is relative to
//     the start of the data and aligned to 32, so each tensor's bytes are padded to 32.
//   ne[] lists dimensions fastest-varying first: a row-major (rows, cols) array has ne = [cols, rows].
//
// Tensor types: f32, f16 and q8_0. Q8_0 (ggml-quants.c quantize_row_q8_0_ref, gguf-py quants.py):
// blocks of 32 values along a row, each an f16 scale d = max|x| / 127 and 32 int8 round(x / d)
// (round half away from zero); a row whose length is not a multiple of 32 cannot be Q8_0.

import { f16BitsToF32, f32ToF16Bits } from '../f16.js';

export const GGUF_ALIGNMENT = 32;
export const Q8_0_BLOCK = 32;

/** gguf value types. */
const VT = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;

export type GgufValue =
  | { type: 'string'; value: string }
  | { type: 'u32' | 'i32' | 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'i32[]' | 'f32[]'; value: ArrayLike<number> };

export const str = (value: string): GgufValue => ({ type: 'string', value });
export const u32 = (value: number): GgufValue => ({ type: 'u32', value });
export const f32 = (value: number): GgufValue => ({ type: 'f32', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });

/** ggml_type codes. */
export const GGML_TYPE = { f32: 0, f16: 1, q8_0: 8 } as const;
export type GgmlType = keyof typeof GGML_TYPE;

export interface GgufTensor {
  name: string;
  /** Row-major shape, slowest first ([rows, cols] for a matrix); written reversed as ne. */
  shape: number[];
  type: GgmlType;
  data: Float32Array;
}

/** A GGUF file as chunks (nothing needs one buffer of the whole model). */
export interface GgufBytes {
  size: number;
  chunks: Uint8Array[];
}

class ByteSink {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  push(b: Uint8Array): void {
    if (b.byteLength === 0) return;
    this.chunks.push(b);
    this.size += b.byteLength;
  }
  private scalar(n: number, set: (v: DataView) => void): void {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u32(v: number): void {
    this.scalar(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): void {
    this.scalar(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: number | bigint): void {
    this.scalar(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  f32(v: number): void {
    this.scalar(4, (d) => d.setFloat32(0, v, true));
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.push(b);
  }
  pad(align: number): void {
    const n = (align - (this.size % align)) % align;
    if (n) this.push(new Uint8Array(n));
  }
}

function writeValue(out: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case 'string':
      out.u32(VT.string);
      out.string(v.value);
      return;
    case 'u32':
      out.u32(VT.u32);
      out.u32(v.value);
      return;
    case 'i32':
      out.u32(VT.i32);
      out.i32(v.value);
      return;
    case 'f32':
      out.u32(VT.f32);
      out.f32(v.value);
      return;
    case 'bool':
      out.u32(VT.bool);
      out.push(Uint8Array.of(v.value ? 1 : 0));
      return;
    case 'string[]':
      out.u32(VT.array);
      out.u32(VT.string);
      out.u64(v.value.length);
      for (const s of v.value) out.string(s);
      return;
    case 'i32[]':
    case 'f32[]': {
      out.u32(VT.array);
      out.u32(v.type === 'i32[]' ? VT.i32 : VT.f32);
      out.u64(v.value.length);
      const b = new Uint8Array(4 * v.value.length);
      const d = new DataView(b.buffer);
      for (let i = 0; i < v.value.length; i++) {
        if (v.type === 'i32[]') d.setInt32(4 * i, v.value[i]!, true);
        else d.setFloat32(4 * i, v.value[i]!, true);
      }
      out.push(b);
      return;
    }
  }
}

/** Whether a tensor with rows of `cols` values can be stored as `type`. */
export function canStore(type: GgmlType, cols: number): boolean {
  return type !== 'q8_0' || cols % Q8_0_BLOCK === 0;
}

/** Round half away from zero, as C's roundf (Math.round rounds -2.5 to -2). */
const roundf = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

/** Q8_0 blocks of `v` (length a multiple of 32): per block f16 d, then 32 int8. */
export function quantizeQ8_0(v: Float32Array): Uint8Array {
  if (v.length % Q8_0_BLOCK !== 0) throw new Error(`q8_0: ${v.length} values are not whole blocks of ${Q8_0_BLOCK}`);
  const blocks = v.length / Q8_0_BLOCK;
  const out = new Uint8Array(blocks * (2 + Q8_0_BLOCK));
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(v[b * Q8_0_BLOCK + j]!));
    const d = Math.fround(amax / 127);
    const at = b * (2 + Q8_0_BLOCK);
    view.setUint16(at, f32ToF16Bits(d), true);
    for (let j = 0; j < Q8_0_BLOCK; j++) view.setInt8(at + 2 + j, d === 0 ? 0 : roundf(Math.fround(v[b * Q8_0_BLOCK + j]! / d)));
  }
  return out;
}

/** Q8_0 back to f32 (d · q), for tests and checks. */
export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / Q8_0_BLOCK; b++) {
    const at = b * (2 + Q8_0_BLOCK);
    const h = view.getUint16(at, true);
    const d = f16BitsToF32(h);
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * view.getInt8(at + 2 + j);
  }
  return out;
}

export function tensorBytes(t: GgufTensor): Uint8Array {
  const v = t.data;
  if (t.type === 'q8_0') {
    if (!canStore('q8_0', t.shape.at(-1)!)) throw new Error(`GGUF: ${t.name} has rows of ${t.shape.at(-1)} values; q8_0 needs a multiple of ${Q8_0_BLOCK}`);
    return quantizeQ8_0(v);
  }
  if (t.type === 'f32') return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer);
  const h = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) h[i] = f32ToF16Bits(v[i]!);
  return new Uint8Array(h.buffer);
}

/** The whole file. Tensor data is encoded one tensor at a time. */
export function ggufFile(kv: readonly (readonly [string, GgufValue])[], tensors: readonly GgufTensor[]): GgufBytes {
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`GGUF: tensor ${t.name} twice`);
    names.add(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`GGUF: tensor ${t.name} has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
  }
  const data = tensors.map(tensorBytes);
  const out = new ByteSink();
  out.push(new TextEncoder().encode('GGUF'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(kv.length);
  for (const [key, v] of kv) {
    out.string(key);
    writeValue(out, v);
  }
  let offset = 0;
  tensors.forEach((t, i) => {
    out.string(t.name);
    out.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) out.u64(d);
    out.u32(GGML_TYPE[t.type]);
    out.u64(offset);
    offset += Math.ceil(data[i]!.byteLength / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  });
  out.pad(GGUF_ALIGNMENT);
  for (const d of data) {
    out.push(d);
    out.pad(GGUF_ALIGNMENT);
  }
  return { size: out.size, chunks: out.chunks };
}

/** The chunks in one buffer (small files: adapters, tests). */
export function concatChunks(g: GgufBytes): Uint8Array {
  const out = new Uint8Array(g.size);
  let at = 0;
  for (const c of g.chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
