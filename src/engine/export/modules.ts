// The bridge between a PEFT LoRA adapter and a loaded model, for export: each PEFT module path
// (model.layers.3.self_attn.q_proj, transformer.h.0.attn.c_attn) with the canonical Hugging Face
// weights its B rows feed (recognize.ts naming: GPT-2's c_attn is split into q/k/v_proj there, and
// Phi-3's packed self_attn.qkv_proj and mlp.gate_up_proj into q/k/v_proj and gate/up_proj), and
// its GGUF tensor name (llama.cpp gguf-py tensor_mapping.py: Phi-3's qkv_proj is attn_qkv and its
// gate_up_proj ffn_up, kept packed by convert_hf_to_gguf.py's Phi3MiniModel, rows in HF's order
// q | k | v and gate | up, which llama.cpp's phi3 graph splits the same way; Gemma 2/3, Qwen3 and
// OLMo 2 map their q/k/v/o/gate/up/down_proj as Llama's, unpermuted: gguf-arch.ts). Works from
// the loader's recognised mapping, never from the ONNX file's own tensor names.

import { loraScale } from '../lora/adapter.js';
import { ggufArchitectureOf } from './gguf-arch.js';
import type { LoadedModel } from '../model/load.js';
import type { Family } from '../model/recognize.js';
import type { LoraSettings } from '../training/config.js';

export interface ModuleSlot {
  /** Hugging Face module path as PEFT names it. */
  path: string;
  inFeatures: number;
  /** Rows of the module's B (GPT-2 c_attn: 3C). */
  outFeatures: number;
  /** Canonical weights fed by B rows [rowOffset, rowOffset + rows). */
  parts: { weight: string; rowOffset: number; rows: number }[];
  /** Tensor name in a llama.cpp GGUF model (without .weight). */
  gguf: string;
}

const LLAMA_GGUF: Record<string, string> = {
  'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
};
const GPT2_GGUF: Record<string, string> = { 'attn.c_attn': 'attn_qkv', 'attn.c_proj': 'attn_output', 'mlp.c_fc': 'ffn_up', 'mlp.c_proj': 'ffn_down' };

/** Every linear module of the model that LoRA can target (the LM head is not one). */
export function moduleSlots(model: Pick<LoadedModel, 'arch' | 'config' | 'weights'>): ModuleSlot[] {
  const shape = (name: string) => {
    const w = model.weights.get(name);
    if (!w) throw new Error(`export: the model has no weight ${name}`);
    return w.shape as [number, number];
  };
  const slots: ModuleSlot[] = [];
  for (let l = 0; l < model.config.layers; l++) {
    if (model.arch === 'gpt2') {
      const p = `transformer.h.${l}.`;
      const parts = ['q_proj', 'k_proj', 'v_proj'].map((x) => `${p}attn.${x}.weight`);
      let off = 0;
      slots.push({
        path: `${p}attn.c_attn`,
        inFeatures: shape(parts[0]!)[1],
        outFeatures: parts.reduce((s, w) => s + shape(w)[0], 0),
        parts: parts.map((w) => {
          const rows = shape(w)[0];
          off += rows;
          return { weight: w, rowOffset: off - rows, rows };
        }),
        gguf: `blk.${l}.attn_qkv`,
      });
      for (const m of ['attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']) slots.push(single(`${p}${m}`, shape, `blk.${l}.${GPT2_GGUF[m]}`));
    } else if (model.config.packedProjections) {
      const p = `model.layers.${l}.`;
      slots.push(packed(`${p}self_attn.qkv_proj`, ['q_proj', 'k_proj', 'v_proj'].map((x) => `${p}self_attn.${x}.weight`), shape, `blk.${l}.attn_qkv`));
      slots.push(single(`${p}self_attn.o_proj`, shape, `blk.${l}.attn_output`));
      slots.push(packed(`${p}mlp.gate_up_proj`, ['gate_proj', 'up_proj'].map((x) => `${p}mlp.${x}.weight`), shape, `blk.${l}.ffn_up`));
      slots.push(single(`${p}mlp.down_proj`, shape, `blk.${l}.ffn_down`));
    } else {
      for (const m of Object.keys(LLAMA_GGUF)) slots.push(single(`model.layers.${l}.${m}`, shape, `blk.${l}.${LLAMA_GGUF[m]}`));
    }
  }
  return slots;
}

/** A packed module (Phi-3's qkv_proj, gate_up_proj) over split canonical weights, B rows in their order. */
function packed(path: string, parts: string[], shape: (n: string) => [number, number], gguf: string): ModuleSlot {
  let off = 0;
  return {
    path,
    inFeatures: shape(parts[0]!)[1],
    outFeatures: parts.reduce((s, w) => s + shape(w)[0], 0),
    parts: parts.map((w) => {
      const rows = shape(w)[0];
      off += rows;
      return { weight: w, rowOffset: off - rows, rows };
    }),
    gguf,
  };
}

function single(path: string, shape: (n: string) => [number, number], gguf: string): ModuleSlot {
  const [out, inF] = shape(`${path}.weight`);
  return { path, inFeatures: inF, outFeatures: out, parts: [{ weight: `${path}.weight`, rowOffset: 0, rows: out }], gguf };
}

/** llama.cpp's architecture name for a family (gguf-arch.ts; refused with its name when llama.cpp has none). */
export function ggufArchitecture(family: Family): string {
  return ggufArchitectureOf(family).name;
}

/** A PEFT LoRA adapter on the host: settings and every tensor by PEFT name. */
export interface AdapterData {
  lora: LoraSettings;
  baseModel: string;
  tensors: Map<string, Float32Array>;
}

/** One module's A (r, in) and B (out, r), with its slot. */
export interface AdapterModule {
  slot: ModuleSlot;
  a: Float32Array;
  b: Float32Array;
}

export const loraAName = (path: string) => `base_model.model.${path}.lora_A.weight`;
export const loraBName = (path: string) => `base_model.model.${path}.lora_B.weight`;

/**
 * The adapter's modules on this model, in model order. Every tensor must belong to a linear
 * module of the model, come with its partner, and have PEFT's shape; errors name the tensor.
 */
export function adapterModules(model: Pick<LoadedModel, 'arch' | 'config' | 'weights'>, adapter: AdapterData): AdapterModule[] {
  const r = adapter.lora.r;
  const slots = moduleSlots(model);
  const byA = new Map(slots.map((s) => [loraAName(s.path), s]));
  const byB = new Map(slots.map((s) => [loraBName(s.path), s]));
  for (const name of adapter.tensors.keys()) {
    if (!byA.has(name) && !byB.has(name)) {
      throw new Error(`adapter tensor ${name} is not a LoRA tensor of a linear layer of this ${model.arch} model (expected names like ${loraAName(slots[0]!.path)})`);
    }
  }
  const out: AdapterModule[] = [];
  for (const slot of slots) {
    const a = adapter.tensors.get(loraAName(slot.path));
    const b = adapter.tensors.get(loraBName(slot.path));
    if (!a && !b) continue;
    if (!a || !b) throw new Error(`adapter tensor ${a ? loraBName(slot.path) : loraAName(slot.path)} is missing (its partner is there)`);
    if (a.length !== r * slot.inFeatures) throw new Error(`adapter tensor ${loraAName(slot.path)} has ${a.length} values; PEFT's shape [r, in] = [${r}, ${slot.inFeatures}] needs ${r * slot.inFeatures}`);
    if (b.length !== slot.outFeatures * r) throw new Error(`adapter tensor ${loraBName(slot.path)} has ${b.length} values; PEFT's shape [out, r] = [${slot.outFeatures}, ${r}] needs ${slot.outFeatures * r}`);
    out.push({ slot, a, b });
  }
  if (out.length === 0) throw new Error('the adapter has no LoRA tensors');
  return out;
}

/** PEFT's scale: lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora. */
export function adapterScale(lora: LoraSettings): number {
  return loraScale({ r: lora.r, alpha: lora.lora_alpha, useRslora: lora.use_rslora });
}

/** s · B[rows] · A for rows [rowOffset, rowOffset + rows) of B: (rows, in), row-major, f64 sums. */
export function deltaRows(m: AdapterModule, r: number, scale: number, rowOffset: number, rows: number): Float32Array {
  const inF = m.slot.inFeatures;
  const out = new Float32Array(rows * inF);
  const acc = new Float64Array(inF);
  for (let o = 0; o < rows; o++) {
    acc.fill(0);
    const bRow = (rowOffset + o) * r;
    for (let k = 0; k < r; k++) {
      const bv = m.b[bRow + k]!;
      if (bv === 0) continue;
      const aRow = k * inF;
      for (let i = 0; i < inF; i++) acc[i]! += bv * m.a[aRow + i]!;
    }
    for (let i = 0; i < inF; i++) out[o * inF + i] = scale * acc[i]!;
  }
  return out;
}
