// LoRA forward and backward against PyTorch (float64) on the architecture replicas
// (scripts/fixtures/make_arch_fixtures.py, issue 12): Gemma 3 (q/k norms, local rope, window),
// Gemma 2 (soft-caps, sandwich norms, GeGLU, 1 + w norms), Qwen3 (per-head q/k norms),
// Phi-4-mini (packed qkv_proj and gate_up_proj as whole PEFT modules, partial rotary, longrope;
// also with dropout: one mask across a packed module's parts), OLMo 2 (post-norms,
// whole-projection q/k norms), Mistral (sliding window), Llama 3.2 (llama3 rope, tied embeddings).
// Σ completion log-probs and the gradient of a weighted sum of them by every LoRA tensor within
// 1e-3 relative (lora-torch-check.ts). Runs on lavapipe where it is set up (vitest.config.ts).
import { afterAll, describe, it } from 'vitest';
import { testEngine } from '#test-engine';
import { checkLoraFixture } from './lora-torch-check.js';

describe('LoRA log-probs and gradients against PyTorch, per architecture', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(['gemma3', 'gemma2', 'qwen3', 'phi3', 'olmo2', 'mistral', 'llama32'])('%s', async (name) => {
    console.log((await checkLoraFixture(`arch-${name}`)).join('\n'));
  }, 120_000);

  // The backward's activation recomputation reruns model.block: the sandwich and post-norm blocks too.
  it.each(['gemma2', 'olmo2'])('%s with recomputed activations', async (name) => {
    console.log((await checkLoraFixture(`arch-${name}`, { activationRecompute: true })).join('\n'));
  }, 120_000);
});
