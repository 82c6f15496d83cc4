// The decoder-only transformer as our engine runs it: its hyperparameters (TransformerConfig) and
// its weights (TransformerWeights), keyed by Hugging Face module names so a checkpoint maps onto
// them name for name. The model loader (src/engine/model/) produces both; this file checks them.
//
// Letters: B batch, T time, C hidden, V vocab, NH query heads, NKV key/value heads, HS head size,
// I intermediate (MLP) size, L layers.

import type { RopeScaling } from '../kernels/rope.js';

export type { RopeScaling };

export type Arch = 'llama' | 'gpt2';
export type Activation = 'silu' | 'gelu_tanh' | 'gelu';

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
  /** MLP activation: silu (gated, llama), gelu_tanh (GPT-2's gelu_new), gelu (erf). */
  activation: Activation;
  bosId: number | null;
  /** Generation stops at any of these. */
  eosIds: number[];
  padId: number | null;
}

export interface WeightTensor {
  shape: number[];
  dtype: 'f32' | 'f16';
  /** Float32Array for f32; raw IEEE half bits for f16. */
  data: Float32Array | Uint16Array;
}

/**
 * Hugging Face module name → tensor. Linear weights are in HF (nn.Linear) layout [out, in].
 *
 * llama: model.embed_tokens.weight [V, C]; model.layers.N.self_attn.{q,k,v,o}_proj.weight
 * (q [NH·HS, C], k/v [NKV·HS, C], o [C, NH·HS]), with q/k/v .bias when qkvBias (Qwen2);
 * model.layers.N.mlp.{gate,up}_proj.weight [I, C], down_proj.weight [C, I];
 * model.layers.N.{input_layernorm,post_attention_layernorm}.weight [C]; model.norm.weight [C];
 * lm_head.weight [V, C] (absent when tiedEmbeddings).
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
    if (c.activation !== 'silu') fail(`llama arch uses a gated silu MLP, got activation ${c.activation}`);
    if (!(c.ropeTheta > 0)) fail(`ropeTheta = ${c.ropeTheta} must be > 0`);
    if (!isPosInt(c.rotaryDim) || c.rotaryDim % 2 !== 0 || c.rotaryDim > c.headDim) {
      fail(`rotaryDim = ${c.rotaryDim} must be even, positive and at most headDim ${c.headDim}`);
    }
  } else {
    if (c.activation === 'silu') fail('gpt2 arch uses a gelu MLP, not silu');
    if (c.heads !== c.kvHeads) fail('gpt2 has no grouped-query attention (heads must equal kvHeads)');
    if (!c.tiedEmbeddings) fail('gpt2 ties the LM head to wte (tiedEmbeddings must be true)');
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
    m.set('model.embed_tokens.weight', [V, C]);
    for (let l = 0; l < c.layers; l++) {
      const p = `model.layers.${l}.`;
      m.set(`${p}input_layernorm.weight`, [C]);
      m.set(`${p}self_attn.q_proj.weight`, [QD, C]);
      m.set(`${p}self_attn.k_proj.weight`, [KVD, C]);
      m.set(`${p}self_attn.v_proj.weight`, [KVD, C]);
      if (c.qkvBias) {
        m.set(`${p}self_attn.q_proj.bias`, [QD]);
        m.set(`${p}self_attn.k_proj.bias`, [KVD]);
        m.set(`${p}self_attn.v_proj.bias`, [KVD]);
      }
      m.set(`${p}self_attn.o_proj.weight`, [C, QD]);
      m.set(`${p}post_attention_layernorm.weight`, [C]);
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
    const ok = w.dtype === 'f32' ? w.data instanceof Float32Array : w.dtype === 'f16' ? w.data instanceof Uint16Array : false;
    if (!ok) throw new Error(`transformer weights: ${name} is ${String(w.dtype)} but holds a ${w.data.constructor.name}`);
    if (w.data.length !== n) throw new Error(`transformer weights: ${name} holds ${w.data.length} values, shape [${shape.join(', ')}] needs ${n}`);
  }
}

/** Names of the linear weights (kept as given, f16 or f32, on the GPU); everything else is f32. */
export function isLinearWeight(name: string): boolean {
  return /(_proj|c_fc|c_proj|lm_head)\.weight$/.test(name) || name === 'model.embed_tokens.weight' || name === 'transformer.wte.weight';
}

/**
 * A TransformerConfig from a Hugging Face config.json (model_type llama, qwen2, mistral, gpt2,
 * and other Llama-shaped decoders). generation_config's eos ids may be merged in by the caller.
 */
export function configFromHf(hf: Record<string, unknown>): TransformerConfig {
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
  const act = String(hf.hidden_act ?? 'silu');
  if (act !== 'silu' && act !== 'swish') throw new Error(`config.json: hidden_act "${act}" is not supported for ${modelType} (silu only)`);
  const ropeParams = (hf.rope_scaling ?? hf.rope_parameters ?? null) as (RopeScaling & { rope_theta?: number; partial_rotary_factor?: number }) | null;
  const partial = num('partial_rotary_factor', ropeParams?.partial_rotary_factor ?? 1);
  const ropeTheta = num('rope_theta', ropeParams?.rope_theta ?? 10000);
  const type = ropeParams ? ropeParams.rope_type ?? ropeParams.type ?? 'default' : 'default';
  const c: TransformerConfig = {
    arch: 'llama',
    vocabSize: num('vocab_size'),
    hidden: C,
    layers: num('num_hidden_layers'),
    heads: NH,
    kvHeads: num('num_key_value_heads', NH),
    headDim: HS,
    intermediate: num('intermediate_size'),
    maxPositions: num('max_position_embeddings'),
    normEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling: ropeParams && type !== 'default' ? ropeParams : null,
    ropeInterleaved: false,
    rotaryDim: Math.floor(HS * partial),
    tiedEmbeddings: Boolean(hf.tie_word_embeddings ?? false),
    qkvBias: modelType === 'qwen2',
    activation: 'silu',
    bosId: id(hf.bos_token_id),
    eosIds: ids(hf.eos_token_id),
    padId: id(hf.pad_token_id),
  };
  // Llama's attention_bias also puts a bias on o_proj, which this engine does not carry.
  if (hf.attention_bias) throw new Error('config.json: attention_bias is not supported (qwen2 q/k/v biases are)');
  if (hf.mlp_bias) throw new Error('config.json: mlp_bias is not supported');
  validateConfig(c);
  return c;
}
