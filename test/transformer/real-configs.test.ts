// The real models' configurations at their real shapes (test/fixtures/models/real-configs.json,
// written by scripts/fixtures/make_arch_fixtures.py: each config.json as the Hub has it, with the
// rope frequencies and attention scaling of every layer type computed in PyTorch as transformers'
// modeling_rope_utils does): what configFromHf makes of them, the parameter counts their weight
// shapes give against the counts the model cards publish, and our rope frequencies (Llama 3.2's
// llama3 scaling at head size 64, Phi-4-mini's partial rotary longrope with its attention
// factor, Gemma 3's local and global bases) against PyTorch's. The replicas in
// architectures.test.ts run these features end to end at cut widths.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ropeAttentionFactor, ropeInvFreq } from '../../src/engine/kernels/rope.js';
import { estimateMemory } from '../../src/engine/model/memory.js';
import { configFromHf, expectedWeightShapes, layerRope, type TransformerConfig } from '../../src/engine/transformer/config.js';
import { expectClose } from '../support/numeric.js';

interface Real {
  config: Record<string, unknown>;
  layer_types: string[];
  rope: Record<string, { inv_freq: number[]; attention_scaling: number }>;
}
const REAL = JSON.parse(readFileSync(new URL('../fixtures/models/real-configs.json', import.meta.url), 'utf8')) as Record<string, Real>;

/** Parameters as the model cards count them (a tied LM head once). */
const PUBLISHED: Record<string, number> = {
  'Llama-3.2-1B': 1_235_814_400,
  'gemma-3-270m': 268_098_176,
  'gemma-2-2b': 2_614_341_888,
  'Qwen3-0.6B': 596_049_920,
  'Phi-4-mini-instruct': 3_836_021_760,
  'OLMo-2-0425-1B': 1_484_916_736,
  'Mistral-7B-v0.1': 7_241_732_096,
};

const params = (c: TransformerConfig) => estimateMemory([...expectedWeightShapes(c)].map(([name, shape]) => ({ name, shape }))).parameters;

describe('real configurations at their real shapes', () => {
  it.each(Object.keys(REAL))('%s: configFromHf, weight shapes and rope against PyTorch', (name) => {
    const real = REAL[name]!;
    const hf = real.config;
    const c = configFromHf(hf);
    expect(c).toMatchObject({ hidden: hf.hidden_size, layers: hf.num_hidden_layers, heads: hf.num_attention_heads, vocabSize: hf.vocab_size, intermediate: hf.intermediate_size });
    expect(c.layerTypes ?? Array(c.layers).fill('full')).toEqual(real.layer_types.map((t) => (t === 'sliding_attention' ? 'sliding' : 'full')));
    expect(params(c)).toBe(PUBLISHED[name]);
    // Every layer's rope: the layer type's frequencies and the attention factor, as PyTorch has them.
    for (let l = 0; l < c.layers; l++) {
      const want = real.rope[real.layer_types[l]!]!;
      const { theta, scaling } = layerRope(c, l);
      const s = scaling ? { max_position_embeddings: c.maxPositions, ...scaling } : undefined;
      expectClose(ropeInvFreq(c.headDim, c.rotaryDim, theta, s), Float32Array.from(want.inv_freq), { atol: 0, rtol: 1e-6, what: `${name} layer ${l} inv_freq` });
      expect(ropeAttentionFactor(s)).toBeCloseTo(want.attention_scaling, 12);
    }
  });

  it('Llama 3.2: tied, head size 64 of 32 heads, llama3 scaling that changes the long wavelengths only', () => {
    const c = configFromHf(REAL['Llama-3.2-1B']!.config);
    expect(c).toMatchObject({ tiedEmbeddings: true, headDim: 64, kvHeads: 8, rotaryDim: 64, ropeTheta: 500000 });
    const plain = ropeInvFreq(64, 64, 500000);
    const scaled = ropeInvFreq(64, 64, 500000, { max_position_embeddings: c.maxPositions, ...c.ropeScaling! });
    // Wavelengths below original / high_freq_factor = 2048 keep their frequency; past 8192 divided by 32.
    plain.forEach((f, i) => {
      const wl = (2 * Math.PI) / f;
      if (wl < 2048) expect(scaled[i]).toBe(f);
      if (wl > 8192) expect(scaled[i]).toBeCloseTo(f / 32, 12);
    });
    expect(plain.some((f) => (2 * Math.PI) / f > 8192)).toBe(true);
  });

  it('Gemma 3 270M: 15 local layers of window 512 at theta 1e4, 3 global at 1e6; Phi-4-mini: 96 rotary dims', () => {
    const g = configFromHf(REAL['gemma-3-270m']!.config);
    expect(g.layerTypes!.flatMap((t, i) => (t === 'full' ? [i] : []))).toEqual([5, 11, 17]);
    expect(g).toMatchObject({ slidingWindow: 512, localRope: { theta: 10000, scaling: null }, ropeTheta: 1e6, attentionScale: 1 / 16, embedScale: Math.fround(Math.sqrt(640)) });
    const p = configFromHf(REAL['Phi-4-mini-instruct']!.config);
    expect(p).toMatchObject({ headDim: 128, rotaryDim: 96, packedProjections: true, tiedEmbeddings: true });
    expect(p.ropeScaling).toMatchObject({ type: 'longrope', original_max_position_embeddings: 4096 });
  });
});
