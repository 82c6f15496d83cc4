// A LoRA adapter as PEFT saves it (save_pretrained): adapter_config.json and
// adapter_model.safetensors, so that `PeftModel.from_pretrained(base, dir)` loads what we train
// and we load what PEFT trains. No maintained safetensors writer exists on npm (the `safetensors`
// package is a 0.0.1 placeholder), and the format is tiny, so it is written here by hand:
//
//   safetensors (https://github.com/huggingface/safetensors, "Format"):
//     8 bytes     N, unsigned little-endian 64-bit: the size of the header
//     N bytes     JSON UTF-8 header: {"__metadata__": {str: str}, name: {"dtype": "F32",
//                 "shape": [..], "data_offsets": [begin, end]}, ...}; offsets are relative to
//                 the start of the byte buffer, end exclusive; padded with spaces (0x20) so
//                 the buffer starts 8-byte aligned
//     rest        the byte buffer: every tensor little-endian, row-major, contiguous, no holes
//
// PEFT writes metadata {"format": "pt"} and tensor names without the adapter name:
// base_model.model.<module path>.lora_A.weight (r, in) and .lora_B.weight (out, r).

import { f16BitsToF32, bf16BitsToF32 } from '../f16.js';
import { LORA_TARGETS, type LoraSettings } from './config.js';

export interface HostTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

export function writeSafetensors(tensors: readonly HostTensor[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`safetensors: tensor ${t.name} given twice`);
    seen.add(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`safetensors: ${t.name} has shape [${t.shape.join(', ')}] but ${t.data.length} values`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    // Little-endian floats, whatever the host's byte order.
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i]!, true);
    at += 4 * t.data.length;
  }
  return out;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  /** In file order; F16 and BF16 tensors are widened to f32. */
  tensors: Map<string, HostTensor & { dtype: string }>;
}

export function readSafetensors(bytes: Uint8Array, file = 'adapter_model.safetensors'): SafetensorsFile {
  const fail = (why: string): never => {
    throw new Error(`${file}: ${why}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > bytes.length - 8) fail(`the header says ${n} bytes but the file has ${bytes.length - 8} after the size`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    return fail(`the header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');
  const base = 8 + n;
  const bufferBytes = bytes.length - base;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors = new Map<string, HostTensor & { dtype: string }>();
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`tensor ${name}: its header entry is not an object`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof e.dtype === 'string' ? e.dtype : '';
    // Own keys only: a dtype named "constructor" or "__proto__" is not a size.
    const size = Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype] : undefined;
    if (size === undefined) fail(`tensor ${name} has dtype ${typeof e.dtype === 'string' ? JSON.stringify(dtype.slice(0, 20)) : e.dtype === undefined ? 'missing' : 'not a string'}; only F32, F16 and BF16 are read`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has a bad shape`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has bad data_offsets`);
    const shape = e.shape as number[];
    const [begin, end] = offs as [number, number];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * size!) fail(`tensor ${name}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape.join(', ')}] ${dtype} needs ${count * size!}`);
    if (end > bufferBytes) fail(`tensor ${name} ends at byte ${end} past the end of the data (${bufferBytes} bytes)`);
    spans.push([begin, end, name]);
    const data = new Float32Array(count);
    const at = base + begin;
    for (let i = 0; i < count; i++) {
      if (dtype === 'F32') data[i] = view.getFloat32(at + 4 * i, true);
      else if (dtype === 'F16') data[i] = f16BitsToF32(view.getUint16(at + 2 * i, true));
      else data[i] = bf16BitsToF32(view.getUint16(at + 2 * i, true));
    }
    tensors.set(name, { name, shape, data, dtype });
  }
  spans.sort((a, b) => a[0] - b[0]);
  let expect = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== expect) fail(`tensor ${name} starts at byte ${begin}, expected ${expect} (the format allows no holes or overlaps)`);
    expect = end;
  }
  return { metadata, tensors };
}

// ---- adapter_config.json ----

export interface PeftAdapterConfig {
  lora: LoraSettings;
  baseModel: string;
  fanInFanOut: boolean;
}

/** adapter_config.json as PEFT's LoraConfig.save_pretrained writes it (the fields we set, PEFT's defaults for the rest). */
export function adapterConfigJson(lora: LoraSettings, baseModel: string, targetModules: string[], fanInFanOut = false): string {
  const cfg = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: lora.r,
    lora_alpha: lora.lora_alpha,
    lora_dropout: lora.lora_dropout,
    use_rslora: lora.use_rslora,
    target_modules: [...targetModules].sort(),
    bias: 'none',
    // GPT-2's Conv1D layers store weights (in, out): PEFT sets this for them.
    fan_in_fan_out: fanInFanOut,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_dora: false,
    revision: null,
  };
  return JSON.stringify(cfg, null, 2) + '\n';
}

/** A config value for a message: "missing", a short quoted string, or its kind (a hostile value
 *  could be huge or nested too deep to stringify). */
function shown(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 60));
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'a list' : 'an object';
}

/** Reads adapter_config.json; refuses what our LoRA does not implement, naming the field. */
export function parseAdapterConfig(text: string, file = 'adapter_config.json'): PeftAdapterConfig {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`${file}: not a JSON object`);
  const bad = (field: string, why: string): never => {
    throw new Error(`${file}: ${field} ${why}`);
  };
  if (j.peft_type !== 'LORA') bad('peft_type', `is ${shown(j.peft_type)}; only LORA adapters are supported`);
  if (j.task_type !== undefined && j.task_type !== null && j.task_type !== 'CAUSAL_LM') bad('task_type', `is ${shown(j.task_type)}, expected CAUSAL_LM`);
  if (!(Number.isInteger(j.r) && (j.r as number) > 0)) bad('r', 'must be a positive integer');
  if (!(typeof j.lora_alpha === 'number' && j.lora_alpha > 0)) bad('lora_alpha', 'must be a positive number');
  if (j.bias !== undefined && j.bias !== 'none') bad('bias', `is ${shown(j.bias)}; only "none" is supported`);
  if (j.use_dora === true) bad('use_dora', 'is true; DoRA is not supported');
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    if (j[k] && Object.keys(j[k] as object).length > 0) bad(k, 'is not empty; per-module ranks are not supported');
  }
  let targets = j.target_modules;
  if (typeof targets === 'string') targets = targets === 'all-linear' ? 'all-linear' : [targets];
  if (targets !== 'all-linear') {
    if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string')) bad('target_modules', 'must be a list of module names');
    for (const t of targets as string[]) if (!(LORA_TARGETS as readonly string[]).includes(t)) bad('target_modules', `names "${t}", which is not a linear layer we know`);
  }
  const dropout = j.lora_dropout ?? 0;
  if (!(typeof dropout === 'number' && dropout >= 0 && dropout < 1)) bad('lora_dropout', 'must be in [0, 1)');
  return {
    lora: {
      r: j.r as number,
      lora_alpha: j.lora_alpha as number,
      lora_dropout: dropout as number,
      use_rslora: j.use_rslora === true,
      target_modules: targets as LoraSettings['target_modules'],
    },
    baseModel: typeof j.base_model_name_or_path === 'string' ? j.base_model_name_or_path : '',
    fanInFanOut: j.fan_in_fan_out === true,
  };
}

/** The two files of a PEFT adapter folder. */
export function peftAdapterFiles(lora: LoraSettings, baseModel: string, targetModules: string[], fanInFanOut: boolean, tensors: readonly HostTensor[]): Record<string, Uint8Array> {
  return {
    'adapter_config.json': new TextEncoder().encode(adapterConfigJson(lora, baseModel, targetModules, fanInFanOut)),
    'adapter_model.safetensors': writeSafetensors(tensors),
  };
}
