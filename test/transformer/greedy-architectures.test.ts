// Greedy decoding with the KV cache on the architecture replicas (issue 12) against onnxruntime-web
// (ort-greedy.ts): sliding windows of 4 crossed by prompt + generated tokens, with several rows
// (the window folded into each row's mask) and with one row (windowed by index); Gemma 3's local
// and global rope, Gemma 2's soft-caps, Qwen3's and OLMo 2's q/k norms on cached keys. Runs on
// lavapipe where it is set up (vitest.config.ts).
import { afterAll, describe, it } from 'vitest';
import { testEngine } from '#test-engine';
import { LOCAL } from '../model/helpers.js';
import { checkGreedy, type GreedyCase } from './ort-greedy.js';

const CASES: GreedyCase[] = [
  { name: 'arch-mistral', dir: `${LOCAL}arch-mistral`, prompts: [5, 2, 7], steps: 8, cache: false },
  { name: 'arch-mistral, one row', dir: `${LOCAL}arch-mistral`, prompts: [6], steps: 9, cache: false },
  { name: 'arch-gemma3', dir: `${LOCAL}arch-gemma3`, prompts: [5, 2, 7], steps: 8, cache: false },
  { name: 'arch-gemma2', dir: `${LOCAL}arch-gemma2`, prompts: [5, 2, 7], steps: 8, cache: false },
  { name: 'arch-qwen3', dir: `${LOCAL}arch-qwen3`, prompts: [3, 6], steps: 6, cache: false },
  { name: 'arch-olmo2', dir: `${LOCAL}arch-olmo2`, prompts: [3, 6], steps: 6, cache: false },
];

describe('greedy decoding on the architecture replicas: our KV cache gives onnxruntime-web\'s tokens', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES)('$name', (c) => checkGreedy(c), 120_000);
});
