// QLoRA (issue 12): LoRA DPO on a 4-bit base kept packed on the GPU (MatMulNBits and
// GatherBlockQuantized written by test/support/quantize-onnx.ts from the f32 tiny-llama), its
// input gradients through the quantized kernels. The run lowers the DPO loss; its adapter, saved
// and applied to the f32 original, raises the chosen-over-rejected margin there too, and shifts
// each sequence's log-prob by about what it shifts it on the 4-bit base (the update is additive;
// the two bases differ by quantization noise only).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { sequenceLogprobs, type SequencePair } from '../../src/engine/transformer/logprobs.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { loraAdapterConfig, loraBackend } from '../../src/engine/training/backend.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { MemoryRefCache } from '../../src/engine/training/ref-cache.js';
import { Trainer } from '../../src/engine/training/trainer.js';
import type { Example } from '../../src/engine/training/tokenize.js';
import { TINY_LLAMA, variant } from '../model/helpers.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';
import { randomPairExamples } from '../transformer/fixtures.js';

const models: TransformerModel[] = [];
afterAll(() => models.forEach((m) => m.destroy()));

/** Chosen − rejected log-prob of each pair. */
async function margins(model: TransformerModel, ex: Example[]): Promise<number[]> {
  const seqs: SequencePair[] = ex.flatMap((x) => x.sequences.map((s) => ({ promptIds: s.promptIds, completionIds: s.completionIds })));
  const lp = await sequenceLogprobs(model, seqs);
  return ex.map((_, i) => lp[2 * i]!.logp - lp[2 * i + 1]!.logp);
}

async function seqLogps(model: TransformerModel, ex: Example[]): Promise<number[]> {
  const seqs: SequencePair[] = ex.flatMap((x) => x.sequences.map((s) => ({ promptIds: s.promptIds, completionIds: s.completionIds })));
  return (await sequenceLogprobs(model, seqs)).map((x) => x.logp);
}

describe('QLoRA on a 4-bit base', () => {
  it('lowers the DPO loss, and its adapter moves the f32 original the same way', { timeout: 300_000 }, async () => {
    const engine = await testEngine();
    const f32Bytes = new Uint8Array(readFileSync(join(TINY_LLAMA, 'model.onnx')));
    const q4 = await loadModel(variant(TINY_LLAMA, { 'model.onnx': quantizeOnnx(f32Bytes, { bits: 4, blockSize: 16, zeroPoints: true, embedding: 'int4' }).bytes }), { acknowledge: ['tokenizer-vocab-mismatch'] });
    const f32 = await loadModel(nodeDirSource(TINY_LLAMA), { acknowledge: ['tokenizer-vocab-mismatch'] });
    const base = TransformerModel.create(engine, q4.config, q4.transformerWeights());
    const orig = TransformerModel.create(engine, f32.config, f32.transformerWeights());
    models.push(base, orig);
    expect(base.weights.layers[0]!.q.weight).toHaveProperty('kind', 'blockq');

    const ex = randomPairExamples(q4.config.vocabSize);
    const config = parseTrainingConfig({
      method: 'dpo', learning_rate: 2e-2, max_steps: 4, per_device_train_batch_size: 2, gradient_accumulation_steps: 1, seed: 5, beta: 0.1,
      lora: { r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
    });
    const adapter = LoraAdapter.create(base, loraAdapterConfig(config.lora, config.seed));
    const t = await Trainer.create({ backend: loraBackend(base, adapter, 0), config, examples: ex, modelFingerprint: 'tiny-llama-q4', refCache: new MemoryRefCache() });
    expect(await t.run(() => {})).toMatchObject({ reason: 'done', step: 4 });
    const losses = t.history.map((h) => Number(h.loss));
    console.log(`QLoRA DPO losses: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    t.destroy();
    expect(Math.abs(losses[0]! - Math.log(2))).toBeLessThan(1e-3); // policy = reference at step 1
    const firstEpoch = (losses[0]! + losses[1]!) / 2, lastEpoch = (losses[2]! + losses[3]!) / 2;
    expect(lastEpoch).toBeLessThan(firstEpoch - 0.02);

    // The adapter's effect on the 4-bit base...
    adapter.detach();
    const q4Before = await seqLogps(base, ex);
    adapter.attach();
    const q4After = await seqLogps(base, ex);
    const tensors = await adapter.save();
    adapter.destroy();
    // ... and the same adapter, loaded onto the f32 original.
    const origMarginBefore = await margins(orig, ex);
    const f32Before = await seqLogps(orig, ex);
    const onF32 = LoraAdapter.create(orig, loraAdapterConfig(config.lora, config.seed));
    onF32.load(tensors);
    const f32After = await seqLogps(orig, ex);
    const origMarginAfter = await margins(orig, ex);
    onF32.destroy();

    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    console.log(`f32 original: mean margin ${mean(origMarginBefore).toFixed(4)} -> ${mean(origMarginAfter).toFixed(4)}`);
    expect(mean(origMarginAfter)).toBeGreaterThan(mean(origMarginBefore) + 0.2);
    const shiftQ4 = q4After.map((x, i) => x - q4Before[i]!), shiftF32 = f32After.map((x, i) => x - f32Before[i]!);
    const biggest = Math.max(...shiftQ4.map(Math.abs));
    const worst = Math.max(...shiftQ4.map((s, i) => Math.abs(s - shiftF32[i]!)));
    console.log(`log-prob shifts: largest on q4 ${biggest.toFixed(4)}, largest |q4 - f32| ${worst.toFixed(4)}`);
    expect(biggest).toBeGreaterThan(0.1);
    expect(worst).toBeLessThan(0.25 * biggest);
  });
});
