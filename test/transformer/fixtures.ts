// Tiny random transformers for the whole-model tests: configs that exercise grouped-query
// attention, Qwen2's q/k/v biases, f16 linear weights and GPT-2, with sizes that are not
// multiples of the kernels' tiles (V = 50, I = 40 or 72).
import type { TransformerConfig, TransformerWeights, WeightTensor } from '../../src/engine/transformer/config.js';
import { expectedWeightShapes, isLinearWeight } from '../../src/engine/transformer/config.js';
import { toF16Array } from '../../src/engine/f16.js';
import { randn, rng } from '../support/numeric.js';
import type { Example } from '../../src/engine/training/tokenize.js';

export type FixtureName = 'llama-gqa' | 'qwen2-bias' | 'llama-f16' | 'gpt2';

const llamaBase: TransformerConfig = {
  arch: 'llama',
  vocabSize: 50,
  hidden: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  headDim: 8,
  intermediate: 40,
  maxPositions: 64,
  normEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  ropeInterleaved: false,
  rotaryDim: 8,
  tiedEmbeddings: false,
  qkvBias: false,
  activation: 'silu',
  bosId: 1,
  eosIds: [2],
  padId: 0,
};

export function tinyConfig(name: FixtureName): TransformerConfig {
  switch (name) {
    case 'llama-gqa':
      return { ...llamaBase };
    case 'qwen2-bias':
      // One kv head for all four query heads, tied embeddings, a scaled rope, head dim 16.
      return {
        ...llamaBase,
        heads: 4,
        kvHeads: 1,
        headDim: 16,
        rotaryDim: 16,
        intermediate: 72,
        qkvBias: true,
        tiedEmbeddings: true,
        ropeTheta: 1e6,
        ropeScaling: { rope_type: 'linear', factor: 2 },
        eosIds: [2, 3],
      };
    case 'llama-f16':
      return { ...llamaBase, tiedEmbeddings: true };
    case 'gpt2':
      return {
        ...llamaBase,
        arch: 'gpt2',
        kvHeads: 4,
        intermediate: 128,
        maxPositions: 32,
        rotaryDim: 0,
        tiedEmbeddings: true,
        qkvBias: true,
        activation: 'gelu_tanh',
        bosId: null,
        eosIds: [2],
        padId: null,
      };
  }
}

/**
 * Random weights of a useful scale: linear weights N(0, 1/in) keep activations O(1) through the
 * layers, norm gains 1 + N(0, 0.1²), biases N(0, 0.1²), embeddings N(0, 0.3²) (position table 0.1²); so
 * logits spread over a few units and a wrong op shows. `f16` stores linear weights and embeddings as halves.
 */
export function randomWeights(config: TransformerConfig, seed: number, f16 = false): TransformerWeights {
  const weights: TransformerWeights = new Map();
  let s = seed;
  for (const [name, shape] of expectedWeightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('.bias')) data = randn(n, ++s, 0.1);
    else if (shape.length === 1) data = randn(n, ++s, 0.1).map((x) => 1 + x);
    else if (/(wte|wpe|embed_tokens)/.test(name)) data = randn(n, ++s, name.includes('wpe') ? 0.1 : 0.3);
    else data = randn(n, ++s, 1 / Math.sqrt(shape[1]!));
    const t: WeightTensor = f16 && isLinearWeight(name)
      ? { shape, dtype: 'f16', data: toF16Array(data) }
      : { shape, dtype: 'f32', data };
    weights.set(name, t);
  }
  return weights;
}

/** Random token rows of the given lengths (ids in [3, V): never bos/eos/pad by accident). */
export function randomRows(lengths: number[], V: number, seed: number): number[][] {
  const r = rng(seed);
  return lengths.map((n) => Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3))));
}

/** Four seeded preference pairs of short random rows (prompt 4-5, chosen 3, rejected 3-4 tokens). */
export function randomPairExamples(V: number): Example[] {
  const out: Example[] = [];
  for (let i = 0; i < 4; i++) {
    const [p, c, r] = randomRows([4 + (i % 2), 3, 3 + (i % 2)], V, 300 + i);
    out.push({ record: i, split: 'train', kind: 'pair', sequences: [{ promptIds: p!, completionIds: c! }, { promptIds: p!, completionIds: r! }] });
  }
  return out;
}
