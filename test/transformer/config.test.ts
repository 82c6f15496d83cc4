// Config and weight validation, config.json mapping, and the scored positions of log-probs.
import { describe, expect, it } from 'vitest';
import { configFromHf, expectedWeightShapes, validateConfig, validateWeights } from '../../src/engine/transformer/config.js';
import { reduceBySequence, scoredPositions } from '../../src/engine/transformer/logprobs.js';
import { randomWeights, tinyConfig } from './fixtures.js';

describe('transformer config', () => {
  it('accepts every fixture and its random weights', () => {
    for (const name of ['llama-gqa', 'qwen2-bias', 'llama-f16', 'gpt2'] as const) {
      const c = tinyConfig(name);
      expect(() => validateWeights(c, randomWeights(c, 1, name === 'llama-f16'))).not.toThrow();
    }
  });

  it('names the tensor that is missing, extra or misshapen', () => {
    const c = tinyConfig('llama-gqa');
    const w = randomWeights(c, 1);
    w.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => validateWeights(c, w)).toThrow(/missing.*model\.layers\.1\.mlp\.up_proj\.weight/);

    const w2 = randomWeights(c, 1);
    w2.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [4], dtype: 'f32', data: new Float32Array(4) });
    expect(() => validateWeights(c, w2)).toThrow(/unexpected.*rotary_emb\.inv_freq/);

    const w3 = randomWeights(c, 1);
    w3.set('model.layers.0.self_attn.k_proj.weight', { shape: [32, 32], dtype: 'f32', data: new Float32Array(32 * 32) });
    expect(() => validateWeights(c, w3)).toThrow(/k_proj\.weight has shape \[32, 32\], expected \[16, 32\]/);

    const w4 = randomWeights(c, 1);
    w4.set('model.norm.weight', { shape: [32], dtype: 'f32', data: new Float32Array(31) });
    expect(() => validateWeights(c, w4)).toThrow(/model\.norm\.weight holds 31 values/);
  });

  it('rejects inconsistent hyperparameters', () => {
    expect(() => validateConfig({ ...tinyConfig('llama-gqa'), kvHeads: 3 })).toThrow(/multiple of kvHeads/);
    expect(() => validateConfig({ ...tinyConfig('llama-gqa'), rotaryDim: 7 })).toThrow(/rotaryDim/);
    expect(() => validateConfig({ ...tinyConfig('llama-gqa'), eosIds: [50] })).toThrow(/outside the vocabulary/);
  });

  it('gpt2 untied (a quantized file keeps its own LM head) lists lm_head.weight; tied, it does not', () => {
    expect(expectedWeightShapes({ ...tinyConfig('gpt2'), tiedEmbeddings: false }).get('lm_head.weight')).toEqual([tinyConfig('gpt2').vocabSize, tinyConfig('gpt2').hidden]);
    expect(expectedWeightShapes(tinyConfig('gpt2')).has('lm_head.weight')).toBe(false);
  });

  it('lists Qwen2 biases and no lm_head when tied', () => {
    const names = [...expectedWeightShapes(tinyConfig('qwen2-bias')).keys()];
    expect(names).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(names).not.toContain('model.layers.0.self_attn.o_proj.bias');
    expect(names).not.toContain('lm_head.weight');
  });

  it('maps a Hugging Face Llama config.json', () => {
    const c = configFromHf({
      model_type: 'llama', vocab_size: 2048, hidden_size: 128, intermediate_size: 384, num_hidden_layers: 4,
      num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, max_position_embeddings: 256, rope_theta: 10000,
      rope_scaling: null, rms_norm_eps: 1e-5, hidden_act: 'silu', tie_word_embeddings: true, attention_bias: false,
      mlp_bias: false, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
    });
    expect(c).toMatchObject({ arch: 'llama', hidden: 128, kvHeads: 2, headDim: 32, rotaryDim: 32, tiedEmbeddings: true, eosIds: [2], qkvBias: false, ropeScaling: null });
  });

  it('maps Qwen2 and GPT-2 config.json', () => {
    const q = configFromHf({
      model_type: 'qwen2', vocab_size: 100, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 512, rope_theta: 1e6,
      rms_norm_eps: 1e-6, tie_word_embeddings: true, eos_token_id: [5, 6],
      rope_scaling: { rope_type: 'linear', factor: 2 },
    });
    expect(q).toMatchObject({ qkvBias: true, headDim: 16, eosIds: [5, 6], ropeScaling: { rope_type: 'linear', factor: 2 } });
    const g = configFromHf({ model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, n_inner: null, eos_token_id: 50256, bos_token_id: 50256 });
    expect(g).toMatchObject({ arch: 'gpt2', intermediate: 3072, headDim: 64, activation: 'gelu_tanh', tiedEmbeddings: true });
  });
});

describe('scored positions of log-probs', () => {
  it('shifts targets by one and masks prompt and padding', () => {
    const s = scoredPositions([
      { promptIds: [1, 7], completionIds: [8, 9, 2] }, // length 5 = T
      { promptIds: [1], completionIds: [4] }, // length 2, padded
      { promptIds: [], completionIds: [5, 6] }, // nothing predicts 5
    ]);
    expect(s.T).toBe(5);
    expect(Array.from(s.ids)).toEqual([1, 7, 8, 9, 2, 1, 4, 0, 0, 0, 5, 6, 0, 0, 0]);
    expect(Array.from(s.mask)).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0]);
    // Row 0: positions 1, 2, 3 predict 8, 9, 2. Row 1: position 0 (flat 5) predicts 4. Row 2: 10 → 6.
    expect(Array.from(s.rows)).toEqual([1, 2, 3, 5, 10]);
    expect(Array.from(s.targets)).toEqual([8, 9, 2, 4, 6]);
    expect(Array.from(s.owner)).toEqual([0, 0, 0, 1, 2]);
    expect(Array.from(s.weight)).toEqual([1, 1, 1, 1, 1]);
    const r = reduceBySequence(3, s.owner, [-1, -2, -3, -4, -5], [1, 2, 3, 4, 5]);
    expect(r).toEqual([
      { logp: -6, tokens: 3, meanLogit: 2, alignedMean: 0, tailLogp: 0 },
      { logp: -4, tokens: 1, meanLogit: 4, alignedMean: 0, tailLogp: 0 },
      { logp: -5, tokens: 1, meanLogit: 5, alignedMean: 0, tailLogp: 0 },
    ]);
    const a = reduceBySequence(3, s.owner, [-1, -2, -3, -4, -5], [1, 2, 3, 4, 5], [0.5, -1, -2, 0.25, -3]);
    expect(a.map((x) => x.alignedMean)).toEqual([-2.5 / 3, 0.25, -3]);
  });

  it("LD-DPO tail weights: TRL's comp_pos over scored (shifted) completion tokens", () => {
    // TRL: comp_pos = cumsum(shift_completion_mask); shared = min(len_c, len_r); a scored token
    // is in the tail when comp_pos > shared. Chosen scores 4 tokens, rejected 2 (its first
    // completion token has no predicting position): shared = 2 on both.
    const chosen = { promptIds: [1, 7], completionIds: [8, 9, 2, 3] };
    const rejected = { promptIds: [], completionIds: [5, 6, 4] };
    const trl = (mask: number[], shared: number) => {
      let pos = 0;
      return mask.flatMap((m) => (m ? [(++pos) > shared ? 0.25 : 1] : []));
    };
    const s = scoredPositions([
      { ...chosen, tail: { from: 2, weight: 0.25 } },
      { ...rejected, tail: { from: 2, weight: 0.25 } },
    ]);
    // completion_mask[..., 1:] (T = 6): chosen [0 0 1 1 1 1] -> 0 1 1 1 1; rejected [1 1 1 0 0 0] -> 1 1 0 0 0.
    expect(Array.from(s.weight)).toEqual([...trl([0, 1, 1, 1, 1], 2), ...trl([1, 1, 0, 0, 0], 2)]);
    expect(Array.from(s.weight)).toEqual([1, 1, 0.25, 0.25, 1, 1]);
    expect(Array.from(s.tail)).toEqual([0, 0, 1, 1, 0, 0]);
    const r = reduceBySequence(2, s.owner, [-1, -2, -3, -4, -5, -6], [0, 0, 0, 0, 0, 0], null, s.weight, s.tail);
    expect(r.map((x) => [x.logp, x.tokens, x.tailLogp])).toEqual([[-1 - 2 + 0.25 * (-3 - 4), 4, -3 - 4], [-11, 2, 0]]);
    expect(() => scoredPositions([{ ...chosen, tail: { from: -1, weight: 1 } }])).toThrow(/tail.from/);
  });
});

describe('architectureFromHf: what each model_type adds, and what is refused', () => {
  const base = { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 96, num_hidden_layers: 4, vocab_size: 100, max_position_embeddings: 512 };

  it('Qwen2 / Qwen3: the window only with use_sliding_window, on the layers from max_window_layers on', () => {
    expect(configFromHf({ ...base, model_type: 'qwen2', sliding_window: 32, use_sliding_window: false }).layerTypes).toBeUndefined();
    const c = configFromHf({ ...base, model_type: 'qwen3', sliding_window: 32, use_sliding_window: true, max_window_layers: 2 });
    expect(c.layerTypes).toEqual(['full', 'full', 'sliding', 'sliding']);
    expect(c).toMatchObject({ slidingWindow: 32, qkNorm: 'head', qkvBias: false });
    expect(configFromHf({ ...base, model_type: 'qwen2' }).qkvBias).toBe(true);
  });

  it('Gemma 3: the multimodal config\'s text_config, rope_parameters per layer type, the default 5:1 pattern', () => {
    const text = { ...base, model_type: 'gemma3_text', query_pre_attn_scalar: 144, sliding_window: 8, num_hidden_layers: 7 };
    const m = configFromHf({ model_type: 'gemma3', text_config: text });
    expect(m.layerTypes).toEqual(['sliding', 'sliding', 'sliding', 'sliding', 'sliding', 'full', 'sliding']);
    expect(m).toMatchObject({ attentionScale: 144 ** -0.5, localRope: { theta: 10000, scaling: null }, ropeTheta: 1e6, tiedEmbeddings: true });
    const v5 = configFromHf({
      ...text,
      rope_parameters: { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } },
    });
    expect(v5.ropeScaling).toMatchObject({ rope_type: 'linear', factor: 8 });
    expect(v5.localRope).toEqual({ theta: 1e4, scaling: null });
  });

  it('refuses what the engine does not run, naming it', () => {
    expect(() => configFromHf({ ...base, model_type: 'gemma' })).toThrow(/model_type "gemma" is not supported .*gemma2.*phi3/);
    expect(() => configFromHf({ ...base, model_type: 'gemma2', hidden_activation: 'gelu', sliding_window: 8 })).toThrow(/hidden_activation "gelu"/);
    expect(() => configFromHf({ ...base, model_type: 'gemma3_text', use_bidirectional_attention: true, sliding_window: 8 })).toThrow(/use_bidirectional_attention/);
    expect(() => configFromHf({ ...base, model_type: 'gemma2' })).toThrow(/sliding-window layers but no sliding_window/);
    expect(() => configFromHf({ ...base, model_type: 'olmo2', layer_types: ['sliding_attention', 'full_attention', 'full_attention', 'full_attention'], sliding_window: 8 })).toThrow(/OLMo 3/);
    expect(() => configFromHf({ ...base, model_type: 'qwen3', attention_bias: true })).toThrow(/attention_bias/);
    expect(() => configFromHf({ ...base, model_type: 'llama', layer_types: ['chunked_attention'] })).toThrow(/layer_types holds "chunked_attention"/);
    expect(() => validateConfig({ ...configFromHf({ ...base, model_type: 'mistral', sliding_window: 8 }), layerTypes: ['sliding'] })).toThrow(/layerTypes has 1 entries for 4 layers/);
    expect(() => validateConfig({ ...configFromHf({ ...base, model_type: 'llama' }), layerTypes: ['sliding', 'full', 'full', 'full'] })).toThrow(/sliding layers need slidingWindow/);
  });

  it('Phi-3: packed projections, partial rotary, longrope with the top-level original length; Gemma 2: soft-caps', () => {
    const p = configFromHf({ ...base, model_type: 'phi3', partial_rotary_factor: 0.5, original_max_position_embeddings: 128, sliding_window: 256, rope_scaling: { type: 'longrope', short_factor: [1, 1, 1, 1], long_factor: [2, 2, 2, 2] } });
    expect(p).toMatchObject({ packedProjections: true, rotaryDim: 8, slidingWindow: 256 });
    expect(p.ropeScaling).toMatchObject({ type: 'longrope', original_max_position_embeddings: 128 });
    expect(p.layerTypes).toEqual(['sliding', 'sliding', 'sliding', 'sliding']);
    const g = configFromHf({ ...base, model_type: 'gemma2', sliding_window: 8, attn_logit_softcapping: 50, final_logit_softcapping: 30, query_pre_attn_scalar: 16 });
    expect(g).toMatchObject({ attnSoftcap: 50, finalSoftcap: 30, normWeightOffset: 1, normPlacement: 'sandwich', activation: 'gelu_tanh', embedScale: 8 });
    expect(g.layerTypes).toEqual(['sliding', 'full', 'sliding', 'full']);
  });
});
