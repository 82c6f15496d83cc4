// LoRA forward and backward of the whole model against PyTorch (scripts/fixtures/lora_reference.py,
// float64): Σ completion log-probs per sequence of a padded batch and the gradient of a weighted
// sum of them by every LoRA tensor, on the torch-made tiny Llama and tiny GPT-2 (c_attn: one
// module for q, k, v; rsLoRA scale), with non-zero A and B on every linear layer, without and with
// dropout (the fixture replays our counter-based mask). The check itself: lora-torch-check.ts.
import { afterAll, describe, it } from 'vitest';
import { testEngine } from '#test-engine';
import { checkLoraFixture } from './lora-torch-check.js';

describe('LoRA log-probs and gradients against PyTorch', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(['tiny-llama', 'tiny-gpt2'])('%s', async (name) => {
    console.log((await checkLoraFixture(name)).join('\n'));
  }, 120_000);
});
