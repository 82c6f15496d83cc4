// A LoRA adapter as llama.cpp loads it (`llama-cli -m base.gguf --lora adapter.gguf`), laid out as
// its convert_lora_to_gguf.py writes one. npm has a maintained GGUF reader (@huggingface/gguf,
// used by the tests) but no writer of whole files, so it is written here by hand:
//
//   GGUF v3 (ggml docs/gguf.md), little-endian:
//     "GGUF"  u32 version = 3  u64 tensor_count  u64 kv_count
//     kv_count × { string key, u32 value_type, value }     string = u64 length + UTF-8 bytes
//     tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//     zero padding to general.alignment (32), then the tensor data; each offset is relative to
//     the start of the data and aligned to 32, so each tensor's bytes are padded to 32.
//   ne[] lists dimensions fastest-varying first: a row-major numpy array (r, in) has ne = [in, r].
//
// What convert_lora_to_gguf.py writes for an adapter: general.architecture (llama.cpp's name for
// the base: llama, qwen2, gpt2), general.type = "adapter", adapter.type = "lora",
// adapter.lora.alpha (f32), and for each targeted base tensor <gguf name>.weight the pair
// <name>.weight.lora_a = A (r, in) → ne [in, r] and <name>.weight.lora_b = B (out, r) → ne [r, out],
// in f32 (default --outtype) or f16. llama.cpp (llama-adapter.cpp) checks a.ne[0] == base.ne[0],
// b.ne[1] == base.ne[1], a.ne[1] == b.ne[0] (= r) and scales by alpha / r, r read from the tensors.
//
// rsLoRA (PEFT scale alpha / sqrt(r)) is folded into the alpha written: alpha·sqrt(r) / r =
// alpha / sqrt(r), so the tensors stay exactly PEFT's. (The Python script ignores use_rslora.)
// GPT-2: the script transposes Conv1D weights and, with them, swaps the LoRA factors, which gives
// shapes llama.cpp rejects for c_attn and c_fc; we write the factors in the orientation
// llama.cpp's check and its matmul expect (the base tensor in GGUF is [out, in] like nn.Linear).

import { METHODS, type MethodId } from '../methods/registry.js';
import { f32ToF16Bits } from '../f16.js';
import type { Family } from '../model/recognize.js';
import { ggufArchitecture, type AdapterModule } from './modules.js';

export const GGUF_ALIGNMENT = 32;
const enum ValueType {
  UINT32 = 4,
  FLOAT32 = 6,
  STRING = 8,
}
/** ggml_type codes. */
const GGML_TYPE = { f32: 0, f16: 1 } as const;
/** llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1. */
const FILE_TYPE = { f32: 0, f16: 1 } as const;

type KvValue = { type: ValueType.STRING; value: string } | { type: ValueType.UINT32 | ValueType.FLOAT32; value: number };

export interface GgufLoraOptions {
  family: Family;
  /** lora_alpha from adapter_config.json. */
  alpha: number;
  r: number;
  useRslora: boolean;
  /** Tensor type (default f32, as convert_lora_to_gguf.py's default --outtype). */
  dtype?: 'f32' | 'f16';
  name?: string;
  /** The method it was trained with, when known: named in general.description. */
  method?: MethodId;
}

class ByteSink {
  private parts: Uint8Array[] = [];
  size = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.byteLength;
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  f32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
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
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

function tensorBytes(v: Float32Array, dtype: 'f32' | 'f16'): Uint8Array {
  const b = new Uint8Array(v.length * (dtype === 'f32' ? 4 : 2));
  const view = new DataView(b.buffer);
  for (let i = 0; i < v.length; i++) {
    if (dtype === 'f32') view.setFloat32(4 * i, v[i]!, true);
    else view.setUint16(2 * i, f32ToF16Bits(v[i]!), true);
  }
  return b;
}

/** The alpha to write so that llama.cpp's alpha / r gives PEFT's scale. */
export function ggufAlpha(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha * Math.sqrt(r) : alpha;
}

/** The GGUF file of a LoRA adapter's modules (from adapterModules). */
export function ggufLoraAdapter(modules: readonly AdapterModule[], options: GgufLoraOptions): Uint8Array {
  const dtype = options.dtype ?? 'f32';
  const r = options.r;
  const kv: [string, KvValue][] = [
    ['general.architecture', { type: ValueType.STRING, value: ggufArchitecture(options.family) }],
    ['general.type', { type: ValueType.STRING, value: 'adapter' }],
    ['general.name', { type: ValueType.STRING, value: options.name ?? 'PrefStudio LoRA adapter' }],
    ...(options.method
      ? ([['general.description', { type: ValueType.STRING, value: `LoRA adapter trained with ${METHODS[options.method].label} in PrefStudio: ${METHODS[options.method].summary}` }]] as [string, KvValue][])
      : []),
    ['general.file_type', { type: ValueType.UINT32, value: FILE_TYPE[dtype] }],
    ['general.quantization_version', { type: ValueType.UINT32, value: 2 }],
    ['adapter.type', { type: ValueType.STRING, value: 'lora' }],
    ['adapter.lora.alpha', { type: ValueType.FLOAT32, value: ggufAlpha(options.alpha, r, options.useRslora) }],
  ];
  const tensors: { name: string; ne: number[]; data: Uint8Array }[] = [];
  for (const m of modules) {
    const { inFeatures, outFeatures } = m.slot;
    tensors.push({ name: `${m.slot.gguf}.weight.lora_a`, ne: [inFeatures, r], data: tensorBytes(m.a, dtype) });
    tensors.push({ name: `${m.slot.gguf}.weight.lora_b`, ne: [r, outFeatures], data: tensorBytes(m.b, dtype) });
  }

  const out = new ByteSink();
  out.push(new TextEncoder().encode('GGUF'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(kv.length);
  for (const [key, v] of kv) {
    out.string(key);
    out.u32(v.type);
    if (v.type === ValueType.STRING) out.string(v.value);
    else if (v.type === ValueType.UINT32) out.u32(v.value);
    else out.f32(v.value);
  }
  let offset = 0;
  for (const t of tensors) {
    out.string(t.name);
    out.u32(t.ne.length);
    for (const d of t.ne) out.u64(d);
    out.u32(GGML_TYPE[dtype]);
    out.u64(offset);
    offset += Math.ceil(t.data.byteLength / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  }
  out.pad(GGUF_ALIGNMENT);
  for (const t of tensors) {
    out.push(t.data);
    out.pad(GGUF_ALIGNMENT);
  }
  return out.bytes();
}
