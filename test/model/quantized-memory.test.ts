// Memory of a quantized base (issue 12): the estimate counts block-quantized weights packed (codes
// plus an f32 scale and zero point per block), so at Qwen2.5-0.5B's shape a 4-bit base trains in
// a budget where its f16 file does not fit. Config as the Hub has it; no weights are needed.
import { describe, expect, it } from 'vitest';
import { blockQuantizedBytes } from '../../src/engine/blockq.js';
import { estimateMemory, type EstimatedWeight } from '../../src/engine/model/memory.js';
import { assertTrainingFits, estimateTrainingMemory } from '../../src/engine/training/memory.js';
import { configFromHf, expectedWeightShapes, isLinearWeight } from '../../src/engine/transformer/config.js';

// Qwen/Qwen2.5-0.5B-Instruct's config.json (the fields the engine reads).
const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
  num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 32768, rope_theta: 1000000.0,
  rms_norm_eps: 1e-6, tie_word_embeddings: true, sliding_window: 32768, max_window_layers: 21, use_sliding_window: false,
  hidden_act: 'silu', bos_token_id: 151643, eos_token_id: 151645, torch_dtype: 'bfloat16',
};

describe('memory of a 4-bit base', () => {
  const config = configFromHf(QWEN25_05B);
  const shapes = [...expectedWeightShapes(config)].map(([name, shape]) => ({ name, shape }));
  // A transformers.js q4 export: every linear weight and the embedding in 4-bit blocks of 32.
  const q4: EstimatedWeight[] = shapes.map((w) => (isLinearWeight(w.name) ? { ...w, quant: { bits: 4, blockSize: 32 } } : w));
  const f16 = estimateMemory(shapes);
  const packed = estimateMemory(q4);

  it('counts packed bytes: 4 bits per weight plus 8 bytes per block of 32', () => {
    expect(f16.parameters).toBe(494_032_768); // Qwen2.5-0.5B's published count
    expect(packed.parameters).toBe(f16.parameters);
    // The embedding (151936 x 896) alone: 896 / 32 = 28 blocks of 16 code bytes + 8.
    expect(blockQuantizedBytes(4, 32, 151936, 896)).toBe(151936 * 28 * 24);
    const linear = shapes.filter((w) => isLinearWeight(w.name));
    const other = shapes.filter((w) => !isLinearWeight(w.name)).reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1) * 4, 0);
    const want = linear.reduce((a, w) => a + blockQuantizedBytes(4, 32, w.shape[0]!, w.shape[1]!), 0) + other;
    expect(packed.bytes.f16).toBe(want);
    expect(packed.bytes.f32).toBe(want);
    console.log(`Qwen2.5-0.5B weights: f32 ${(f16.bytes.f32 / 2 ** 20).toFixed(0)} MiB, f16 ${(f16.bytes.f16 / 2 ** 20).toFixed(0)} MiB, q4 (block 32) ${(packed.bytes.f16 / 2 ** 20).toFixed(0)} MiB`);
    expect(packed.bytes.f16).toBeLessThan(0.4 * f16.bytes.f16);
  });

  it('a DPO step (1 pair x 512 tokens, LoRA r 16 on every linear layer) fits 1 GiB with the 4-bit base, not with the f16 file', () => {
    const r = 16;
    const linear = shapes.filter((w) => isLinearWeight(w.name) && w.name.startsWith('model.layers.'));
    const loraParams = linear.reduce((a, w) => a + r * (w.shape[0]! + w.shape[1]!), 0);
    const est = (bytes: number) => estimateTrainingMemory(config, bytes, loraParams, 2, 512, r * 7, true);
    const budget = 1 << 30;
    const withF16 = est(f16.bytes.f16), withQ4 = est(packed.bytes.f16);
    console.log(`DPO step at Qwen2.5-0.5B: f16 base ${(withF16.total / 2 ** 20).toFixed(0)} MiB, q4 base ${(withQ4.total / 2 ** 20).toFixed(0)} MiB (budget 1024 MiB)`);
    expect(() => assertTrainingFits(withF16, budget, budget)).toThrow(/more than the budget of 1\.00 GiB/);
    expect(() => assertTrainingFits(withQ4, budget, budget)).not.toThrow();
  });
});
