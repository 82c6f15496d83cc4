// What llama.cpp calls each model family, and how its converter reorders weights on the way in:
// the one table both GGUF exporters (gguf.ts: LoRA adapter; gguf-model.ts: the merged model) read.
//
// convert_hf_to_gguf.py's LlamaModel (Llama, Mistral, ...) has `undo_permute = True`: it permutes
// the rows of q_proj and k_proj (weights and biases) from Hugging Face's rotate_half layout, where
// each head pairs dims (i, i + HS/2), into llama.cpp's LLAMA_ROPE_TYPE_NORM layout, where it pairs
// (2i, 2i + 1):
//     w.reshape(n_head, 2, HS/2, in).swapaxes(1, 2).reshape(out, in)     (k_proj: n_head = n_kv)
// and convert_lora_to_gguf.py applies the same reshape to lora_B (A is left alone). Qwen2 and GPT-2
// are not permuted (llama.cpp runs them with NEOX rope / learned positions). A family that issue 12
// adds goes here with its converter's rule; one missing is refused with its name.
//
// Issue 12's families, from convert_hf_to_gguf.py: Qwen3Model, Gemma2Model, Gemma3Model,
// Phi3MiniModel and Olmo2Model override no linear weight (no undo_permute: llama.cpp runs them
// with NEOX rope), so their LoRA factors go in as PEFT has them. What they do change is outside a
// LoRA adapter: Gemma adds 1 to every norm weight (norm_shift), Gemma 3 drops embedding rows past
// the tokenizer's; Phi-3 keeps qkv_proj and gate_up_proj packed (attn_qkv, ffn_up; modules.ts).
// The whole-model GGUF (gguf-model.ts) writes none of these yet: `adapterOnly`.

import type { Family } from '../model/recognize.js';

export interface GgufArchitecture {
  /** general.architecture (llama.cpp's LLM_ARCH name). */
  name: string;
  /** Rows of q_proj / k_proj are permuted as convert_hf_to_gguf.py's LlamaModel.permute. */
  ropePermute: boolean;
  /** llama.cpp's graph for it takes q, k and v as hidden × hidden (no attention.key_length). */
  fullWidthHeads: boolean;
  /** Only the LoRA adapter GGUF is written; gguf-model.ts refuses the whole model, naming why. */
  adapterOnly?: string;
}

export const GGUF_ARCHITECTURES: Partial<Record<Family, GgufArchitecture>> = {
  llama: { name: 'llama', ropePermute: true, fullWidthHeads: false },
  // convert_hf_to_gguf.py registers MistralForCausalLM under LlamaModel.
  mistral: { name: 'llama', ropePermute: true, fullWidthHeads: false },
  qwen2: { name: 'qwen2', ropePermute: false, fullWidthHeads: true },
  gpt2: { name: 'gpt2', ropePermute: false, fullWidthHeads: true },
  // Issue 12 (the converter writes attention.key_length from head_dim for these; Phi-3 derives it).
  qwen3: { name: 'qwen3', ropePermute: false, fullWidthHeads: false, adapterOnly: 'its q/k norms (attn_q_norm, attn_k_norm)' },
  gemma2: { name: 'gemma2', ropePermute: false, fullWidthHeads: false, adapterOnly: 'its 1 + w norms, post-norms, soft-caps and sliding window' },
  gemma3: { name: 'gemma3', ropePermute: false, fullWidthHeads: false, adapterOnly: 'its 1 + w norms, post-norms, q/k norms and local/global rope' },
  phi3: { name: 'phi3', ropePermute: false, fullWidthHeads: true, adapterOnly: 'its packed attn_qkv / ffn_up, partial rotary and longrope factors' },
  olmo2: { name: 'olmo2', ropePermute: false, fullWidthHeads: false, adapterOnly: 'its post-norms and q/k norms' },
};

export class GgufUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufUnsupportedError';
  }
}

/**
 * The family's llama.cpp architecture; a clear refusal naming it when there is none, or when
 * llama.cpp's graph for it cannot take this model's attention shape (with `config`).
 */
export function ggufArchitectureOf(family: Family | string, config?: { hidden: number; heads: number; headDim: number }): GgufArchitecture {
  const a = (GGUF_ARCHITECTURES as Record<string, GgufArchitecture | undefined>)[family];
  if (!a) {
    const known = Object.keys(GGUF_ARCHITECTURES).join(', ');
    throw new GgufUnsupportedError(`GGUF export: llama.cpp has no architecture for "${family}" models that this exporter can write (it writes ${known}); export a merged ONNX or the PEFT adapter instead`);
  }
  if (config && a.fullWidthHeads && config.heads * config.headDim !== config.hidden) {
    throw new GgufUnsupportedError(
      `GGUF export: llama.cpp's ${a.name} needs heads × head_dim = hidden size, and this ${family} model has ${config.heads} × ${config.headDim} ≠ ${config.hidden}; export a merged ONNX or the PEFT adapter instead`,
    );
  }
  return a;
}

/**
 * LlamaModel.permute on the rows of a (rows, rowLen) row-major matrix or a bias (rowLen 1):
 * out[h·HS + 2i + s] = in[h·HS + s·HS/2 + i] for head h, i < HS/2, s ∈ {0, 1}.
 */
export function ropePermuteRows(data: Float32Array, rowLen: number, heads: number): Float32Array {
  const rows = data.length / rowLen;
  if (!Number.isInteger(rows) || rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new Error(`rope permutation: ${rows} rows do not split into ${heads} heads of an even size`);
  }
  const hs = rows / heads;
  const half = hs / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * hs + s * half + i) * rowLen;
        const to = (h * hs + 2 * i + s) * rowLen;
        out.set(data.subarray(from, from + rowLen), to);
      }
    }
  }
  return out;
}

/** Heads to permute a module's output rows by, or null: q_proj by the query heads, k_proj by the kv heads. */
export function permuteHeadsFor(arch: GgufArchitecture, modulePath: string, config: { heads: number; kvHeads: number }): number | null {
  if (!arch.ropePermute) return null;
  if (/(^|\.)q_proj$/.test(modulePath)) return config.heads;
  if (/(^|\.)k_proj$/.test(modulePath)) return config.kvHeads;
  return null;
}
