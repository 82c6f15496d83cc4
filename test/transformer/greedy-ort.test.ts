// Greedy decoding: our engine (generate.ts, KV cache on the GPU, several prompts in one padded
// batch) against greedy decoding with onnxruntime-web on the same .onnx file (ort-greedy.ts).
import { basename } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { testEngine } from '#test-engine';
import { GPT2_SHARED, LLAMA_FP16, TINY_GPT2, TINY_LLAMA, TINY_QWEN2 } from '../model/helpers.js';
import { checkGreedy, type GreedyCase } from './ort-greedy.js';

const DEMO = new URL('../../public/models/demo-fortunes/', import.meta.url).pathname;

const CASES: GreedyCase[] = [
  { name: basename(TINY_LLAMA), dir: TINY_LLAMA, prompts: [5, 2, 7], steps: 8, cache: false },
  { name: basename(TINY_QWEN2), dir: TINY_QWEN2, prompts: [5, 2, 7], steps: 8, cache: false },
  { name: basename(TINY_GPT2), dir: TINY_GPT2, prompts: [5, 2, 7], steps: 8, cache: false },
  { name: basename(GPT2_SHARED), dir: GPT2_SHARED, prompts: [5, 2, 7], steps: 8, cache: true },
  { name: basename(LLAMA_FP16), dir: LLAMA_FP16, prompts: [5, 2, 7], steps: 8, cache: true },
  { name: 'demo-fortunes', dir: DEMO, prompts: ['The best way to', 'A computer'], steps: 12, cache: true },
];

describe('greedy decoding: our engine (KV cache on the GPU) gives onnxruntime-web\'s tokens', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(CASES)('$name', (c) => checkGreedy(c), 120_000);
});
