// The decoder-only transformer as our engine runs it: its hyperparameters (TransformerConfig) and
// its weights (TransformerWeights), keyed by Hugging Face module names so a checkpoint maps onto
// them name for name. The model loader (src/engine/model/) produces both; this file checks them.
//
// Letters: B batch, T time, C hidden, V vocab, NH query heads, NKV key/value heads, HS head size,
// I intermediate (MLP) size, L layers.

import type { RopeScaling } from '../kernels/rope.js';
import { checkBlockQuantized, type BlockQuantized } from '../blockq.js';

export type { RopeScaling };

export type Arch = 'llama' | 'gpt2';
export type Activation = 'silu' | 'gelu_tanh' | 'gelu';
/** Where a llama-arch block puts its RMSNorms: see TransformerConfig.normPlacement. */
export type NormPlacement = 'pre' | 'sandwich' | 'post';
/** q/k RMSNorm before rope: see TransformerConfig.qkNorm. */
export type QkNorm = 'none' | 'head' | 'proj';
/** A layer's attention: every earlier token ('full') or the last slidingWindow ('sliding'). */
export type LayerType = 'full' | 'sliding';

export interface TransformerConfig {
  /**
   * 'llama': RMSNorm, rotary positions, gated MLP (Llama, Qwen2, Mistral, SmolLM, ...).
   * 'gpt2': LayerNorm with bias, learned positions (wpe), plain MLP, biases on every linear.
   */
  arch: Arch;
  vocabSize: number; // V
  hidden: number; // C
  layers: number; // L
  heads: number; // NH
  kvHeads: number; // NKV (grouped-query attention when < NH)
  headDim: number; // HS (NH·HS need not equal C)
  intermediate: number; // I
  /** Longest sequence the position table (gpt2) or the rope scaling was made for. */
  maxPositions: number;
  normEps: number;
  /** Rope base (llama); ignored by gpt2. */
  ropeTheta: number;
  /** Hugging Face `rope_scaling` (or `rope_parameters`) object, or null for plain RoPE. */
  ropeScaling: RopeScaling | null;
  /** false for Hugging Face Llama (rotate_half pairs (i, i + R/2)); true for GPT-J style pairs. */
  ropeInterleaved: boolean;
  /** Leading head dims that rotate (HF partial_rotary_factor · HS); HS for Llama. */
  rotaryDim: number;
  /** lm_head shares the token embedding (always true for gpt2). */
  tiedEmbeddings: boolean;
  /** Biases on q, k and v projections (Qwen2). gpt2 has biases everywhere regardless. */
  qkvBias: boolean;
  /**
   * MLP activation: llama arch: the gate's, silu (SwiGLU) or gelu_tanh (GeGLU: Gemma's
   * gelu_pytorch_tanh); gpt2: gelu_tanh (GPT-2's gelu_new) or gelu (erf).
   */
  activation: Activation;
  bosId: number | null;
  /** Generation stops at any of these. */
  eosIds: number[];
  padId: number | null;

  // ---- llama arch beyond Llama itself (Gemma 2/3, Qwen3, Phi-3, OLMo 2, Mistral's window);
  // ---- each absent field means Llama's behaviour (architectureFromHf fills them).
  /** Added to every RMSNorm weight: 1 for Gemma's `x · (1 + w)`, else 0. */
  normWeightOffset?: number;
  /** Multiplies the token embedding rows (Gemma: sqrt(hidden), rounded to the table's dtype). */
  embedScale?: number;
  /** Multiplies q·k before the softmax (Gemma: query_pre_attn_scalar^-0.5); default 1/sqrt(HS). */
  attentionScale?: number;
  /** attn_logit_softcapping c: scores s -> c·tanh(s / c) (Gemma 2); 0 = none. */
  attnSoftcap?: number;
  /** final_logit_softcapping c: logits -> c·tanh(logits / c) (Gemma 2); 0 = none. */
  finalSoftcap?: number;
  /**
   * 'pre' (Llama): input_layernorm before attention, post_attention_layernorm before the MLP.
   * 'sandwich' (Gemma 2/3): input_layernorm and pre_feedforward_layernorm before, and
   * post_attention_layernorm and post_feedforward_layernorm after each branch (on its output,
   * before the residual add). 'post' (OLMo 2): post_attention_layernorm and
   * post_feedforward_layernorm on the branch outputs only; attention and MLP read the residual
   * stream itself.
   */
  normPlacement?: NormPlacement;
  /**
   * RMSNorm of q and k after their projections, before rope: 'head' over each head's HS values
   * (self_attn.q_norm.weight [HS]: Qwen3, Gemma 3), 'proj' over the whole projection
   * ([NH·HS] and [NKV·HS]: OLMo 2), 'none'.
   */
  qkNorm?: QkNorm;
  /** Sliding window W of the 'sliding' layers: query position i sees keys j with i - j < W. */
  slidingWindow?: number;
  /** Each layer's attention (length L); absent: every layer 'full'. */
  layerTypes?: LayerType[];
  /** Rope of the 'sliding' layers where it differs from ropeTheta/ropeScaling (Gemma 3's rope_local_base_freq). */
  localRope?: { theta: number; scaling: RopeScaling | null };
  /**
   * Hugging Face packs q|k|v into self_attn.qkv_proj and gate|up into mlp.gate_up_proj (Phi-3).
   * The weights here stay split (q/k/v_proj, gate/up_proj: row ranges of the packed tensors);
   * LoRA modules, PEFT names and exports use the packed modules.
   */
  packedProjections?: boolean;
}

export type WeightTensor = FloatWeightTensor | QuantWeightTensor;

export interface FloatWeightTensor {
  shape: number[];
  dtype: 'f32' | 'f16';
  /** Float32Array for f32; raw IEEE half bits for f16. */
  data: Float32Array | Uint16Array;
}

/**
 * A block-quantized linear weight or token embedding (a QLoRA base: src/engine/blockq.ts), kept
 * packed on the GPU and dequantized inside the matmul and embedding kernels; frozen.
 */
export interface QuantWeightTensor {
  shape: number[];
  dtype: 'blockq';
  data: BlockQuantized;
}

/**
 * Hugging Face module name → tensor. Linear weights are in HF (nn.Linear) layout [out, in].
 *
 * llama: model.embed_tokens.weight [V, C]; model.layers.N.self_attn.{q,k,v,o}_proj.weight
 * (q [NH·HS, C], k/v [NKV·HS, C], o [C, NH·HS]), with q/k/v .bias when qkvBias (Qwen2);
 * model.layers.N.mlp.{gate,up}_proj.weight [I, C], down_proj.weight [C, I];
 * model.layers.N.{input_layernorm,post_attention_layernorm}.weight [C]; model.norm.weight [C];
 * lm_head.weight [V, C] (absent when tiedEmbeddings). By normPlacement: 'sandwich' adds
 * pre_feedforward_layernorm and post_feedforward_layernorm; 'post' has post_attention_layernorm
 * and post_feedforward_layernorm only. qkNorm adds self_attn.{q,k}_norm.weight. Norm weights are
 * Hugging Face's (Gemma's w of 1 + w). Phi-3's packed qkv_proj / gate_up_proj arrive split into
 * q/k/v_proj and gate/up_proj (packedProjections).
 *
 * gpt2: transformer.wte.weight [V, C], transformer.wpe.weight [maxPositions, C];
 * transformer.h.N.ln_1.{weight,bias} [C]; transformer.h.N.attn.{q,k,v}_proj.{weight [C, C], bias [C]}:
 * NOT HF names: HF GPT-2 stores one Conv1D c_attn.weight [C, 3C] (layout [in, out]) and
 * c_attn.bias [3C]; the loader splits its columns into q, k, v (in that order) and transposes each
 * to [out, in]. Likewise c_proj (attn and mlp) and mlp.c_fc, Conv1D in HF, arrive transposed to
 * [out, in]: attn.c_proj.weight [C, C], mlp.c_fc.weight [I, C], mlp.c_proj.weight [C, I], each with
 * its bias. transformer.h.N.ln_2.{weight,bias}, transformer.ln_f.{weight,bias} [C]. The LM head is
 * wte.
 */
export type TransformerWeights = Map<string, WeightTensor>;

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Throws on inconsistent hyperparameters, naming the field. */
export function validateConfig(c: TransformerConfig): void {
  const fail = (msg: string): never => {
    throw new Error(`transformer config: ${msg}`);
  };
  if (c.arch !== 'llama' && c.arch !== 'gpt2') fail(`arch "${String(c.arch)}" is not llama or gpt2`);
  for (const k of ['vocabSize', 'hidden', 'layers', 'heads', 'kvHeads', 'headDim', 'intermediate', 'maxPositions'] as const) {
    if (!isPosInt(c[k])) fail(`${k} = ${String(c[k])} is not a positive integer`);
  }
  if (c.heads % c.kvHeads !== 0) fail(`heads ${c.heads} is not a multiple of kvHeads ${c.kvHeads}`);
  if (!(c.normEps > 0)) fail(`normEps = ${c.normEps} must be > 0`);
  if (!['silu', 'gelu_tanh', 'gelu'].includes(c.activation)) fail(`activation "${String(c.activation)}" is not silu, gelu_tanh or gelu`);
  if (c.arch === 'llama') {
    if (c.activation !== 'silu' && c.activation !== 'gelu_tanh') fail(`llama arch uses a gated MLP with silu (SwiGLU) or gelu_tanh (GeGLU), got activation ${c.activation}`);
    if (!(c.ropeTheta > 0)) fail(`ropeTheta = ${c.ropeTheta} must be > 0`);
    if (!isPosInt(c.rotaryDim) || c.rotaryDim % 2 !== 0 || c.rotaryDim > c.headDim) {
      fail(`rotaryDim = ${c.rotaryDim} must be even, positive and at most headDim ${c.headDim}`);
    }
    if (c.normWeightOffset !== undefined && c.normWeightOffset !== 0 && c.normWeightOffset !== 1) fail(`normWeightOffset = ${c.normWeightOffset} must be 0 or 1`);
    for (const k of ['embedScale', 'attentionScale'] as const) {
      const v = c[k];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) fail(`${k} = ${v} must be a positive number`);
    }
    for (const k of ['attnSoftcap', 'finalSoftcap'] as const) {
      const v = c[k];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) fail(`${k} = ${v} must be 0 (off) or a positive number`);
    }
    if (c.normPlacement !== undefined && !['pre', 'sandwich', 'post'].includes(c.normPlacement)) fail(`normPlacement "${String(c.normPlacement)}" is not pre, sandwich or post`);
    if (c.qkNorm !== undefined && !['none', 'head', 'proj'].includes(c.qkNorm)) fail(`qkNorm "${String(c.qkNorm)}" is not none, head or proj`);
    if (c.layerTypes !== undefined) {
      if (c.layerTypes.length !== c.layers) fail(`layerTypes has ${c.layerTypes.length} entries for ${c.layers} layers`);
      const bad = c.layerTypes.find((t) => t !== 'full' && t !== 'sliding');
      if (bad !== undefined) fail(`layerTypes holds "${String(bad)}" (full or sliding)`);
      if (c.layerTypes.includes('sliding') && !isPosInt(c.slidingWindow)) fail(`sliding layers need slidingWindow, a positive integer (got ${String(c.slidingWindow)})`);
    }
    if (c.slidingWindow !== undefined && !isPosInt(c.slidingWindow)) fail(`slidingWindow = ${c.slidingWindow} must be a positive integer`);
    if (c.localRope && !(c.localRope.theta > 0)) fail(`localRope.theta = ${c.localRope.theta} must be > 0`);
  } else {
    if (c.activation === 'silu') fail('gpt2 arch uses a gelu MLP, not silu');
    if (c.heads !== c.kvHeads) fail('gpt2 has no grouped-query attention (heads must equal kvHeads)');
  }
  for (const id of [c.bosId, c.padId, ...c.eosIds]) {
    if (id !== null && !(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) fail(`token id ${id} is outside the vocabulary`);
  }
}

/** Every tensor the model needs, name → shape, in forward order. */
export function expectedWeightShapes(c: TransformerConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const C = c.hidden, V = c.vocabSize, I = c.intermediate;
  const QD = c.heads * c.headDim, KVD = c.kvHeads * c.headDim;
  if (c.arch === 'llama') {
    const placement = c.normPlacement ?? 'pre';
    const qkNorm = c.qkNorm ?? 'none';
    m.set('model.embed_tokens.weight', [V, C]);
    for (let l = 0; l < c.layers; l++) {
      const p = `model.layers.${l}.`;
      if (placement !== 'post') m.set(`${p}input_layernorm.weight`, [C]);
      m.set(`${p}self_attn.q_proj.weight`, [QD, C]);
      m.set(`${p}self_attn.k_proj.weight`, [KVD, C]);
      m.set(`${p}self_attn.v_proj.weight`, [KVD, C]);
      if (c.qkvBias) {
        m.set(`${p}self_attn.q_proj.bias`, [QD]);
        m.set(`${p}self_attn.k_proj.bias`, [KVD]);
        m.set(`${p}self_attn.v_proj.bias`, [KVD]);
      }
      if (qkNorm !== 'none') {
        m.set(`${p}self_attn.q_norm.weight`, [qkNorm === 'head' ? c.headDim : QD]);
        m.set(`${p}self_attn.k_norm.weight`, [qkNorm === 'head' ? c.headDim : KVD]);
      }
      m.set(`${p}self_attn.o_proj.weight`, [C, QD]);
      m.set(`${p}post_attention_layernorm.weight`, [C]);
      if (placement === 'sandwich') m.set(`${p}pre_feedforward_layernorm.weight`, [C]);
      if (placement !== 'pre') m.set(`${p}post_feedforward_layernorm.weight`, [C]);
      m.set(`${p}mlp.gate_proj.weight`, [I, C]);
      m.set(`${p}mlp.up_proj.weight`, [I, C]);
      m.set(`${p}mlp.down_proj.weight`, [C, I]);
    }
    m.set('model.norm.weight', [C]);
    if (!c.tiedEmbeddings) m.set('lm_head.weight', [V, C]);
  } else {
    m.set('transformer.wte.weight', [V, C]);
    m.set('transformer.wpe.weight', [c.maxPositions, C]);
    for (let l = 0; l < c.layers; l++) {
      const p = `transformer.h.${l}.`;
      m.set(`${p}ln_1.weight`, [C]);
      m.set(`${p}ln_1.bias`, [C]);
      for (const x of ['q', 'k', 'v']) {
        m.set(`${p}attn.${x}_proj.weight`, [QD, C]);
        m.set(`${p}attn.${x}_proj.bias`, [QD]);
      }
      m.set(`${p}attn.c_proj.weight`, [C, QD]);
      m.set(`${p}attn.c_proj.bias`, [C]);
      m.set(`${p}ln_2.weight`, [C]);
      m.set(`${p}ln_2.bias`, [C]);
      m.set(`${p}mlp.c_fc.weight`, [I, C]);
      m.set(`${p}mlp.c_fc.bias`, [I]);
      m.set(`${p}mlp.c_proj.weight`, [C, I]);
      m.set(`${p}mlp.c_proj.bias`, [C]);
    }
    m.set('transformer.ln_f.weight', [C]);
    m.set('transformer.ln_f.bias', [C]);
    // Untied where a file stores the head apart from wte: a quantized export's own (quantized)
    // head, or the merged export of such a base.
    if (!c.tiedEmbeddings) m.set('lm_head.weight', [V, C]);
  }
  return m;
}

/**
 * Throws unless the weights are exactly the tensors the config asks for, each with the right
 * shape, dtype and data length; the error names the tensor.
 */
export function validateWeights(c: TransformerConfig, weights: TransformerWeights): void {
  validateConfig(c);
  const expected = expectedWeightShapes(c);
  const missing = [...expected.keys()].filter((n) => !weights.has(n));
  if (missing.length > 0) {
    throw new Error(`transformer weights: missing ${missing.length} tensor(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
  }
  const extra = [...weights.keys()].filter((n) => !expected.has(n));
  if (extra.length > 0) {
    throw new Error(`transformer weights: unexpected tensor(s) for ${c.arch}: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', ...' : ''}`);
  }
  for (const [name, shape] of expected) {
    const w = weights.get(name)!;
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`transformer weights: ${name} has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (w.dtype === 'blockq') {
      if (!isLinearWeight(name)) throw new Error(`transformer weights: ${name} is block-quantized; only linear weights and the token embedding may be`);
      if (w.data.rows !== shape[0] || w.data.cols !== shape[1]) throw new Error(`transformer weights: ${name} holds a quantized [${w.data.rows}, ${w.data.cols}], shape [${shape.join(', ')}] expected`);
      checkBlockQuantized(w.data, `transformer weights: ${name}`);
      continue;
    }
    const ok = w.dtype === 'f32' ? w.data instanceof Float32Array : w.dtype === 'f16' ? w.data instanceof Uint16Array : false;
    if (!ok) throw new Error(`transformer weights: ${name} is ${String(w.dtype)} but holds a ${w.data.constructor.name}`);
    if (w.data.length !== n) throw new Error(`transformer weights: ${name} holds ${w.data.length} values, shape [${shape.join(', ')}] needs ${n}`);
  }
}

/** The sliding window of layer l, or 0 when it attends to every earlier token. */
export function layerWindow(c: TransformerConfig, l: number): number {
  return c.layerTypes?.[l] === 'sliding' ? c.slidingWindow ?? 0 : 0;
}

/** The rope base and scaling layer l uses (Gemma 3's local layers have their own). */
export function layerRope(c: TransformerConfig, l: number): { theta: number; scaling: RopeScaling | null } {
  if (c.localRope && c.layerTypes?.[l] === 'sliding') return c.localRope;
  return { theta: c.ropeTheta, scaling: c.ropeScaling };
}

/** Names of the linear weights (kept as given, f16 or f32, on the GPU); everything else is f32. */
export function isLinearWeight(name: string): boolean {
  return /(_proj|c_fc|c_proj|lm_head)\.weight$/.test(name) || name === 'model.embed_tokens.weight' || name === 'transformer.wte.weight';
}

/**
 * A TransformerConfig from a Hugging Face config.json (model_type gpt2 or one of
 * LLAMA_ARCH_TYPES; architectureFromHf says what each adds). generation_config's eos ids may be
 * merged in by the caller.
 */
export function configFromHf(hfIn: Record<string, unknown>): TransformerConfig {
  // Gemma 3's multimodal config keeps the text model's fields under text_config.
  const hf = hfIn.model_type === 'gemma3' && obj(hfIn.text_config) ? { ...obj(hfIn.text_config)!, model_type: 'gemma3_text' } : hfIn;
  const num = (k: string, fallback?: number): number => {
    const v = hf[k];
    if (typeof v === 'number') return v;
    if (fallback !== undefined) return fallback;
    throw new Error(`config.json: ${k} is missing`);
  };
  const ids = (v: unknown): number[] => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : []);
  const id = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  const modelType = String(hf.model_type ?? 'llama');
  if (modelType === 'gpt2') {
    const C = num('n_embd');
    const NH = num('n_head');
    const act = String(hf.activation_function ?? 'gelu_new');
    const c: TransformerConfig = {
      arch: 'gpt2',
      vocabSize: num('vocab_size'),
      hidden: C,
      layers: num('n_layer'),
      heads: NH,
      kvHeads: NH,
      headDim: C / NH,
      intermediate: num('n_inner', 4 * C),
      maxPositions: num('n_positions'),
      normEps: num('layer_norm_epsilon', 1e-5),
      ropeTheta: 10000,
      ropeScaling: null,
      ropeInterleaved: false,
      rotaryDim: 0,
      tiedEmbeddings: true,
      qkvBias: true,
      activation: act === 'gelu' ? 'gelu' : 'gelu_tanh',
      bosId: id(hf.bos_token_id),
      eosIds: ids(hf.eos_token_id),
      padId: id(hf.pad_token_id),
    };
    validateConfig(c);
    return c;
  }
  const C = num('hidden_size');
  const NH = num('num_attention_heads');
  const HS = num('head_dim', C / NH);
  const L = num('num_hidden_layers');
  const arch = architectureFromHf(modelType, hf, L, C, HS);
  const partial = num('partial_rotary_factor', arch.rope.partialRotaryFactor ?? 1);
  const c: TransformerConfig = {
    arch: 'llama',
    vocabSize: num('vocab_size'),
    hidden: C,
    layers: L,
    heads: NH,
    kvHeads: num('num_key_value_heads', NH),
    headDim: HS,
    intermediate: num('intermediate_size'),
    maxPositions: num('max_position_embeddings'),
    normEps: num('rms_norm_eps', 1e-6),
    ropeTheta: arch.rope.theta,
    ropeScaling: arch.rope.scaling,
    ropeInterleaved: false,
    rotaryDim: Math.floor(HS * partial),
    tiedEmbeddings: Boolean(hf.tie_word_embeddings ?? arch.tiedByDefault),
    bosId: id(hf.bos_token_id),
    eosIds: ids(hf.eos_token_id),
    padId: id(hf.pad_token_id),
    ...arch.fields,
  };
  validateConfig(c);
  return c;
}

// ---- what each Hugging Face llama-arch model_type adds (one place: configFromHf and the loader) ----

/** Hugging Face model_type values this engine runs as arch 'llama', and what each is. */
export const LLAMA_ARCH_TYPES: Record<string, string> = {
  llama: 'Llama (SmolLM, Llama 3.2, TinyLlama, ...)',
  mistral: 'Mistral (sliding window on every layer)',
  qwen2: 'Qwen2 / Qwen2.5 (q/k/v biases)',
  qwen3: 'Qwen3 (per-head q/k RMSNorm)',
  gemma2: 'Gemma 2 (GeGLU, 1 + w norms, sandwich norms, soft-capping, alternating sliding window)',
  gemma3_text: 'Gemma 3 text (Gemma 2 plus per-head q/k norms, 5:1 local/global layers with their own rope bases)',
  phi3: 'Phi-3 / Phi-4-mini (packed qkv_proj and gate_up_proj, partial rotary, sliding window)',
  olmo2: 'OLMo 2 (post-norms, q/k RMSNorm over the whole projection)',
};

/** The llama-arch fields a model_type sets beyond the dimensions, and its rope. */
export interface ArchitectureFromHf {
  fields: Pick<TransformerConfig, 'activation' | 'qkvBias' | 'normWeightOffset' | 'embedScale' | 'attentionScale' | 'attnSoftcap' | 'finalSoftcap'
    | 'normPlacement' | 'qkNorm' | 'slidingWindow' | 'layerTypes' | 'localRope' | 'packedProjections'>;
  /** Rope of the full-attention layers (Gemma 3: rope_parameters.full_attention). */
  rope: { theta: number; scaling: RopeScaling | null; partialRotaryFactor?: number };
  /** tie_word_embeddings when config.json does not say (Gemma and Qwen3 small models tie). */
  tiedByDefault: boolean;
}

const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const numOr = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A rope_scaling / rope_parameters object as RopeScaling, or null for plain rope. */
function scalingOf(rp: Record<string, unknown> | null, hf: Record<string, unknown>): RopeScaling | null {
  if (!rp) return null;
  const type = String(rp.rope_type ?? rp.type ?? 'default');
  if (type === 'default') return null;
  const scaling = { ...rp } as RopeScaling & Record<string, unknown>;
  delete scaling.rope_theta;
  delete scaling.partial_rotary_factor;
  // Phi-3 keeps original_max_position_embeddings at the top level; HF's longrope reads it there.
  const original = numOr(hf.original_max_position_embeddings);
  if (original !== undefined && scaling.original_max_position_embeddings === undefined) scaling.original_max_position_embeddings = original;
  return scaling;
}

/**
 * What a Hugging Face config.json of a llama-arch model_type adds to Llama, from the modeling
 * files of transformers (modeling_<type>.py) and their configuration defaults. Throws, naming
 * the field, for a model_type or a setting this engine does not run.
 */
export function architectureFromHf(modelType: string, hfIn: Record<string, unknown>, layers: number, hidden: number, headDim: number): ArchitectureFromHf {
  // Gemma 3's multimodal config keeps the text model under text_config.
  const hf = modelType === 'gemma3' && obj(hfIn.text_config) ? { ...obj(hfIn.text_config)!, model_type: 'gemma3_text' } : hfIn;
  const type = modelType === 'gemma3' ? 'gemma3_text' : modelType;
  if (!(type in LLAMA_ARCH_TYPES)) {
    throw new Error(`config.json: model_type "${modelType}" is not supported (supported: ${Object.keys(LLAMA_ARCH_TYPES).join(', ')} and gpt2)`);
  }
  const gemma = type === 'gemma2' || type === 'gemma3_text';
  const fields: ArchitectureFromHf['fields'] = { activation: 'silu', qkvBias: type === 'qwen2' };

  // MLP activation.
  const act = String(hf.hidden_activation ?? hf.hidden_act ?? (gemma ? 'gelu_pytorch_tanh' : 'silu'));
  if (gemma) {
    if (!['gelu_pytorch_tanh', 'gelu_new', 'gelu_fast'].includes(act)) throw new Error(`config.json: hidden_activation "${act}" is not supported for ${type} (gelu_pytorch_tanh only)`);
    fields.activation = 'gelu_tanh';
  } else if (act !== 'silu' && act !== 'swish') {
    throw new Error(`config.json: hidden_act "${act}" is not supported for ${type} (silu only)`);
  }
  // Llama's attention_bias also puts a bias on o_proj, which this engine does not carry.
  if (hf.attention_bias) throw new Error(`config.json: attention_bias is not supported for ${type} (qwen2's q/k/v biases are)`);
  if (hf.mlp_bias) throw new Error(`config.json: mlp_bias is not supported for ${type}`);

  // Rope (the full-attention layers').
  const perType = obj(hf.rope_parameters) && (obj(obj(hf.rope_parameters)!.full_attention) || obj(obj(hf.rope_parameters)!.sliding_attention)) ? obj(hf.rope_parameters)! : null;
  const globalParams = perType ? obj(perType.full_attention) : obj(hf.rope_scaling) ?? obj(hf.rope_parameters);
  const rope = {
    theta: numOr(hf.rope_theta) ?? numOr(globalParams?.rope_theta) ?? (type === 'gemma3_text' ? 1_000_000 : 10000),
    scaling: scalingOf(globalParams, hf),
    partialRotaryFactor: numOr(globalParams?.partial_rotary_factor),
  };

  // Attention extent: which layers slide, and how far.
  const window = numOr(hf.sliding_window);
  const named = Array.isArray(hf.layer_types) ? (hf.layer_types as unknown[]).map((t) => (t === 'sliding_attention' ? 'sliding' : t === 'full_attention' ? 'full' : String(t))) : null;
  if (named) {
    const bad = named.find((t) => t !== 'sliding' && t !== 'full');
    if (bad !== undefined) throw new Error(`config.json: layer_types holds "${bad}" (sliding_attention or full_attention)`);
  }
  const setWindow = (types: ('full' | 'sliding')[]) => {
    if (!types.includes('sliding')) return;
    if (window === undefined || !(window > 0)) throw new Error(`config.json: ${type} has sliding-window layers but no sliding_window`);
    fields.slidingWindow = window;
    fields.layerTypes = types;
  };
  if (gemma) {
    if (hf.use_bidirectional_attention) throw new Error('config.json: use_bidirectional_attention (an embedding model) is not supported');
    const pattern = numOr(hf.sliding_window_pattern) ?? numOr(hf._sliding_window_pattern) ?? (type === 'gemma2' ? 2 : 6);
    const types = named ? named.slice(0, layers) : Array.from({ length: layers }, (_, i) => ((i + 1) % pattern !== 0 ? 'sliding' : 'full'));
    if (types.length !== layers) throw new Error(`config.json: layer_types has ${types.length} entries for ${layers} layers`);
    setWindow(types as ('full' | 'sliding')[]);
    fields.normWeightOffset = 1;
    fields.embedScale = Math.fround(Math.sqrt(hidden));
    fields.attentionScale = (numOr(hf.query_pre_attn_scalar) ?? headDim) ** -0.5;
    fields.attnSoftcap = numOr(hf.attn_logit_softcapping) ?? 0;
    fields.finalSoftcap = numOr(hf.final_logit_softcapping) ?? 0;
    fields.normPlacement = 'sandwich';
    if (type === 'gemma3_text') {
      fields.qkNorm = 'head';
      const local = perType ? obj(perType.sliding_attention) : null;
      fields.localRope = local
        ? { theta: numOr(local.rope_theta) ?? numOr(hf.rope_local_base_freq) ?? 10000, scaling: scalingOf(local, hf) }
        : { theta: numOr(hf.rope_local_base_freq) ?? 10000, scaling: null };
    }
  } else if (type === 'qwen2' || type === 'qwen3') {
    // HF: sliding_window only with use_sliding_window, on the layers from max_window_layers on.
    const on = Boolean(hf.use_sliding_window) && window !== undefined;
    if (on) {
      const from = numOr(hf.max_window_layers) ?? layers;
      setWindow((named?.slice(0, layers) as ('full' | 'sliding')[] | undefined) ?? Array.from({ length: layers }, (_, i) => (i >= from ? 'sliding' : 'full')));
    }
    if (type === 'qwen3') fields.qkNorm = 'head';
  } else if (type === 'mistral' || type === 'phi3') {
    // HF builds one sliding-window mask for every layer when sliding_window is set.
    if (window !== undefined && window !== null) setWindow(Array.from({ length: layers }, () => 'sliding'));
    if (type === 'phi3') fields.packedProjections = true;
  } else if (type === 'olmo2') {
    fields.normPlacement = 'post';
    fields.qkNorm = 'proj';
    if (named?.includes('sliding')) throw new Error('config.json: olmo2 with sliding-window layers (OLMo 3) is not supported');
  }
  return { fields, rope, tiedByDefault: gemma };
}
