// The same transformer on the CPU, built only from the kernels' CPU twins (src/engine/cpu/*), for
// tests: the GPU model (model.ts), its log-probs (logprobs.ts) and its KV-cache sampling
// (generate.ts) are checked against this. Plain and slow; tiny models only.
//
// Unlike the GPU path it computes every position's logits and picks what it needs afterwards, and
// it decodes by re-running the whole sequence for every new token (no cache), so the GPU code's
// row gathering, chunking and cache bookkeeping are checked against something that has none.

import { dequantize } from '../blockq.js';
import { attentionForwardCpu } from '../cpu/attention.js';
import { embeddingForwardCpu } from '../cpu/embedding.js';
import { geluForwardCpu } from '../cpu/gelu.js';
import { layernormForwardCpu } from '../cpu/layernorm.js';
import { logprobsForwardCpu } from '../cpu/logprobs.js';
import { matmulForwardCpu } from '../cpu/matmul.js';
import { residualForwardCpu } from '../cpu/residual.js';
import { rmsnormForwardCpu } from '../cpu/rmsnorm.js';
import { ropeForwardCpu } from '../cpu/rope.js';
import { softcapForwardCpu } from '../cpu/softcap.js';
import { swigluForwardCpu } from '../cpu/swiglu.js';
import { fromF16Array, toF16Array } from '../f16.js';
import { ropeAttentionFactor, ropeInvFreq } from '../kernels/rope.js';
import type { TransformerConfig, TransformerWeights } from './config.js';
import { layerRope, layerWindow, validateWeights } from './config.js';
import type { KvCacheDType } from './kv-dtype.js';
import type { TokenBatch } from './model.js';
import type { SequenceLogprob, SequencePair } from './logprobs.js';
import { argmax } from './sampling.js';

/**
 * generate.ts's f16 KV cache, replayed by a full forward: its prefill attends to its own keys in
 * f32, and every decoding step after it to the cache's halves. So the queries at positions from
 * `prefillLength` on (default 0: all) read keys and values rounded to halves.
 */
export interface CpuForwardOptions {
  kvCache?: KvCacheDType;
  prefillLength?: number;
}

export class CpuTransformer {
  private readonly w = new Map<string, Float32Array>();

  constructor(
    readonly config: TransformerConfig,
    weights: TransformerWeights,
  ) {
    validateWeights(config, weights);
    // f16 weights as their exact float values (what the GPU reads).
    for (const [name, t] of weights) this.w.set(name, t.dtype === 'blockq' ? dequantize(t.data) : t.dtype === 'f16' ? fromF16Array(t.data as Uint16Array) : (t.data as Float32Array));
  }

  /** Layer l's rope frequencies and attention factor (its own for Gemma 3's local layers); null for gpt2. */
  private rope(l: number): { invFreq: Float32Array; factor: number } | null {
    const c = this.config;
    if (c.arch !== 'llama') return null;
    const { theta, scaling } = layerRope(c, l);
    const s = scaling ? { max_position_embeddings: c.maxPositions, ...scaling } : undefined;
    return { invFreq: ropeInvFreq(c.headDim, c.rotaryDim, theta, s), factor: ropeAttentionFactor(s) };
  }

  private get(name: string): Float32Array {
    const t = this.w.get(name);
    if (!t) throw new Error(`cpu reference: no weight ${name}`);
    return t;
  }

  private linear(out: Float32Array, inp: Float32Array, name: string, M: number, hasBias: boolean): void {
    const w = this.get(`${name}.weight`);
    const C = inp.length / M;
    matmulForwardCpu(out, inp, w, hasBias ? this.get(`${name}.bias`) : null, M, C, w.length / C);
  }

  /** Norm `name` over rows of C (default the hidden size): LayerNorm (gpt2) or RMSNorm ((1 + w) for Gemma). */
  private norm(out: Float32Array, inp: Float32Array, name: string, N: number, C = this.config.hidden): void {
    const c = this.config;
    const rstd = new Float32Array(N);
    if (c.arch === 'gpt2') {
      layernormForwardCpu(out, new Float32Array(N), rstd, inp, this.get(`${name}.weight`), this.get(`${name}.bias`), N, C, c.normEps);
    } else {
      rmsnormForwardCpu(out, rstd, inp, this.get(`${name}.weight`), N, C, c.normEps, { weightOffset: c.normWeightOffset ?? 0 });
    }
  }

  /** (B, T, C) output of the last block. */
  forwardHidden(batch: TokenBatch, options: CpuForwardOptions = {}): Float32Array {
    const c = this.config;
    const { B, T } = batch;
    const N = B * T;
    const C = c.hidden, NH = c.heads, NKV = c.kvHeads, HS = c.headDim, I = c.intermediate;
    const ids = Int32Array.from(batch.ids, (id, i) => (!batch.mask || batch.mask[i] !== 0 ? id : 0));
    const positions = batch.positions ?? Int32Array.from({ length: N }, (_, i) => i % T);
    const mask = batch.mask ? Int32Array.from(batch.mask, (m) => (m !== 0 ? 1 : 0)) : null;
    const llama = c.arch === 'llama';

    let x = new Float32Array(N * C);
    if (llama) embeddingForwardCpu(x, ids, positions, this.get('model.embed_tokens.weight'), null, N, C, c.vocabSize, c.embedScale ?? 1);
    else embeddingForwardCpu(x, ids, positions, this.get('transformer.wte.weight'), this.get('transformer.wpe.weight'), N, C, c.vocabSize);
    const placement = llama ? c.normPlacement ?? 'pre' : 'pre';
    const qkNorm = llama ? c.qkNorm ?? 'none' : 'none';

    for (let l = 0; l < c.layers; l++) {
      const p = llama ? `model.layers.${l}.` : `transformer.h.${l}.`;
      const attn = llama ? `${p}self_attn.` : `${p}attn.`;
      const bias = !llama || c.qkvBias;
      let attIn = x;
      if (placement !== 'post') {
        attIn = new Float32Array(N * C);
        this.norm(attIn, x, llama ? `${p}input_layernorm` : `${p}ln_1`, N);
      }
      const q = new Float32Array(N * NH * HS);
      const k = new Float32Array(N * NKV * HS);
      const v = new Float32Array(N * NKV * HS);
      this.linear(q, attIn, `${attn}q_proj`, N, bias);
      this.linear(k, attIn, `${attn}k_proj`, N, bias);
      this.linear(v, attIn, `${attn}v_proj`, N, bias);
      if (qkNorm !== 'none') {
        // Per head (rows of HS) or over the whole projection (rows of heads·HS), before rope.
        const head = qkNorm === 'head';
        this.norm(q, q.slice(), `${attn}q_norm`, head ? N * NH : N, head ? HS : NH * HS);
        this.norm(k, k.slice(), `${attn}k_norm`, head ? N * NKV : N, head ? HS : NKV * HS);
      }
      const rope = this.rope(l);
      if (rope) {
        const opts = { style: c.ropeInterleaved ? 'interleaved' : 'rotate_half', rotaryDim: c.rotaryDim, attentionFactor: rope.factor } as const;
        ropeForwardCpu(q, q, positions, rope.invFreq, B, T, NH, HS, opts);
        ropeForwardCpu(k, k, positions, rope.invFreq, B, T, NKV, HS, opts);
      }
      const att = new Float32Array(N * NH * HS);
      const attOptions = { ...(c.attentionScale !== undefined ? { scale: c.attentionScale } : {}), softcap: c.attnSoftcap ?? 0, window: layerWindow(c, l) };
      attentionForwardCpu(att, new Float32Array(B * NH * T), q, k, v, mask, B, T, T, NH, NKV, HS, attOptions);
      if (options.kvCache === 'f16') {
        const halves = new Float32Array(N * NH * HS);
        const round = (x: Float32Array) => fromF16Array(toF16Array(x));
        attentionForwardCpu(halves, new Float32Array(B * NH * T), q, round(k), round(v), mask, B, T, T, NH, NKV, HS, attOptions);
        const from = Math.min(options.prefillLength ?? 0, T);
        for (let b = 0; b < B; b++) att.set(halves.subarray((b * T + from) * NH * HS, (b + 1) * T * NH * HS), (b * T + from) * NH * HS);
      }
      const proj = new Float32Array(N * C);
      this.linear(proj, att, llama ? `${attn}o_proj` : `${attn}c_proj`, N, !llama);
      if (placement !== 'pre') this.norm(proj, proj.slice(), `${p}post_attention_layernorm`, N);
      const residual2 = new Float32Array(N * C);
      residualForwardCpu(residual2, x, proj, N * C);

      let mlpIn = residual2;
      if (placement !== 'post') {
        mlpIn = new Float32Array(N * C);
        this.norm(mlpIn, residual2, !llama ? `${p}ln_2` : placement === 'sandwich' ? `${p}pre_feedforward_layernorm` : `${p}post_attention_layernorm`, N);
      }
      const fcAct = new Float32Array(N * I);
      if (llama) {
        const gate = new Float32Array(N * I);
        const up = new Float32Array(N * I);
        this.linear(gate, mlpIn, `${p}mlp.gate_proj`, N, false);
        this.linear(up, mlpIn, `${p}mlp.up_proj`, N, false);
        swigluForwardCpu(fcAct, gate, up, N, I, { activation: c.activation === 'gelu_tanh' ? 'gelu_tanh' : 'silu' });
      } else {
        const fc = new Float32Array(N * I);
        this.linear(fc, mlpIn, `${p}mlp.c_fc`, N, true);
        geluForwardCpu(fcAct, fc, N * I, c.activation === 'gelu' ? 'erf' : 'tanh');
      }
      const mlp = new Float32Array(N * C);
      this.linear(mlp, fcAct, llama ? `${p}mlp.down_proj` : `${p}mlp.c_proj`, N, !llama);
      if (placement !== 'pre') this.norm(mlp, mlp.slice(), `${p}post_feedforward_layernorm`, N);
      const residual3 = new Float32Array(N * C);
      residualForwardCpu(residual3, residual2, mlp, N * C);
      x = residual3;
    }
    return x;
  }

  /** logits (B·T·V), or of the given flat rows (rows.length·V). */
  logits(batch: TokenBatch, rows?: ArrayLike<number>, options: CpuForwardOptions = {}): Float32Array {
    const c = this.config;
    const C = c.hidden, V = c.vocabSize;
    const N = batch.B * batch.T;
    const hidden = this.forwardHidden(batch, options);
    const lnf = new Float32Array(N * C);
    this.norm(lnf, hidden, c.arch === 'llama' ? 'model.norm' : 'transformer.ln_f', N);
    const head = !c.tiedEmbeddings ? 'lm_head' : c.arch === 'gpt2' ? 'transformer.wte' : 'model.embed_tokens';
    const all = new Float32Array(N * V);
    matmulForwardCpu(all, lnf, this.get(`${head}.weight`), null, N, C, V);
    if ((c.finalSoftcap ?? 0) > 0) softcapForwardCpu(all, all.slice(), N * V, c.finalSoftcap!);
    if (!rows) return all;
    const out = new Float32Array(rows.length * V);
    for (let i = 0; i < rows.length; i++) out.set(all.subarray(rows[i]! * V, (rows[i]! + 1) * V), i * V);
    return out;
  }

  /** TRL-style per-sequence log-probs (see logprobs.ts), from full logits of the padded batch. */
  sequenceLogprobs(batch: readonly SequencePair[]): SequenceLogprob[] {
    const V = this.config.vocabSize;
    const B = batch.length;
    const T = Math.max(1, ...batch.map((s) => s.promptIds.length + s.completionIds.length));
    const ids = new Int32Array(B * T);
    const mask = new Int32Array(B * T);
    batch.forEach((s, b) => {
      const seq = [...s.promptIds, ...s.completionIds];
      ids.set(seq, b * T);
      mask.fill(1, b * T, b * T + seq.length);
    });
    const logits = this.logits({ B, T, ids, mask });
    return batch.map((s, b) => {
      const P = s.promptIds.length;
      const L = P + s.completionIds.length;
      let logp = 0, meanLogit = 0, aligned = 0, tokens = 0, tailLogp = 0;
      // Logits at t predict token t + 1: completion token j (position P + j) is scored by row P + j - 1.
      for (let t = P; t < L; t++) {
        if (t === 0) continue; // nothing predicts the first token of a row
        const row = logits.subarray((b * T + t - 1) * V, (b * T + t) * V);
        const lp = new Float32Array(1), lse = new Float32Array(1), sum = new Float32Array(1), al = new Float32Array(1);
        logprobsForwardCpu(lp, lse, sum, al, row, Int32Array.of(ids[b * T + t]!), 1, V);
        // LD-DPO: scored tokens from the tail's `from`-th on count with its weight.
        const inTail = s.tail !== undefined && tokens >= s.tail.from;
        logp += (inTail ? s.tail!.weight : 1) * lp[0]!;
        if (inTail) tailLogp += lp[0]!;
        meanLogit += sum[0]! / V;
        aligned += al[0]!;
        tokens += 1;
      }
      return {
        logp,
        tokens,
        meanLogit: tokens > 0 ? meanLogit / tokens : 0,
        alignedMean: tokens > 0 ? aligned / tokens : 0,
        tailLogp,
      };
    });
  }

  /**
   * Greedy decoding by re-running the whole sequence for each token; stops at an EOS id. With an
   * f16 `kvCache`, as generate.ts decodes after a prefill of the prompt.
   */
  greedy(prompt: number[], maxNewTokens: number, eosIds: readonly number[] = this.config.eosIds, options: Pick<CpuForwardOptions, 'kvCache'> = {}): number[] {
    const seq = [...prompt];
    const out: number[] = [];
    const V = this.config.vocabSize;
    while (out.length < maxNewTokens) {
      const T = seq.length;
      const logits = this.logits({ B: 1, T, ids: Int32Array.from(seq), mask: null }, [T - 1], { ...options, prefillLength: prompt.length });
      const next = argmax(logits.subarray(0, V));
      out.push(next);
      seq.push(next);
      if (eosIds.includes(next)) break;
    }
    return out;
  }
}
