// QLoRA on a q4f16 base (issue 12): the float16 graph with MatMulNBits T = float16 and a
// GatherBlockQuantized embedding with f16 scales (test/support/quantize-onnx.ts `float16`, as
// transformers.js makes onnx/model_q4f16.onnx) trains like the f32-scale 4-bit base of
// qlora.test.ts: its weights stay packed on the GPU and a few LoRA DPO steps lower the loss. Also
// GPT-2's q4f16, whose quantized LM head is its own (untied from wte) in a quantized file.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { loadModel } from '../../src/engine/model/load.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { loraAdapterConfig, loraBackend } from '../../src/engine/training/backend.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { MemoryRefCache } from '../../src/engine/training/ref-cache.js';
import { Trainer } from '../../src/engine/training/trainer.js';
import { TINY_GPT2, TINY_LLAMA, fileBytes, variant } from '../model/helpers.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';
import { randomPairExamples } from '../transformer/fixtures.js';

const models: TransformerModel[] = [];
afterAll(() => models.forEach((m) => m.destroy()));

describe('QLoRA on a q4f16 base', () => {
  it.each([
    { name: 'tiny-llama (int4 embedding)', dir: TINY_LLAMA, embedding: 'int4' as const, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
    { name: 'tiny-gpt2 (its own quantized LM head)', dir: TINY_GPT2, embedding: null, targets: ['c_attn', 'c_proj', 'c_fc'] },
  ])('$name: keeps the base packed and lowers the DPO loss', { timeout: 120_000 }, async ({ name, dir, embedding, targets }) => {
    const engine = await testEngine();
    const bytes = quantizeOnnx(fileBytes(`${dir}/model.onnx`), { bits: 4, blockSize: 32, zeroPoints: true, embedding, float16: true }).bytes;
    const q4f16 = await loadModel(variant(dir, { 'model.onnx': bytes }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    const base = TransformerModel.create(engine, q4f16.config, q4f16.transformerWeights());
    models.push(base);
    expect(base.weights.layers[0]!.q.weight).toHaveProperty('kind', 'blockq');
    expect(base.weights.lmHead.weight).toHaveProperty('kind', 'blockq');
    if (embedding) expect(base.weights.tokenEmbedding).toHaveProperty('kind', 'blockq');

    const config = parseTrainingConfig({
      method: 'dpo', learning_rate: 2e-2, max_steps: 4, per_device_train_batch_size: 2, gradient_accumulation_steps: 1, seed: 5, beta: 0.1,
      lora: { r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: targets },
    });
    const adapter = LoraAdapter.create(base, loraAdapterConfig(config.lora, config.seed));
    const t = await Trainer.create({ backend: loraBackend(base, adapter, 0), config, examples: randomPairExamples(q4f16.config.vocabSize), modelFingerprint: 'tiny-llama-q4f16', refCache: new MemoryRefCache() });
    expect(await t.run(() => {})).toMatchObject({ reason: 'done', step: 4 });
    const losses = t.history.map((h) => Number(h.loss));
    console.log(`QLoRA (${name}, q4f16 base) DPO losses: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    t.destroy();
    adapter.destroy();
    expect(Math.abs(losses[0]! - Math.log(2))).toBeLessThan(1e-3); // policy = reference at step 1
    const firstEpoch = (losses[0]! + losses[1]!) / 2, lastEpoch = (losses[2]! + losses[3]!) / 2;
    expect(lastEpoch).toBeLessThan(firstEpoch - 0.02);
  });
});
