// A LoRA adapter as llama.cpp loads it (`llama-cli -m base.gguf --lora adapter.gguf`), laid out as
// its convert_lora_to_gguf.py writes one (the container: gguf-file.ts; ne[] lists dimensions
// fastest-varying first, so a row-major (r, in) array has ne = [in, r]).
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
//
// Llama and Mistral: the converter permutes q_proj and k_proj rows for llama.cpp's rope layout,
// and convert_lora_to_gguf.py permutes lora_B's rows the same way (gguf-arch.ts); so do we, or
// the adapter would add its update to the wrong rows of q and k.

import { METHODS, type MethodId } from '../methods/registry.js';
import type { Family } from '../model/recognize.js';
import { concatChunks, f32, ggufFile, str, u32, type GgufTensor, type GgufValue } from './gguf-file.js';
import { ggufArchitectureOf, permuteHeadsFor, ropePermuteRows } from './gguf-arch.js';
import type { AdapterModule } from './modules.js';

export { GGUF_ALIGNMENT } from './gguf-file.js';

/** llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1. */
const FILE_TYPE = { f32: 0, f16: 1 } as const;

export interface GgufLoraOptions {
  family: Family;
  /** Head counts of the base model: q_proj / k_proj rows are permuted by them (llama, mistral). */
  config: { heads: number; kvHeads: number; headDim: number; hidden: number };
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

/** The alpha to write so that llama.cpp's alpha / r gives PEFT's scale. */
export function ggufAlpha(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha * Math.sqrt(r) : alpha;
}

/** B (out, r) as llama.cpp wants it: rows permuted for q_proj / k_proj of permuting architectures. */
export function ggufLoraB(m: AdapterModule, family: Family, config: { heads: number; kvHeads: number }, r: number): Float32Array {
  const heads = permuteHeadsFor(ggufArchitectureOf(family), m.slot.path, config);
  return heads === null ? m.b : ropePermuteRows(m.b, r, heads);
}

/** The GGUF file of a LoRA adapter's modules (from adapterModules). */
export function ggufLoraAdapter(modules: readonly AdapterModule[], options: GgufLoraOptions): Uint8Array {
  const dtype = options.dtype ?? 'f32';
  const r = options.r;
  const arch = ggufArchitectureOf(options.family, options.config);
  const kv: [string, GgufValue][] = [
    ['general.architecture', str(arch.name)],
    ['general.type', str('adapter')],
    ['general.name', str(options.name ?? 'PrefStudio LoRA adapter')],
    ...(options.method
      ? ([['general.description', str(`LoRA adapter trained with ${METHODS[options.method].label} in PrefStudio: ${METHODS[options.method].summary}`)]] as [string, GgufValue][])
      : []),
    ['general.file_type', u32(FILE_TYPE[dtype])],
    ['general.quantization_version', u32(2)],
    ['adapter.type', str('lora')],
    ['adapter.lora.alpha', f32(ggufAlpha(options.alpha, r, options.useRslora))],
  ];
  const tensors: GgufTensor[] = [];
  for (const m of modules) {
    const { inFeatures, outFeatures } = m.slot;
    tensors.push({ name: `${m.slot.gguf}.weight.lora_a`, shape: [r, inFeatures], type: dtype, data: m.a });
    tensors.push({ name: `${m.slot.gguf}.weight.lora_b`, shape: [outFeatures, r], type: dtype, data: ggufLoraB(m, options.family, options.config, r) });
  }
  return concatChunks(ggufFile(kv, tensors));
}
