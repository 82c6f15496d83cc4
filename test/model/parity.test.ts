// Our WGSL forward pass against onnxruntime-web running the very same .onnx file, on the same token
// ids: a right-padded batch with its attention mask, logits compared at every real position.
// Models: the two shared fixtures (genai-built fp16 Llama with GroupQueryAttention and external
// data; GPT-2 with packed past_N inputs), the three torch.onnx.export fixtures (Llama, Qwen2,
// GPT-2, standard ops) and the bundled demo model.
// (ort-reference.test.ts checks onnxruntime against PyTorch and our CPU transformer; this file
// checks the GPU engine itself.)
import * as ort from 'onnxruntime-web';
import { basename } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { loadModel } from '../../src/engine/model/load.js';
import { referenceLogits, referenceSession } from '../../src/engine/model/ort-reference.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { rng } from '../support/numeric.js';
import { GPT2_SHARED, LLAMA_FP16, TINY_GPT2, TINY_LLAMA, TINY_QWEN2 } from './helpers.js';

ort.env.wasm.numThreads = 1;

const DEMO = new URL('../../public/models/demo-fortunes/', import.meta.url).pathname;

/**
 * Tolerances on max |ours − onnxruntime| over real positions.
 * fp32 weights: both sides compute in float32 and differ only in summation order (tiled matmul,
 * online-softmax attention): a few ulps of logits of magnitude ≤ ~17, observed ≤ 1.4e-5. 1e-4 as
 * the issue asks; a misplaced tensor or a leak through the padding moves logits by 1e-2 or more.
 * fp16 weights (the genai Llama): the weights are the same halves on both sides, but onnxruntime
 * also keeps every activation in fp16 (embeddings, norms, q/k/v, rope tables, attention, MLP,
 * logits) where we keep activations in fp32. Each fp16 rounding adds up to u = 2⁻¹¹ ≈ 4.9e-4 of
 * relative error; a logit is the sum over the ~20 rounded activations of its path (2 blocks of
 * ~8 ops, final norm, LM head), each feeding it with a weight of order one. So the difference is
 * bounded by about 20·u·max|logit| ≈ 1e-2·max|logit|; with logits ≤ 0.4 here that is 4e-3,
 * and the bound is asserted relative to the largest logit. Observed: 2.3e-4 = 1.3·u·max|logit|.
 */
const FP32_TOL = 1e-4;
const FP16_REL_TOL = 20 * 2 ** -11;

interface Case {
  name: string;
  dir: string;
  /** Longest row; ids drawn below min(V, this cap) when the tokenizer is smaller. */
  lengths: number[];
}

const CASES: Case[] = [
  { name: basename(TINY_LLAMA), dir: TINY_LLAMA, lengths: [9, 4, 6] },
  { name: basename(TINY_QWEN2), dir: TINY_QWEN2, lengths: [9, 4, 6] },
  { name: basename(TINY_GPT2), dir: TINY_GPT2, lengths: [9, 4, 6] },
  { name: basename(GPT2_SHARED), dir: GPT2_SHARED, lengths: [9, 4, 6] },
  { name: basename(LLAMA_FP16), dir: LLAMA_FP16, lengths: [7, 3, 5] },
  { name: 'demo-fortunes', dir: DEMO, lengths: [12, 5, 8] },
];

/** Right-padded random rows; padding ids are not 0 on purpose (they must not matter). */
function paddedBatch(lengths: number[], V: number, seed: number) {
  const r = rng(seed);
  const B = lengths.length;
  const T = Math.max(...lengths);
  const ids = new Int32Array(B * T).fill(Math.min(5, V - 1));
  const mask = new Int32Array(B * T);
  lengths.forEach((n, b) => {
    for (let t = 0; t < n; t++) ids[b * T + t] = 3 + Math.floor(r() * (V - 3));
    mask.fill(1, b * T, b * T + n);
  });
  return { B, T, ids, mask };
}

/** Max |a − b| and max |b| over the positions whose mask is 1. */
function compareReal(a: Float32Array, b: Float32Array, V: number, mask: ArrayLike<number>) {
  let diff = 0, scale = 0, worst = -1;
  for (let r = 0; r < mask.length; r++) {
    if (!mask[r]) continue;
    for (let v = 0; v < V; v++) {
      const d = Math.abs(a[r * V + v]! - b[r * V + v]!);
      if (!(d <= diff)) {
        diff = d;
        worst = r * V + v;
      }
      scale = Math.max(scale, Math.abs(b[r * V + v]!));
    }
  }
  return { diff, scale, worst };
}

describe('our GPU logits equal onnxruntime-web on the same ids (padded batch, attention mask)', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES)('$name', async ({ dir, lengths }) => {
    const engine = await testEngine();
    const loaded = await loadModel(nodeDirSource(dir), { acknowledge: ['tokenizer-vocab-mismatch'] });
    const V = loaded.config.vocabSize;
    const fp16 = [...loaded.weights.values()].some((w) => w.dtype === 'f16');
    // Weights as stored: the fp16 model's linear weights stay halves on our side too.
    const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
    const session = await referenceSession(ort, loaded);
    try {
      const batch = paddedBatch(lengths, V, 17);
      const ours = await model.logits(batch);
      const want = await referenceLogits(ort, session, loaded, { ...batch, ids: batch.ids, mask: batch.mask });
      const { diff, scale, worst } = compareReal(ours, want, V, batch.mask);
      const tol = fp16 ? FP16_REL_TOL * scale : FP32_TOL;
      console.log(`${basename(dir)}: max |ours - ort| ${diff.toExponential(2)} (tolerance ${tol.toExponential(2)}), max |logit| ${scale.toFixed(3)}, worst at row ${Math.floor(worst / V)} id ${worst % V}`);
      expect(scale).toBeGreaterThan(0.05); // logits are not trivially small
      expect(diff).toBeLessThanOrEqual(tol);
    } finally {
      await session.release();
      model.destroy();
    }
  }, 120_000);
});

