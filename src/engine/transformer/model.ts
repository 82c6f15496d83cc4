// The whole decoder-only transformer on the GPU: weights uploaded once, a forward pass over a
// right-padded batch of token rows, and the LM head applied to only the rows asked for.
//
// Llama block (arch 'llama'):                    GPT-2 block (arch 'gpt2'):
//   ln1 = rmsnorm(x)                               ln1 = layernorm(x)
//   q, k, v = ln1·Wq,k,v (+ bias: Qwen2)           q, k, v = ln1·Wq,k,v + b
//   q, k = rope(q, k)                              (positions come from wpe at the input)
//   att = attention(q, k, v)  causal, GQA, key padding mask
//   residual2 = x + att·Wo                         residual2 = x + att·Wc_proj + b
//   ln2 = rmsnorm(residual2)                       ln2 = layernorm(residual2)
//   fcAct = silu(ln2·Wgate) · (ln2·Wup)            fcAct = gelu(ln2·Wc_fc + b)
//   residual3 = residual2 + fcAct·Wdown            residual3 = residual2 + fcAct·Wc_proj + b
// logits = norm(x_L) · Wlm_headᵀ (tied: the token embedding).
//
// The llama arch's variants (TransformerConfig's optional fields, from architectureFromHf):
//   embeddings · embedScale (Gemma); RMSNorm weights as (1 + w) (Gemma); q, k = rmsnorm(q), rmsnorm(k)
//   per head or over the projection before rope (Qwen3, Gemma 3; OLMo 2); attention with
//   attentionScale, attnSoftcap and each layer's sliding window and rope (Gemma 2/3, Mistral,
//   Phi-3's partial rotary); GeGLU instead of SwiGLU (Gemma); 'sandwich' norms (Gemma:
//   residual2 = x + rmsnorm(att·Wo), ln2 = pre_feedforward_layernorm(residual2),
//   residual3 = residual2 + rmsnorm(fcAct·Wdown)) or 'post' norms (OLMo 2: the same without ln1
//   and ln2: q, k, v and the MLP read the residual stream); logits soft-capped (Gemma 2).
//
// Every linear layer goes through `linear` below, the one place a LoRA adapter plugs in.
// Letters: B batch, T time, C hidden, V vocab, NH/NKV heads, HS head size, I intermediate.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { attentionForward } from '../kernels/attention.js';
import { embeddingForward } from '../kernels/embedding.js';
import { geluForward } from '../kernels/gelu.js';
import { layernormForward } from '../kernels/layernorm.js';
import { matmulBackward, matmulForward } from '../kernels/matmul.js';
import { isQuantTensor, uploadBlockQuantized, type QuantTensor } from '../kernels/matmul-nbits.js';
import { rmsnormForward } from '../kernels/rmsnorm.js';
import { ropeAttentionFactor, ropeForward, ropeInvFreq } from '../kernels/rope.js';
import { residualForward } from '../kernels/residual.js';
import { softcapForward } from '../kernels/softcap.js';
import { swigluForward } from '../kernels/swiglu.js';
import { fromF16Array } from '../f16.js';
import type { TransformerConfig, TransformerWeights, WeightTensor } from './config.js';
import { isLinearWeight, layerRope, layerWindow, validateWeights } from './config.js';
import { copyRegions, type RegionCopy } from './gpu-copy.js';

// ---- weights on the GPU ----

/**
 * Something added to a linear layer's output, fused into its matmul: it runs the whole layer,
 * out (M, OC) = (or += with accumulate) inp (M, C) · Wᵀ + b + its own term. A LoRA adapter
 * (src/engine/lora/adapter.ts) implements this and keeps whatever its own backward needs.
 */
export interface LinearAdapter {
  forward(engine: Engine, out: Tensor, inp: Tensor, lw: LinearWeights, M: number, accumulate: boolean): void;
}

export interface LinearWeights {
  name: string;
  weight: Tensor | QuantTensor; // (OC, C) f32, f16 (packed), or block-quantized (a frozen QLoRA base)
  bias: Tensor | null; // (OC)
  inFeatures: number; // C
  outFeatures: number; // OC
  adapter: LinearAdapter | null;
}

export interface NormWeights {
  weight: Tensor; // (C)
  bias: Tensor | null; // (C), layernorm only
}

export interface LayerWeights {
  /** Before attention: input_layernorm / ln_1; null with 'post' norms (OLMo 2). */
  ln1: NormWeights | null;
  /** self_attn.q_norm / k_norm (qkNorm), else null. */
  qNorm: NormWeights | null;
  kNorm: NormWeights | null;
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  o: LinearWeights;
  /** On the attention output before the residual add ('sandwich', 'post'): post_attention_layernorm. */
  postAttn: NormWeights | null;
  /** Before the MLP: post_attention_layernorm (Llama), pre_feedforward_layernorm (Gemma), ln_2; null with 'post' norms. */
  ln2: NormWeights | null;
  /** On the MLP output before the residual add ('sandwich', 'post'): post_feedforward_layernorm. */
  postMlp: NormWeights | null;
  /** llama: gate_proj; null for gpt2. */
  gate: LinearWeights | null;
  /** llama: up_proj; gpt2: mlp.c_fc. */
  up: LinearWeights;
  /** llama: down_proj; gpt2: mlp.c_proj. */
  down: LinearWeights;
}

/** Rows [row0, row0 + rows) of a table split across buffers (tablePartsOf). */
export interface TablePart {
  weight: Tensor; // (rows, C)
  row0: number;
  rows: number;
}

export interface ModelCreateOptions {
  /**
   * Bytes one table buffer may take: an embedding or LM head larger than this is split by rows
   * across several buffers (default: the device's largest storage binding). Tests lower it.
   */
  maxTableBytes?: number;
}

export interface ModelWeights {
  /** (V, C); block-quantized in a QLoRA base; with embedParts, only the first part (kernels given it whole would refuse its size). */
  tokenEmbedding: Tensor | QuantTensor;
  /** The token embedding split by rows when larger than one storage binding; else null. */
  embedParts?: TablePart[] | null;
  /** The LM head split by rows (the embedding's parts when tied); else null. */
  headParts?: TablePart[] | null;
  positionEmbedding: Tensor | null; // (maxPositions, C), gpt2
  layers: LayerWeights[];
  lnf: NormWeights;
  /** (V, C); the token embedding when tied. */
  lmHead: LinearWeights;
  /** rope frequencies (rotaryDim / 2), llama. */
  invFreq: Tensor | null;
  /** The sliding layers' own rope frequencies (Gemma 3's rope_local_base_freq), else null. */
  invFreqLocal: Tensor | null;
}

/**
 * y (M, OC) = x (M, C) · Wᵀ + b, plus the layer's adapter if one is plugged in.
 * `accumulate`: y += instead of = (the residual adds fold into the output projections).
 */
export function linear(engine: Engine, out: Tensor, inp: Tensor, lw: LinearWeights, M: number, accumulate = false): void {
  if (lw.adapter) lw.adapter.forward(engine, out, inp, lw, M, accumulate);
  else matmulForward(engine, out, inp, lw.weight, lw.bias, M, lw.inFeatures, lw.outFeatures, { accumulate });
}

// ---- inputs ----

/** A batch of token rows, right-padded to T. */
export interface TokenBatch {
  B: number;
  T: number;
  ids: Int32Array; // (B, T)
  /** (B, T) 1 = real token, 0 = padding (right-padded); null = every token is real. */
  mask: ArrayLike<number> | null;
  /** (B, T) position of each token; default t (right padding: every row starts at 0). */
  positions?: Int32Array;
}

/** The batch on the GPU. */
export interface BatchTensors {
  ids: Tensor; // (B, T) i32
  /** The ids on the host, kept when the embedding is split across buffers (embed). */
  hostIds?: Int32Array;
  positions: Tensor; // (B, T) i32
  /** (B, T) u32; null when every token is real. */
  mask: Tensor | null;
}

// ---- activations ----

/**
 * One block's activations (llm.c's ActivationTensors). Those marked [saved] are what a backward
 * pass needs (issue 5); an inference forward releases each block's tensors as soon as the next
 * block has read its output.
 */
export interface LayerActivations {
  ln1: Tensor | null; // (B, T, C) [saved] input of q, k, v; null: they read the block input x ('post' norms)
  ln1Mean: Tensor | null; // (B, T) [saved] layernorm only
  ln1Rstd: Tensor | null; // (B, T) [saved]
  qPre: Tensor | null; // (B, T, NH, HS) [saved] q_proj output, input of q_norm (qkNorm only)
  qRstd: Tensor | null; // (B·T·NH) per head or (B·T) over the projection [saved] (qkNorm only)
  kPre: Tensor | null; // (B, T, NKV, HS) [saved] k_proj output (qkNorm only)
  kRstd: Tensor | null; // (B·T·NKV) or (B·T) [saved] (qkNorm only)
  q: Tensor; // (B, T, NH, HS) [saved] after rope
  k: Tensor; // (B, T, NKV, HS) [saved] after rope
  v: Tensor; // (B, T, NKV, HS) [saved]
  att: Tensor; // (B, T, NH, HS) [saved] attention output, input of o_proj
  attLse: Tensor; // (B, NH, T) [saved] logsumexp of each score row
  attnOut: Tensor | null; // (B, T, C) [saved] o_proj output, input of the post-attention norm ('sandwich', 'post')
  attnPostRstd: Tensor | null; // (B, T) [saved]
  residual2: Tensor; // (B, T, C) [saved] x + attention branch
  ln2: Tensor | null; // (B, T, C) [saved] input of the MLP; null: it reads residual2 ('post' norms)
  ln2Mean: Tensor | null; // (B, T) [saved] layernorm only
  ln2Rstd: Tensor | null; // (B, T) [saved]
  fcGate: Tensor | null; // (B, T, I) [saved] llama: gate_proj output
  fc: Tensor; // (B, T, I) [saved] llama: up_proj output; gpt2: c_fc output (pre-gelu)
  fcAct: Tensor; // (B, T, I) [saved] activation output, input of down_proj
  mlpOut: Tensor | null; // (B, T, C) [saved] down_proj output, input of the post-MLP norm ('sandwich', 'post')
  mlpPostRstd: Tensor | null; // (B, T) [saved]
  residual3: Tensor; // (B, T, C) [saved] block output = next block's input
}

export interface Activations {
  B: number;
  T: number;
  inputs: BatchTensors;
  encoded: Tensor; // (B, T, C) [saved] embeddings (+ positions, gpt2): block 0's input
  layers: LayerActivations[];
}

export function releaseLayer(engine: Engine, a: LayerActivations, keepOutput = false): void {
  engine.release(a.ln1, a.ln1Mean, a.ln1Rstd, a.qPre, a.qRstd, a.kPre, a.kRstd, a.q, a.k, a.v, a.att, a.attLse,
    a.attnOut, a.attnPostRstd, a.residual2, a.ln2, a.ln2Mean, a.ln2Rstd, a.fcGate, a.fc, a.fcAct, a.mlpOut, a.mlpPostRstd);
  if (!keepOutput) engine.release(a.residual3);
}

export function releaseBatch(engine: Engine, b: BatchTensors): void {
  engine.release(b.ids, b.positions, b.mask);
}

/** Releases everything a kept forward pass holds. */
export function releaseActivations(engine: Engine, acts: Activations): void {
  engine.release(acts.encoded);
  for (const l of acts.layers) releaseLayer(engine, l);
  releaseBatch(engine, acts.inputs);
}

// ---- how a block's attention sees keys: directly, or through a KV cache ----

export interface AttentionKeys {
  k: Tensor; // (B, Tk, NKV, HS)
  v: Tensor; // (B, Tk, NKV, HS)
  mask: Tensor | null; // (B, Tk) u32
  Tk: number;
  /**
   * The sliding window to apply by index (query Tk - Tq + i against key j); absent: the layer's
   * own. A cache whose slots are not positions (padded rows) folds the window into `mask` and
   * says 0.
   */
  window?: number;
}

/**
 * Given block `layer`'s fresh keys and values (B, T, NKV, HS), after rope, say which keys its
 * queries attend to (`window`: the layer's sliding window, 0 for none). The default attends to
 * the batch itself; a KV cache (generate.ts) stores them and answers with the cache.
 */
export interface KeySource {
  keys(layer: number, k: Tensor, v: Tensor, batchMask: Tensor | null, window: number): AttentionKeys;
}

const selfKeys: KeySource = {
  keys: (_layer, k, v, mask) => ({ k, v, mask, Tk: k.shape[1]! }),
};

export interface ForwardOptions {
  /** Keep every block's activations for a backward pass (release with releaseActivations). */
  keepActivations?: boolean;
  /** Where attention gets its keys (default: the batch itself). */
  keySource?: KeySource;
}

export interface HiddenResult {
  /** (B, T, C) output of the last block, before the final norm. Release it when done. */
  hidden: Tensor;
  /** Present with keepActivations; release with releaseActivations. */
  activations: Activations | null;
}

export class TransformerModel {
  readonly attentionFactor: number;
  /** The sliding layers' rope attention factor when they have their own rope (Gemma 3). */
  readonly attentionFactorLocal: number;
  private constructor(
    readonly engine: Engine,
    readonly config: TransformerConfig,
    readonly weights: ModelWeights,
  ) {
    const factor = (scaling: TransformerConfig['ropeScaling']) => ropeAttentionFactor(scaling ? { max_position_embeddings: config.maxPositions, ...scaling } : undefined);
    this.attentionFactor = config.arch === 'llama' ? factor(config.ropeScaling) : 1;
    this.attentionFactorLocal = config.localRope ? factor(config.localRope.scaling) : this.attentionFactor;
  }

  /** Buffers the LM-head table is split across (1: one); the training memory estimate counts the split's scratch. */
  get headPartCount(): number {
    return this.weights.headParts?.length ?? 1;
  }

  /** Layer l's rope: its inverse frequencies and options (null for gpt2). */
  rope(l: number): { invFreq: Tensor; options: { style: 'interleaved' | 'rotate_half'; rotaryDim: number; attentionFactor: number } } | null {
    const w = this.weights;
    if (!w.invFreq) return null;
    const local = w.invFreqLocal !== null && this.config.layerTypes?.[l] === 'sliding';
    const c = this.config;
    return {
      invFreq: local ? w.invFreqLocal! : w.invFreq,
      options: { style: c.ropeInterleaved ? 'interleaved' : 'rotate_half', rotaryDim: c.rotaryDim, attentionFactor: local ? this.attentionFactorLocal : this.attentionFactor },
    };
  }

  /** Layer l's attention options: scale, score softcap, sliding window (override: the key source's). */
  attentionOptions(l: number, window?: number): { scale?: number; softcap: number; window: number } {
    const c = this.config;
    return { ...(c.attentionScale !== undefined ? { scale: c.attentionScale } : {}), softcap: c.attnSoftcap ?? 0, window: window ?? layerWindow(c, l) };
  }

  /**
   * Validates and uploads. Linear weights stay f16 when given f16 (the matmul reads halves);
   * norms and biases go up as f32. The token embedding is a linear weight too (the LM head when
   * tied); the embedding gather reads it in the same dtype.
   */
  static create(engine: Engine, config: TransformerConfig, weights: TransformerWeights, options: ModelCreateOptions = {}): TransformerModel {
    validateWeights(config, weights);
    const c = config;
    const up = (name: string): Tensor | QuantTensor => {
      const w = weights.get(name)!;
      return w.dtype === 'blockq' ? uploadBlockQuantized(engine, w.data, name) : upload(engine, name, w);
    };
    // Embedding and LM-head tables past one binding (Qwen2.5's 151,936 × 896 in f32) go up in row parts.
    const lim = engine.report.limits;
    const maxTable = options.maxTableBytes ?? Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    const tables = new Map<string, TablePart[]>();
    const upTable = (name: string): Tensor | QuantTensor => {
      const w = weights.get(name)!;
      const parts = w.dtype === 'blockq' ? null : splitTable(engine, name, w, maxTable);
      if (!parts) return up(name);
      tables.set(name, parts);
      return parts[0]!.weight;
    };
    const upF32 = (name: string): Tensor => upload(engine, name, weights.get(name)!, true);
    const lin = (name: string, hasBias: boolean): LinearWeights => {
      const w = weights.get(`${name}.weight`)!;
      return {
        name,
        weight: up(`${name}.weight`),
        bias: hasBias ? upF32(`${name}.bias`) : null,
        outFeatures: w.shape[0]!,
        inFeatures: w.shape[1]!,
        adapter: null,
      };
    };
    const norm = (name: string, hasBias: boolean): NormWeights => ({
      weight: upF32(`${name}.weight`),
      bias: hasBias ? upF32(`${name}.bias`) : null,
    });
    let mw: ModelWeights;
    if (c.arch === 'llama') {
      const tokenEmbedding = upTable('model.embed_tokens.weight');
      const placement = c.normPlacement ?? 'pre';
      const qk = (c.qkNorm ?? 'none') !== 'none';
      const invFreq = (theta: number, scaling: TransformerConfig['ropeScaling'], name: string) => engine.fromArray(
        ropeInvFreq(c.headDim, c.rotaryDim, theta, scaling ? { max_position_embeddings: c.maxPositions, ...scaling } : undefined),
        [c.rotaryDim / 2],
        'f32',
        name,
      );
      mw = {
        tokenEmbedding,
        positionEmbedding: null,
        layers: Array.from({ length: c.layers }, (_, l) => {
          const p = `model.layers.${l}.`;
          // HF's post_attention_layernorm is the pre-MLP norm in Llama, the post-attention one otherwise.
          return {
            ln1: placement === 'post' ? null : norm(`${p}input_layernorm`, false),
            qNorm: qk ? norm(`${p}self_attn.q_norm`, false) : null,
            kNorm: qk ? norm(`${p}self_attn.k_norm`, false) : null,
            q: lin(`${p}self_attn.q_proj`, c.qkvBias),
            k: lin(`${p}self_attn.k_proj`, c.qkvBias),
            v: lin(`${p}self_attn.v_proj`, c.qkvBias),
            o: lin(`${p}self_attn.o_proj`, false),
            postAttn: placement === 'pre' ? null : norm(`${p}post_attention_layernorm`, false),
            ln2: placement === 'pre' ? norm(`${p}post_attention_layernorm`, false) : placement === 'sandwich' ? norm(`${p}pre_feedforward_layernorm`, false) : null,
            postMlp: placement === 'pre' ? null : norm(`${p}post_feedforward_layernorm`, false),
            gate: lin(`${p}mlp.gate_proj`, false),
            up: lin(`${p}mlp.up_proj`, false),
            down: lin(`${p}mlp.down_proj`, false),
          };
        }),
        lnf: norm('model.norm', false),
        lmHead: c.tiedEmbeddings
          ? { name: 'lm_head', weight: tokenEmbedding, bias: null, inFeatures: c.hidden, outFeatures: c.vocabSize, adapter: null }
          : { name: 'lm_head', weight: upTable('lm_head.weight'), bias: null, inFeatures: c.hidden, outFeatures: c.vocabSize, adapter: null },
        invFreq: invFreq(c.ropeTheta, c.ropeScaling, 'rope.inv_freq'),
        invFreqLocal: c.localRope && c.layerTypes?.includes('sliding') ? invFreq(c.localRope.theta, c.localRope.scaling, 'rope.inv_freq_local') : null,
      };
    } else {
      const tokenEmbedding = upTable('transformer.wte.weight');
      mw = {
        tokenEmbedding,
        positionEmbedding: upF32('transformer.wpe.weight'),
        layers: Array.from({ length: c.layers }, (_, l) => {
          const p = `transformer.h.${l}.`;
          return {
            ln1: norm(`${p}ln_1`, true),
            qNorm: null,
            kNorm: null,
            q: lin(`${p}attn.q_proj`, true),
            k: lin(`${p}attn.k_proj`, true),
            v: lin(`${p}attn.v_proj`, true),
            o: lin(`${p}attn.c_proj`, true),
            postAttn: null,
            ln2: norm(`${p}ln_2`, true),
            postMlp: null,
            gate: null,
            up: lin(`${p}mlp.c_fc`, true),
            down: lin(`${p}mlp.c_proj`, true),
          };
        }),
        lnf: norm('transformer.ln_f', true),
        lmHead: c.tiedEmbeddings
          ? { name: 'lm_head', weight: tokenEmbedding, bias: null, inFeatures: c.hidden, outFeatures: c.vocabSize, adapter: null }
          : { name: 'lm_head', weight: upTable('lm_head.weight'), bias: null, inFeatures: c.hidden, outFeatures: c.vocabSize, adapter: null },
        invFreq: null,
        invFreqLocal: null,
      };
    }
    const embedParts = tables.get(c.arch === 'llama' ? 'model.embed_tokens.weight' : 'transformer.wte.weight') ?? null;
    mw.embedParts = embedParts;
    mw.headParts = !c.tiedEmbeddings ? (tables.get('lm_head.weight') ?? null) : embedParts;
    return new TransformerModel(engine, config, mw);
  }

  /** Frees every weight tensor. */
  destroy(): void {
    const w = this.weights;
    const seen = new Set<Tensor>();
    const add = (t: Tensor | QuantTensor | null) => {
      if (!t) return;
      if (isQuantTensor(t)) {
        seen.add(t.codes);
        seen.add(t.sz);
      } else seen.add(t);
    };
    add(w.tokenEmbedding);
    add(w.positionEmbedding);
    add(w.invFreq);
    add(w.invFreqLocal);
    add(w.lnf.weight);
    add(w.lnf.bias);
    add(w.lmHead.weight);
    for (const p of [...(w.embedParts ?? []), ...(w.headParts ?? [])]) add(p.weight);
    for (const l of w.layers) {
      for (const n of [l.ln1, l.ln2, l.qNorm, l.kNorm, l.postAttn, l.postMlp]) {
        if (!n) continue;
        add(n.weight);
        add(n.bias);
      }
      for (const lw of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) {
        if (!lw) continue;
        add(lw.weight);
        add(lw.bias);
      }
    }
    this.engine.release(...seen);
  }

  /** Uploads ids, positions and mask; padding ids become 0 so every gather reads a real row. */
  uploadBatch(batch: TokenBatch): BatchTensors {
    const { B, T } = batch;
    const N = B * T;
    if (batch.ids.length !== N) throw new Error(`forward: ids hold ${batch.ids.length} values, B·T = ${N}`);
    if (batch.mask && batch.mask.length !== N) throw new Error(`forward: mask holds ${batch.mask.length} values, B·T = ${N}`);
    const V = this.config.vocabSize;
    const ids = new Int32Array(N);
    let allReal = true;
    for (let i = 0; i < N; i++) {
      const real = !batch.mask || batch.mask[i] !== 0;
      if (!real) allReal = false;
      const id = batch.ids[i]!;
      if (real && !(id >= 0 && id < V)) throw new Error(`forward: token id ${id} at [${Math.floor(i / T)}, ${i % T}] is outside the vocabulary (V = ${V})`);
      ids[i] = real ? id : 0;
    }
    let positions = batch.positions;
    if (!positions) {
      // Default positions 0..T-1 are right only if padding comes after each row's tokens.
      if (batch.mask) {
        for (let i = 1; i < N; i++) {
          if (i % T !== 0 && batch.mask[i - 1] === 0 && batch.mask[i] !== 0) {
            throw new Error(`forward: row ${Math.floor(i / T)} is not right-padded (give positions for other layouts)`);
          }
        }
      }
      positions = new Int32Array(N);
      for (let i = 0; i < N; i++) positions[i] = i % T;
    }
    if (this.config.arch === 'gpt2') {
      for (const p of positions) {
        if (p >= this.config.maxPositions) throw new Error(`forward: position ${p} is past GPT-2's ${this.config.maxPositions} learned positions`);
      }
    }
    // longrope (Phi-3 / Phi-4-mini): Hugging Face switches to long_factor once a sequence passes
    // original_max_position_embeddings; the frequencies here are short_factor's, so such rows are refused.
    const s = this.config.ropeScaling;
    if (s && (s.rope_type ?? s.type) === 'longrope' && s.original_max_position_embeddings !== undefined) {
      for (const p of positions) {
        if (p >= s.original_max_position_embeddings) {
          throw new Error(`forward: position ${p} is past longrope's original_max_position_embeddings (${s.original_max_position_embeddings}), where Hugging Face switches to long_factor, which this engine does not apply: keep sequences under ${s.original_max_position_embeddings} tokens`);
        }
      }
    }
    const e = this.engine;
    return {
      ...(this.weights.embedParts ? { hostIds: ids } : {}),
      ids: e.fromArray(ids, [B, T], 'i32', 'batch.ids'),
      positions: e.fromArray(positions, [B, T], 'i32', 'batch.positions'),
      mask: allReal ? null : e.fromArray(Uint32Array.from(batch.mask!, (m) => (m !== 0 ? 1 : 0)), [B, T], 'u32', 'batch.mask'),
    };
  }

  /**
   * Runs the embedding and every block. Records GPU work and returns at once; read or chain
   * the result. Without keepActivations, each block's tensors go back to the pool as soon as
   * the next block has consumed them, so memory holds about one block at a time.
   */
  forwardHidden(batch: TokenBatch, options: ForwardOptions = {}): HiddenResult {
    const e = this.engine;
    const c = this.config;
    const { B, T } = batch;
    const keep = options.keepActivations ?? false;
    const keySource = options.keySource ?? selfKeys;
    const inputs = this.uploadBatch(batch);
    const encoded = this.embed(inputs, B, T);

    const layers: LayerActivations[] = [];
    let x = encoded;
    for (let l = 0; l < c.layers; l++) {
      const a = this.block(l, x, inputs, B, T, keySource);
      if (keep) layers.push(a);
      else {
        // Block l's reads of x are recorded; later dispatches may reuse its buffer.
        e.release(x);
        releaseLayer(e, a, true);
      }
      x = a.residual3;
    }
    if (keep) return { hidden: x, activations: { B, T, inputs, encoded, layers } };
    releaseBatch(e, inputs);
    return { hidden: x, activations: null };
  }

  /** encoded (B, T, C) = wte[ids] · embedScale (+ wpe[positions], gpt2): block 0's input. */
  embed(inputs: BatchTensors, B: number, T: number): Tensor {
    const c = this.config;
    let encoded = this.engine.tensor([B, T, c.hidden], 'f32', 'act.encoded');
    const parts = this.weights.embedParts;
    if (!parts) {
      embeddingForward(this.engine, encoded, inputs.ids, inputs.positions, this.weights.tokenEmbedding, this.weights.positionEmbedding, B * T, c.hidden, c.vocabSize, { scale: c.embedScale ?? 1 });
      return encoded;
    }
    // A split table: each part gathers the ids in its rows (ids shifted by its first row; the
    // kernel gives zeros for the others), summed; the positions once, with the first part.
    const e = this.engine;
    const N = B * T;
    if (!inputs.hostIds) throw new Error('embed: a split embedding needs the batch ids on the host (uploadBatch keeps them)');
    const part = e.tensor([B, T, c.hidden], 'f32', 'act.encodedPart');
    parts.forEach((p, i) => {
      const shifted = e.fromArray(inputs.hostIds!.map((id) => id - p.row0), [N], 'i32', 'embed.partIds');
      embeddingForward(e, i === 0 ? encoded : part, shifted, inputs.positions, p.weight, i === 0 ? this.weights.positionEmbedding : null, N, c.hidden, p.rows, { scale: c.embedScale ?? 1 });
      if (i > 0) {
        const sum = e.tensor([B, T, c.hidden], 'f32', 'act.encoded');
        residualForward(e, sum, encoded, part, N * c.hidden);
        e.release(encoded);
        encoded = sum;
      }
      e.release(shifted);
    });
    e.release(part);
    return encoded;
  }

  /**
   * One transformer block on x (B, T, C); returns its activations (residual3 is the output).
   * Public for the backward's activation recomputation (transformer/train-logprobs.ts).
   */
  block(l: number, x: Tensor, inputs: BatchTensors, B: number, T: number, keySource: KeySource = selfKeys): LayerActivations {
    const e = this.engine;
    const c = this.config;
    const w = this.weights.layers[l]!;
    const N = B * T;
    const C = c.hidden, NH = c.heads, NKV = c.kvHeads, HS = c.headDim, I = c.intermediate;
    const t = (shape: number[], name: string) => e.tensor(shape, 'f32', `L${l}.${name}`);
    const gpt2 = c.arch === 'gpt2';

    // Attention branch.
    let ln1: Tensor | null = null, ln1Mean: Tensor | null = null, ln1Rstd: Tensor | null = null;
    if (w.ln1) {
      ln1 = t([B, T, C], 'ln1');
      ln1Mean = gpt2 ? t([B, T], 'ln1Mean') : null;
      ln1Rstd = t([B, T], 'ln1Rstd');
      this.norm(ln1, ln1Mean, ln1Rstd, x, w.ln1, N);
    }
    const attIn = ln1 ?? x;
    const q = t([B, T, NH, HS], 'q');
    const k = t([B, T, NKV, HS], 'k');
    const v = t([B, T, NKV, HS], 'v');
    let qPre: Tensor | null = null, qRstd: Tensor | null = null, kPre: Tensor | null = null, kRstd: Tensor | null = null;
    if (w.qNorm && w.kNorm) {
      // q_proj / k_proj outputs kept for the norms' backward; the normalized values go to rope.
      qPre = t([B, T, NH, HS], 'qPre');
      kPre = t([B, T, NKV, HS], 'kPre');
      linear(e, qPre, attIn, w.q, N);
      linear(e, kPre, attIn, w.k, N);
      linear(e, v, attIn, w.v, N);
      const head = c.qkNorm === 'head';
      qRstd = t([head ? N * NH : N], 'qRstd');
      kRstd = t([head ? N * NKV : N], 'kRstd');
      this.qkNormForward(q, qRstd, qPre, w.qNorm, N, NH);
      this.qkNormForward(k, kRstd, kPre, w.kNorm, N, NKV);
    } else {
      linear(e, q, attIn, w.q, N);
      linear(e, k, attIn, w.k, N);
      linear(e, v, attIn, w.v, N);
    }
    const rope = this.rope(l);
    if (rope) {
      ropeForward(e, q, q, inputs.positions, rope.invFreq, B, T, NH, HS, rope.options);
      ropeForward(e, k, k, inputs.positions, rope.invFreq, B, T, NKV, HS, rope.options);
    }
    const keys = keySource.keys(l, k, v, inputs.mask, layerWindow(c, l));
    const att = t([B, T, NH, HS], 'att');
    const attLse = t([B, NH, T], 'attLse');
    attentionForward(e, att, attLse, q, keys.k, keys.v, keys.mask, B, T, keys.Tk, NH, NKV, HS, this.attentionOptions(l, keys.window));
    const residual2 = t([B, T, C], 'residual2');
    let attnOut: Tensor | null = null, attnPostRstd: Tensor | null = null;
    if (w.postAttn) {
      // residual2 = x + rmsnorm(att·Woᵀ): the projection's output is kept for the norm's backward.
      attnOut = t([B, T, C], 'attnOut');
      attnPostRstd = t([B, T], 'attnPostRstd');
      linear(e, attnOut, att, w.o, N);
      const normed = t([B, T, C], 'attnPost');
      this.norm(normed, null, attnPostRstd, attnOut, w.postAttn, N);
      residualForward(e, residual2, x, normed, N * C);
      e.release(normed);
    } else {
      // residual2 = x + att·Woᵀ: the projection accumulates onto a copy of the residual stream.
      e.copy(residual2, x);
      linear(e, residual2, att, w.o, N, true);
    }

    // MLP branch.
    let ln2: Tensor | null = null, ln2Mean: Tensor | null = null, ln2Rstd: Tensor | null = null;
    if (w.ln2) {
      ln2 = t([B, T, C], 'ln2');
      ln2Mean = gpt2 ? t([B, T], 'ln2Mean') : null;
      ln2Rstd = t([B, T], 'ln2Rstd');
      this.norm(ln2, ln2Mean, ln2Rstd, residual2, w.ln2, N);
    }
    const mlpIn = ln2 ?? residual2;
    const fc = t([B, T, I], 'fc');
    const fcAct = t([B, T, I], 'fcAct');
    let fcGate: Tensor | null = null;
    if (w.gate) {
      // gate before up: Phi-3's packed gate_up_proj LoRA module runs its parts in row order.
      fcGate = t([B, T, I], 'fcGate');
      linear(e, fcGate, mlpIn, w.gate, N);
      linear(e, fc, mlpIn, w.up, N);
      swigluForward(e, fcAct, fcGate, fc, N, I, { activation: c.activation === 'gelu_tanh' ? 'gelu_tanh' : 'silu' });
    } else {
      linear(e, fc, mlpIn, w.up, N);
      geluForward(e, fcAct, fc, N * I, c.activation === 'gelu' ? 'erf' : 'tanh');
    }
    const residual3 = t([B, T, C], 'residual3');
    let mlpOut: Tensor | null = null, mlpPostRstd: Tensor | null = null;
    if (w.postMlp) {
      mlpOut = t([B, T, C], 'mlpOut');
      mlpPostRstd = t([B, T], 'mlpPostRstd');
      linear(e, mlpOut, fcAct, w.down, N);
      const normed = t([B, T, C], 'mlpPost');
      this.norm(normed, null, mlpPostRstd, mlpOut, w.postMlp, N);
      residualForward(e, residual3, residual2, normed, N * C);
      e.release(normed);
    } else {
      e.copy(residual3, residual2);
      linear(e, residual3, fcAct, w.down, N, true);
    }

    return {
      ln1, ln1Mean, ln1Rstd, qPre, qRstd, kPre, kRstd, q, k, v, att, attLse, attnOut, attnPostRstd, residual2,
      ln2, ln2Mean, ln2Rstd, fcGate, fc, fcAct, mlpOut, mlpPostRstd, residual3,
    };
  }

  /**
   * q or k (B·T, heads·HS) normalized by its q_norm / k_norm: per head ('head': rows of HS) or
   * over the whole projection ('proj': rows of heads·HS).
   */
  qkNormForward(out: Tensor, rstd: Tensor, inp: Tensor, w: NormWeights, N: number, heads: number): void {
    const c = this.config;
    const head = c.qkNorm === 'head';
    rmsnormForward(this.engine, out, rstd, inp, w.weight, head ? N * heads : N, head ? c.headDim : heads * c.headDim, c.normEps, { weightOffset: c.normWeightOffset ?? 0 });
  }

  /** RMSNorm (llama; (1 + w) for Gemma) or LayerNorm (gpt2) of N rows of C. */
  norm(out: Tensor, mean: Tensor | null, rstd: Tensor, inp: Tensor, w: NormWeights, N: number): void {
    const c = this.config;
    if (c.arch === 'gpt2') layernormForward(this.engine, out, mean!, rstd, inp, w.weight, w.bias!, N, c.hidden, c.normEps);
    else rmsnormForward(this.engine, out, rstd, inp, w.weight, N, c.hidden, c.normEps, { weightOffset: c.normWeightOffset ?? 0 });
  }

  /**
   * logits (n, V) of n rows of hidden (n, C) (last-block outputs): final norm, then the LM head,
   * then the final soft-cap (Gemma 2). The norm's statistics are temporaries here (a backward
   * recomputes them per chunk).
   */
  head(logits: Tensor, hidden: Tensor, n: number): void {
    const e = this.engine;
    const C = this.config.hidden;
    const lnf = e.tensor([n, C], 'f32', 'head.lnf');
    const mean = this.config.arch === 'gpt2' ? e.tensor([n], 'f32', 'head.lnfMean') : null;
    const rstd = e.tensor([n], 'f32', 'head.lnfRstd');
    this.norm(lnf, mean, rstd, hidden, this.weights.lnf, n);
    this.headLinear(logits, lnf, n);
    e.release(lnf, mean, rstd);
    const cap = this.config.finalSoftcap ?? 0;
    if (cap > 0) softcapForward(e, logits, logits, n * this.config.vocabSize, cap);
  }

  /**
   * logits (n, V) = lnf (n, C) · Wlm_headᵀ, the LM head alone (no norm, no cap). A split head
   * computes each part's columns into a scratch (n, rows) and copies them into place.
   */
  headLinear(logits: Tensor, lnf: Tensor, n: number): void {
    const e = this.engine;
    const parts = this.weights.headParts;
    if (!parts) return linear(e, logits, lnf, this.weights.lmHead, n);
    const V = this.config.vocabSize, C = this.config.hidden;
    for (const p of parts) {
      const cols = e.tensor([n, p.rows], 'f32', 'head.partLogits');
      matmulForward(e, cols, lnf, p.weight, null, n, C, p.rows);
      copyRegions(e, Array.from({ length: n }, (_, i) => ({ dst: logits, dstOffset: i * V + p.row0, src: cols, srcOffset: i * p.rows, count: p.rows })));
      e.release(cols);
    }
  }

  /** dlnf (n, C) = dlogits (n, V) · Wlm_head: the LM head's input gradient (its weights are frozen). */
  headBackwardInput(dlnf: Tensor, dlogits: Tensor, lnf: Tensor, n: number): void {
    const e = this.engine;
    const V = this.config.vocabSize, C = this.config.hidden;
    const parts = this.weights.headParts;
    if (!parts) return matmulBackward(e, dlnf, null, null, dlogits, lnf, this.weights.lmHead.weight, n, C, V);
    parts.forEach((p, i) => {
      const cols = e.tensor([n, p.rows], 'f32', 'head.partDlogits');
      copyRegions(e, Array.from({ length: n }, (_, r) => ({ dst: cols, dstOffset: r * p.rows, src: dlogits, srcOffset: r * V + p.row0, count: p.rows })));
      matmulBackward(e, dlnf, null, null, cols, lnf, p.weight, n, C, p.rows, { accumulate: i > 0 });
      e.release(cols);
    });
  }

  /**
   * The rows of hidden (B·T, C) at flat indices `rows` (b·T + t), as a new (n, C) tensor.
   * Runs of consecutive rows are copied together.
   */
  gatherRows(hidden: Tensor, rows: ArrayLike<number>): Tensor {
    const C = this.config.hidden;
    const out = this.engine.tensor([rows.length, C], 'f32', 'head.rows');
    const copies: RegionCopy[] = [];
    for (let i = 0; i < rows.length; ) {
      let j = i + 1;
      while (j < rows.length && rows[j] === rows[j - 1]! + 1) j++;
      copies.push({ dst: out, dstOffset: i * C, src: hidden, srcOffset: rows[i]! * C, count: (j - i) * C });
      i = j;
    }
    copyRegions(this.engine, copies);
    return out;
  }

  /**
   * Forward to logits. `rows`: flat indices b·T + t of the positions whose logits are wanted
   * (default every position); the result is (rows.length, V), or (B, T, V) for all. Release it.
   */
  forward(batch: TokenBatch, rows?: ArrayLike<number>, options: ForwardOptions = {}): { logits: Tensor; activations: Activations | null } {
    const { hidden, activations } = this.forwardHidden(batch, options);
    const e = this.engine;
    const V = this.config.vocabSize;
    let logits: Tensor;
    if (!rows) {
      logits = e.tensor([batch.B, batch.T, V], 'f32', 'logits');
      this.head(logits, hidden, batch.B * batch.T);
    } else {
      const picked = this.gatherRows(hidden, rows);
      logits = e.tensor([rows.length, V], 'f32', 'logits');
      this.head(logits, picked, rows.length);
      e.release(picked);
    }
    if (!activations) e.release(hidden);
    return { logits, activations };
  }

  /** forward, read back and released: logits (B·T·V) or (rows.length·V) on the host. */
  async logits(batch: TokenBatch, rows?: ArrayLike<number>): Promise<Float32Array> {
    const { logits } = this.forward(batch, rows);
    const host = await this.engine.readF32(logits);
    this.engine.release(logits);
    return host;
  }
}

/**
 * A table's row parts when it takes more than maxBytes on the GPU (as upload() would store it),
 * else null: rows per part as many as fit (even where an f16 row has an odd width, so every part
 * but the last packs whole u32 words).
 */
function splitTable(engine: Engine, name: string, w: WeightTensor, maxBytes: number): TablePart[] | null {
  const [V, C] = w.shape as [number, number];
  const bytesPer = w.dtype === 'f16' && isLinearWeight(name) ? 2 : 4;
  if (V * C * bytesPer <= maxBytes) return null;
  let per = Math.floor(maxBytes / (C * bytesPer));
  if (bytesPer === 2 && C % 2 === 1) per -= per % 2;
  if (per < 1) throw new Error(`${name}: one row of ${C} values is more than one buffer may hold (${maxBytes} bytes)`);
  const parts: TablePart[] = [];
  for (let row0 = 0; row0 < V; row0 += per) {
    const rows = Math.min(per, V - row0);
    const data = (w.data as Float32Array | Uint16Array).subarray(row0 * C, (row0 + rows) * C);
    // A part keeps its table's dtype (the part's name is not a linear weight's: say so by the table's).
    parts.push({ weight: upload(engine, `${name}[${row0}:${row0 + rows}]`, { ...w, data, shape: [rows, C] } as WeightTensor, false, isLinearWeight(name)), row0, rows });
  }
  return parts;
}

/** f16 stays f16 for a linear weight (the matmul reads halves); everything else goes up as f32. */
function upload(engine: Engine, name: string, w: WeightTensor, forceF32 = false, linear = isLinearWeight(name)): Tensor {
  if (w.dtype === 'blockq') throw new Error(`${name} is block-quantized; only linear weights and the token embedding may be`);
  if (w.dtype === 'f16' && (forceF32 || !linear)) {
    return engine.fromArray(fromF16Array(w.data as Uint16Array), w.shape, 'f32', name);
  }
  return engine.fromArray(w.data, w.shape, w.dtype, name);
}
