// The whole tuned model as one GGUF file (llama.cpp, Ollama, LM Studio): every weight of the base
// model with the adapter merged in (W + s·B·A, formed in f32), the hyperparameters, and the
// tokenizer and chat template in the metadata, as llama.cpp's convert_hf_to_gguf.py writes them
// for the same Hugging Face model. With no adapter it is the base model's GGUF (what a LoRA GGUF
// is loaded on top of).
//
// Keys (TextModel.set_gguf_parameters, LlamaModel / Qwen2Model / GPT2Model):
//   general.architecture, general.type = "model", general.name, general.file_type,
//   general.quantization_version = 2;
//   llama / qwen2: <arch>.block_count, context_length (max_position_embeddings),
//     embedding_length, feed_forward_length, attention.head_count, attention.head_count_kv,
//     attention.key_length / value_length (head_dim), rope.freq_base,
//     attention.layer_norm_rms_epsilon; llama adds vocab_size and rope.dimension_count, and
//     linear rope scaling (rope.scaling.type / factor) or llama3's (a rope_freqs tensor);
//   gpt2: block_count, context_length (n_ctx), embedding_length, feed_forward_length (the MLP's
//     own width; the converter writes 4·n_embd, which is the same for every GPT-2 it converts),
//     attention.head_count, attention.layer_norm_epsilon.
// Tokenizer (_set_vocab_gpt2 + gguf-py SpecialVocab), for byte-level BPE tokenizers (GPT-2,
// Llama 3, Qwen2, SmolLM, ...): tokenizer.ggml.model = "gpt2", tokenizer.ggml.pre (the
// pre-tokenizer, see preTokenizerType), tokens (ids without a token: "[PAD<id>]"), token_type
// (1 normal, 3 control: special added tokens, 4 user-defined: other added tokens, 5 unused),
// merges ("a b"), bos/eos/unknown/seperator/padding token ids, add_bos_token / add_eos_token, and
// tokenizer.chat_template. SentencePiece-style tokenizers (Llama 2, Mistral 7B: Metaspace and
// byte fallback) are refused with that reason rather than written wrongly.
// Tensors: token_embd, (position_embd), blk.N.{attn_norm, attn_q/k/v (or attn_qkv), attn_output,
// ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm, output (absent when tied: llama.cpp then
// reads token_embd). Linear weights stay [out, in] (ne = [in, out]); q and k rows are permuted
// for llama and mistral (gguf-arch.ts). Types as the converter picks them: 1-D tensors, norms and
// position embeddings in f32; other matrices f32, f16 or q8_0 (a row length that is not a
// multiple of 32 cannot be q8_0: f16, as the converter falls back).

import { METHODS, type MethodId } from '../methods/registry.js';
import type { LoadedModel } from '../model/load.js';
import type { TokenizerFiles } from '../model/tokenizer.js';
import type { TransformerConfig } from '../transformer/config.js';
import { assertFinite } from '../finite.js';
import { bool, canStore, f32, ggufFile, str, u32, type GgmlType, type GgufBytes, type GgufTensor, type GgufValue } from './gguf-file.js';
import { GgufUnsupportedError, ggufArchitectureOf, permuteHeadsFor, ropePermuteRows } from './gguf-arch.js';
import { adapterModules, adapterScale, deltaRows, type AdapterData } from './modules.js';

export type GgufModelType = 'f32' | 'f16' | 'q8_0';
export const GGUF_MODEL_TYPES: readonly GgufModelType[] = ['f32', 'f16', 'q8_0'];
/** llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7. */
const FILE_TYPE: Record<GgufModelType, number> = { f32: 0, f16: 1, q8_0: 7 };

export interface GgufModelOptions {
  type: GgufModelType;
  name?: string;
  /** The method the merged adapter was trained with, when known (general.description). */
  method?: MethodId;
}

export interface GgufModel extends GgufBytes {
  tensors: number;
  /** Matrices that could not take the type asked for, and the type they got instead. */
  fallbacks: string[];
  /** Canonical weights the adapter changed. */
  merged: string[];
}

/** llama.cpp's token types (llama_token_type). */
const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const;

/** The pre-tokenizer regexes llama.cpp implements, by its tokenizer.ggml.pre name. */
const SPLIT_PATTERNS: Record<string, string> = {
  'llama-bpe': "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);

/**
 * tokenizer.ggml.pre for a tokenizer.json's pre_tokenizer. convert_hf_to_gguf.py recognises the
 * pre-tokenizer by hashing the ids of a test text (get_vocab_base_pre); this reads the same fact
 * from the pre_tokenizer itself: byte-level with GPT-2's regex → "gpt-2"; digits split one by one
 * then GPT-2's → "smollm"; Llama 3's or Qwen2's split regex then byte-level without its own regex
 * → "llama-bpe" / "qwen2". Anything else is refused, naming what was found.
 */
export function preTokenizerType(tokenizerJson: Json): string {
  const pre = obj(tokenizerJson.pre_tokenizer);
  const byteLevel = (p: Json | null, regex: boolean) => p?.type === 'ByteLevel' && (p.use_regex ?? true) === regex;
  if (byteLevel(pre, true)) return 'gpt-2';
  const seq = pre?.type === 'Sequence' && Array.isArray(pre.pretokenizers) ? (pre.pretokenizers as unknown[]).map(obj) : null;
  if (seq?.length === 2 && seq[0]?.type === 'Digits' && seq[0].individual_digits === true && byteLevel(seq[1]!, true)) return 'smollm';
  if (seq?.length === 2 && seq[0]?.type === 'Split' && byteLevel(seq[1]!, false)) {
    const pattern = obj(seq[0].pattern)?.Regex;
    for (const [name, p] of Object.entries(SPLIT_PATTERNS)) if (pattern === p) return name;
    throw new GgufUnsupportedError(`GGUF export: the tokenizer splits text with the regex ${JSON.stringify(pattern)}, which is not one llama.cpp implements (Llama 3's or Qwen2's); export a merged ONNX instead`);
  }
  throw new GgufUnsupportedError(`GGUF export: tokenizer.json's pre_tokenizer ${JSON.stringify(pre ?? null).slice(0, 200)} is not a byte-level BPE pre-tokenizer llama.cpp knows (GPT-2, Llama 3, Qwen2, SmolLM); SentencePiece-style tokenizers are not written yet`);
}

const tokenString = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof obj(v)?.content === 'string' ? (obj(v)!.content as string) : undefined);

/** The tokenizer's key/values (tokenizer.*), as _set_vocab_gpt2 and SpecialVocab write them. */
export function ggufVocab(files: TokenizerFiles, vocabSize: number, hfConfig: Json = {}): [string, GgufValue][] {
  const tj = files.tokenizerJson;
  const model = obj(tj.model);
  if (model?.type !== 'BPE') throw new GgufUnsupportedError(`GGUF export: tokenizer.json's model is ${JSON.stringify(model?.type ?? null)}; llama.cpp's "gpt2" vocabulary needs a BPE model`);
  const pre = preTokenizerType(tj);
  const cfg = files.tokenizerConfig ?? {};
  const vocab = obj(model.vocab) ?? {};
  const byId = new Map<number, string>();
  for (const [t, id] of Object.entries(vocab)) if (typeof id === 'number') byId.set(id, t);
  const added = new Map<string, boolean>();
  for (const a of Array.isArray(tj.added_tokens) ? (tj.added_tokens as unknown[]) : []) {
    const t = obj(a);
    if (typeof t?.content !== 'string' || typeof t.id !== 'number') continue;
    byId.set(t.id, t.content);
    added.set(t.content, t.special === true);
  }
  const maxId = Math.max(-1, ...byId.keys());
  if (maxId >= vocabSize) throw new Error(`GGUF export: the tokenizer has id ${maxId}, past the model's vocabulary of ${vocabSize}`);
  const looksSpecial = (t: string) => ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<unused') && t.endsWith('>'));
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const t = byId.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(TOKEN_TYPE.unused);
    } else if (added.has(t)) {
      const control = added.get(t)! || looksSpecial(t);
      tokens.push(control ? t : t.replaceAll('\u2581', ' '));
      types.push(control ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
    } else {
      tokens.push(t);
      types.push(TOKEN_TYPE.normal);
    }
  }
  const merges = (Array.isArray(model.merges) ? (model.merges as unknown[]) : []).map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));
  const kv: [string, GgufValue][] = [
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str(pre)],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
    ['tokenizer.ggml.merges', { type: 'string[]', value: merges }],
  ];
  // Special tokens: tokenizer_config.json's <typ>_token (looked up in the vocabulary), else
  // config.json's <typ>_token_id (gguf-py SpecialVocab).
  const idOf = (t: string) => [...byId].find(([, s]) => s === t)?.[0];
  const keys: [string, string][] = [['bos', 'bos_token_id'], ['eos', 'eos_token_id'], ['unk', 'unknown_token_id'], ['sep', 'seperator_token_id'], ['pad', 'padding_token_id'], ['cls', 'cls_token_id'], ['mask', 'mask_token_id']];
  const special: Record<string, number> = {};
  for (const [typ, key] of keys) {
    const t = tokenString(cfg[`${typ}_token`]);
    let id = t === undefined ? undefined : idOf(t);
    const fromConfig = hfConfig[`${typ}_token_id`];
    if (id === undefined && typeof fromConfig === 'number' && Number.isInteger(fromConfig) && fromConfig >= 0 && fromConfig < vocabSize) id = fromConfig;
    if (id !== undefined) {
      special[typ] = id;
      kv.push([`tokenizer.ggml.${key}`, u32(id)]);
    }
  }
  // Whether encoding adds bos / eos: the post-processor's template (what the tokenizer does),
  // else tokenizer_config.json's add_bos_token / add_eos_token, else no.
  const post = obj(tj.post_processor);
  const single = post?.type === 'TemplateProcessing' && Array.isArray(post.single) ? (post.single as unknown[]).map(obj) : null;
  const specialId = (p: Json | null | undefined) => {
    const s = obj(p?.SpecialToken);
    return typeof s?.id === 'string' ? idOf(s.id) : undefined;
  };
  const addBos = single ? special.bos !== undefined && specialId(single[0]) === special.bos : cfg.add_bos_token === true;
  const addEos = single ? special.eos !== undefined && single.length > 1 && specialId(single.at(-1)) === special.eos : cfg.add_eos_token === true;
  kv.push(['tokenizer.ggml.add_bos_token', bool(addBos)], ['tokenizer.ggml.add_eos_token', bool(addEos)]);
  let template = files.chatTemplateFile ?? (typeof cfg.chat_template === 'string' ? cfg.chat_template : undefined);
  if (template === undefined && Array.isArray(cfg.chat_template)) {
    const named = (cfg.chat_template as unknown[]).map(obj);
    const t = (named.find((x) => x?.name === 'default') ?? named[0])?.template;
    if (typeof t === 'string') template = t;
  }
  if (template !== undefined) kv.push(['tokenizer.chat_template', str(template)]);
  return kv;
}

/** The hyperparameter keys of a llama.cpp architecture. */
function hyperparameters(name: string, c: TransformerConfig): [string, GgufValue][] {
  const k = (key: string, v: GgufValue): [string, GgufValue] => [`${name}.${key}`, v];
  if (name === 'gpt2') {
    return [
      k('block_count', u32(c.layers)),
      k('context_length', u32(c.maxPositions)),
      k('embedding_length', u32(c.hidden)),
      k('feed_forward_length', u32(c.intermediate)),
      k('attention.head_count', u32(c.heads)),
      k('attention.layer_norm_epsilon', f32(c.normEps)),
    ];
  }
  const kv: [string, GgufValue][] = [
    k('block_count', u32(c.layers)),
    k('context_length', u32(c.maxPositions)),
    k('embedding_length', u32(c.hidden)),
    k('feed_forward_length', u32(c.intermediate)),
    k('attention.head_count', u32(c.heads)),
    k('attention.head_count_kv', u32(c.kvHeads)),
    k('attention.key_length', u32(c.headDim)),
    k('attention.value_length', u32(c.headDim)),
    k('rope.freq_base', f32(c.ropeTheta)),
    k('attention.layer_norm_rms_epsilon', f32(c.normEps)),
  ];
  if (name === 'llama') kv.push(k('vocab_size', u32(c.vocabSize)), k('rope.dimension_count', u32(c.headDim)));
  const scaling = c.ropeScaling?.rope_type ?? c.ropeScaling?.type;
  if (scaling === 'linear') kv.push(k('rope.scaling.type', str('linear')), k('rope.scaling.factor', f32(c.ropeScaling!.factor ?? 1)));
  return kv;
}

/** llama3 rope scaling as the rope_freqs tensor (LlamaModel.generate_extra_tensors). */
function llama3RopeFreqs(c: TransformerConfig): Float32Array {
  const s = c.ropeScaling!;
  const dim = c.headDim;
  const factor = s.factor ?? 8;
  const low = s.low_freq_factor ?? 1;
  const high = s.high_freq_factor ?? 4;
  const old = s.original_max_position_embeddings ?? 8192;
  const lowWavelen = old / low;
  const highWavelen = old / high;
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) {
    const freq = 1 / c.ropeTheta ** (i / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out.push(1);
    else if (wavelen > lowWavelen) out.push(factor);
    else {
      const smooth = (old / wavelen - low) / (high - low);
      out.push(1 / ((1 - smooth) / factor + smooth));
    }
  }
  return Float32Array.from(out);
}

/** GGUF tensor name (without .weight / .bias) of each canonical weight prefix. */
function tensorName(hf: string, arch: 'llama' | 'gpt2'): string | null {
  const fixed: Record<string, string> = arch === 'gpt2'
    ? { 'transformer.wte': 'token_embd', 'transformer.wpe': 'position_embd', 'transformer.ln_f': 'output_norm', lm_head: 'output' }
    : { 'model.embed_tokens': 'token_embd', 'model.norm': 'output_norm', lm_head: 'output' };
  if (fixed[hf]) return fixed[hf]!;
  const m = /^(?:model\.layers|transformer\.h)\.(\d+)\.(.+)$/.exec(hf);
  if (!m) return null;
  const layer: Record<string, string> = arch === 'gpt2'
    ? { ln_1: 'attn_norm', 'attn.c_proj': 'attn_output', ln_2: 'ffn_norm', 'mlp.c_fc': 'ffn_up', 'mlp.c_proj': 'ffn_down' }
    : {
        input_layernorm: 'attn_norm', post_attention_layernorm: 'ffn_norm',
        'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
        'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
      };
  const t = layer[m[2]!];
  return t ? `blk.${m[1]}.${t}` : null;
}

/**
 * Throws, naming the reason, when `model` cannot be written as a llama.cpp GGUF: an architecture
 * llama.cpp lacks (or an attention shape its graph cannot take), a rope variant not written, no
 * tokenizer, or a tokenizer llama.cpp's "gpt2" vocabulary cannot reproduce. Cheap: the CLI and
 * the page call it before any file is written.
 */
export function assertGgufExportable(model: Pick<LoadedModel, 'family' | 'config' | 'arch' | 'tokenizer'>): ReturnType<typeof ggufArchitectureOf> {
  const c = model.config;
  const arch = ggufArchitectureOf(model.family, c);
  if (arch.adapterOnly) throw new GgufUnsupportedError(`GGUF export: the whole ${model.family} model is not written yet (${arch.adapterOnly}); its LoRA adapter GGUF (--gguf) and the merged ONNX are`);
  if (!model.tokenizer) throw new Error('GGUF export: the model has no tokenizer (tokenizer.json): llama.cpp needs the vocabulary in the file');
  if (model.arch === 'llama') {
    if (c.ropeInterleaved || c.rotaryDim !== c.headDim) throw new GgufUnsupportedError(`GGUF export: ${model.family} with ${c.ropeInterleaved ? 'interleaved rope' : `partial rope (${c.rotaryDim} of ${c.headDim} dims)`} is not what llama.cpp's ${arch.name} runs`);
    const scaling = c.ropeScaling?.rope_type ?? c.ropeScaling?.type;
    if (scaling && scaling !== 'default' && scaling !== 'linear' && !(scaling === 'llama3' && arch.name === 'llama')) {
      throw new GgufUnsupportedError(`GGUF export: rope scaling "${scaling}" is not written for ${arch.name} yet`);
    }
  }
  ggufVocab(model.tokenizer.files, c.vocabSize);
  return arch;
}

/**
 * The model (with `adapter` merged, or the base model when null) as a GGUF file. Needs the
 * weights and the tokenizer loaded. Refuses, naming it, an architecture or tokenizer llama.cpp
 * cannot take, and rope variants it does not write.
 */
export function ggufModel(model: LoadedModel, adapter: AdapterData | null, options: GgufModelOptions): GgufModel {
  const c = model.config;
  const arch = assertGgufExportable(model);
  if (!model.weightsLoaded) throw new Error('GGUF export: the model was loaded without its weights (readWeights() first)');
  const type = options.type;
  const hf = model.configFiles.config ?? {};

  // Weights in HF layout (f32), the adapter merged in.
  const values = new Map<string, Float32Array>();
  const get = (name: string) => {
    let v = values.get(name);
    if (!v) {
      v = Float32Array.from(model.weight(name, 'f32').data as Float32Array);
      values.set(name, v);
    }
    return v;
  };
  const merged: string[] = [];
  if (adapter) {
    const scale = adapterScale(adapter.lora);
    for (const m of adapterModules(model, adapter)) {
      for (const p of m.slot.parts) {
        const delta = deltaRows(m, adapter.lora.r, scale, p.rowOffset, p.rows);
        const w = get(p.weight);
        for (let i = 0; i < w.length; i++) w[i]! += delta[i]!;
        assertFinite(`GGUF export: the merged weight ${p.weight}`, w, ': the adapter is too large for this model; nothing written');
        merged.push(p.weight);
      }
    }
  }

  const tensors: GgufTensor[] = [];
  const fallbacks: string[] = [];
  const add = (name: string, shape: number[], data: Float32Array, alwaysF32 = false) => {
    let t: GgmlType = alwaysF32 || shape.length === 1 || name.endsWith('_norm.weight') ? 'f32' : type;
    if (!canStore(t, shape.at(-1)!)) {
      fallbacks.push(`${name} (rows of ${shape.at(-1)}): f16`);
      t = 'f16';
    }
    tensors.push({ name, shape, type: t, data });
  };
  const done = new Set<string>();
  const take = (n: string) => {
    done.add(n);
    return get(n);
  };
  const shapeOf = (n: string) => model.weights.get(n)!.shape as number[];
  if (model.arch === 'gpt2') {
    add('token_embd.weight', shapeOf('transformer.wte.weight'), take('transformer.wte.weight'));
    add('position_embd.weight', shapeOf('transformer.wpe.weight'), take('transformer.wpe.weight'), true);
    for (let l = 0; l < c.layers; l++) {
      const p = `transformer.h.${l}.attn.`;
      const qkv = (suffix: string) => {
        const parts = ['q_proj', 'k_proj', 'v_proj'].map((x) => take(`${p}${x}.${suffix}`));
        const out = new Float32Array(parts.reduce((s, x) => s + x.length, 0));
        let at = 0;
        for (const x of parts) {
          out.set(x, at);
          at += x.length;
        }
        return out;
      };
      add(`blk.${l}.attn_qkv.weight`, [3 * c.hidden, c.hidden], qkv('weight'));
      add(`blk.${l}.attn_qkv.bias`, [3 * c.hidden], qkv('bias'));
    }
  } else if (c.ropeScaling && (c.ropeScaling.rope_type ?? c.ropeScaling.type) === 'llama3') {
    add('rope_freqs.weight', [c.headDim / 2], llama3RopeFreqs(c), true);
  }
  for (const name of model.weights.keys()) {
    if (done.has(name)) continue;
    const m = /^(.*)\.(weight|bias)$/.exec(name);
    const base = m && tensorName(m[1]!, model.arch);
    if (!m || !base) throw new GgufUnsupportedError(`GGUF export: no llama.cpp ${arch.name} tensor for the weight ${name}`);
    let data = take(name);
    const heads = permuteHeadsFor(arch, m[1]!.replace(/^.*\.self_attn\./, ''), c);
    const shape = shapeOf(name);
    if (heads !== null) data = ropePermuteRows(data, m[2] === 'bias' ? 1 : shape[1]!, heads);
    add(`${base}.${m[2]}`, shape, data);
  }

  const description = adapter
    ? `${model.family} model with a LoRA adapter merged${options.method ? `, trained with ${METHODS[options.method].label}` : ''}, exported by PrefStudio`
    : `${model.family} model exported by PrefStudio`;
  const kv: [string, GgufValue][] = [
    ['general.architecture', str(arch.name)],
    ['general.type', str('model')],
    ['general.name', str(options.name ?? model.source.label)],
    ['general.description', str(description)],
    ['general.file_type', u32(FILE_TYPE[type])],
    ['general.quantization_version', u32(2)],
    ...hyperparameters(arch.name, c),
    ...ggufVocab(model.tokenizer!.files, c.vocabSize, hf),
  ];
  const file = ggufFile(kv, tensors);
  return { ...file, tensors: tensors.length, fallbacks, merged };
}
