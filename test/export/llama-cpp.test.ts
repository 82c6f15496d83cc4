// GGUF exports in real llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU binary): the base model
// written by our exporter (f32) plus our LoRA GGUF, and our merged GGUF alone (f32, f16, q8_0),
// must give our engine's greedy tokens and top log-probabilities with the same adapter, on
// llama-, qwen2- and gpt2-shaped fixtures with random non-zero adapters on q, k, v, o and the MLP
// (the llama case is the one the rope permutation of q_proj / k_proj matters for). The merged
// file's tokenizer must tokenize as ours, and carry the chat template. If llama.cpp cannot run
// here the tests fail saying why (test/support/llama-cpp.ts).
//
// Tolerance on log-probabilities (logits less their log-sum-exp, so that a constant shift of all
// logits does not count) over our 5 most likely tokens at each generated position:
// - f32 files (base + LoRA, merged): 1e-4. llama.cpp runs here in fp32 (flash attention off: on,
//   it rounds q, k and v to f16; KV cache f32), so what is left is summation order, its rope
//   angles (theta_scale^i by repeated multiplication), LoRA as a separate x·A·B product, and for
//   GPT-2 its GELU (ggml's f16 lookup table for gelu, error up to ~1e-3 on activations). Measured:
//   ~2e-6 for llama and qwen2; GPT-2 is checked at 1e-2 because of that table.
// - f16 merged: 2e-2. Weights rounded to f16 (relative 2^-11), and llama.cpp's CPU matmul rounds
//   the activations to f16 as well; measured ~4e-3 to 8e-3.
// - q8_0 merged: 0.5. 8-bit weights (step max|w|/127 per block of 32) and activations quantized to
//   q8_0 by llama.cpp's dot products; measured 0.07 to 0.21 on these random tiny models, whose
//   weights (std 1/sqrt(32)) are far rougher than a trained model's. Greedy tokens are still
//   compared for q8_0, up to the first position our engine decides by less than the tolerance.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { LlamaContext, LlamaModel, Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { concatChunks } from '../../src/engine/export/gguf-file.js';
import { ggufLoraAdapter } from '../../src/engine/export/gguf.js';
import { ggufModel, type GgufModelType } from '../../src/engine/export/gguf-model.js';
import { adapterModules, type AdapterData } from '../../src/engine/export/modules.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { disposeLlamaCpp, llamaCpp } from '../support/llama-cpp.js';
import { TINY_GPT2, TINY_LLAMA, LOCAL } from '../model/helpers.js';
const TINY_QWEN2_MHA = join(LOCAL, 'tiny-qwen2-mha');
import { engineLogits, randomAdapter } from './helpers.js';

const TOL: Record<'f32' | 'f16' | 'q8_0', number> = { f32: 1e-4, f16: 2e-2, q8_0: 0.5 };
/** GPT-2's f32 bound: ggml's GELU comes from an f16 table. */
const TOL_F32_GPT2 = 1e-2;
const NEW_TOKENS = 8;
const TOP_K = 5;

afterAll(async () => {
  await disposeLlamaCpp();
  (await testEngine()).pool.trim();
});

interface Reference {
  /** prompt + NEW_TOKENS greedy tokens. */
  tokens: number[];
  /** log-softmax rows at positions prompt.length - 1 ... end - 1 (each predicts the next token). */
  logprobs: Float32Array[];
}

function logSoftmax(row: Float32Array): Float32Array {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return row.map((v) => v - lse);
}

const argmax = (row: Float32Array) => row.reduce((best, v, i) => (v > row[best]! ? i : best), 0);

/** Our engine's greedy continuation of `prompt` with the adapter plugged in (not merged). */
async function ourGreedy(model: LoadedModel, adapter: AdapterData | null, prompt: number[]): Promise<Reference> {
  const V = model.config.vocabSize;
  const tokens = [...prompt];
  for (let i = 0; i < NEW_TOKENS; i++) {
    const logits = await engineLogits(model, adapter, { B: 1, T: tokens.length, ids: tokens });
    tokens.push(argmax(logits.subarray((tokens.length - 1) * V, tokens.length * V)));
  }
  const logits = await engineLogits(model, adapter, { B: 1, T: tokens.length, ids: tokens });
  const logprobs: Float32Array[] = [];
  for (let t = prompt.length - 1; t < tokens.length - 1; t++) logprobs.push(logSoftmax(logits.subarray(t * V, (t + 1) * V)));
  return { tokens, logprobs };
}

interface Observed {
  greedy: number[];
  /** llama.cpp's log-probabilities at the same positions, teacher-forced on our tokens. */
  logprobs: Map<number, number>[];
}

/** llama.cpp: its own greedy generation from the prompt, and its distributions along our tokens. */
async function llamaRun(ctx: LlamaContext, ref: Reference, promptLength: number): Promise<Observed> {
  const seq = ctx.getSequence();
  try {
    const greedy: number[] = [];
    for await (const t of seq.evaluate(ref.tokens.slice(0, promptLength) as Token[], { temperature: 0 })) {
      greedy.push(t);
      if (greedy.length === NEW_TOKENS) break;
    }
    await seq.clearHistory();
    const input = ref.tokens.slice(0, -1).map((t, i) => (i >= promptLength - 1 ? ([t as Token, { generateNext: { probabilities: true } }] as const) : (t as Token)));
    const out = await seq.controlledEvaluate(input as Parameters<typeof seq.controlledEvaluate>[0]);
    const logprobs: Map<number, number>[] = [];
    for (let i = promptLength - 1; i < ref.tokens.length - 1; i++) {
      const probs = out[i]?.next.probabilities;
      if (!probs) throw new Error(`llama.cpp gave no probabilities at position ${i}`);
      logprobs.push(new Map([...probs].map(([tok, p]) => [tok as number, Math.log(p)])));
    }
    return { greedy, logprobs };
  } finally {
    seq.dispose();
  }
}

/** Largest difference over our top-K tokens of each position; a token llama.cpp gives no probability is a failure. */
function compare(ref: Reference, seen: Observed): number {
  let worst = 0;
  ref.logprobs.forEach((row, i) => {
    const top = [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, TOP_K);
    for (const tok of top) {
      const theirs = seen.logprobs[i]!.get(tok);
      if (theirs === undefined) throw new Error(`llama.cpp gives token ${tok} no probability at generated position ${i}`);
      worst = Math.max(worst, Math.abs(theirs - row[tok]!));
    }
  });
  return worst;
}

/** Positions whose greedy choice is decided by more than `tol` (our top two logits). */
function decided(ref: Reference, tol: number): boolean[] {
  return ref.logprobs.map((row) => {
    const sorted = [...row].sort((a, b) => b - a);
    return sorted[0]! - sorted[1]! > 2 * tol;
  });
}

describe.each([TINY_LLAMA, TINY_QWEN2_MHA, TINY_GPT2].map((dir) => ({ dir, name: basename(dir) })))('$name in llama.cpp', ({ dir }) => {
  let model: LoadedModel;
  let adapter: AdapterData;
  let prompt: number[];
  let tuned: Reference;
  let base: Reference;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    model = await loadModel(nodeDirSource(dir));
    adapter = randomAdapter(model, { r: 4, lora_alpha: 8, target_modules: 'all-linear' });
    // Every linear module of the model: q, k, v (c_attn for GPT-2), o and the MLP.
    expect(adapterModules(model, adapter).length).toBe(model.config.layers * (model.arch === 'gpt2' ? 4 : 7));
    prompt = model.tokenizer!.encode('the theory of the hat', { addSpecialTokens: false });
    tuned = await ourGreedy(model, adapter, prompt);
    base = await ourGreedy(model, null, prompt);
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-llama-cpp-'));
    const write = (name: string, bytes: Uint8Array) => {
      files[name] = join(out, name);
      writeFileSync(files[name]!, bytes);
    };
    write('base.gguf', concatChunks(ggufModel(model, null, { type: 'f32' })));
    write('lora.gguf', ggufLoraAdapter(adapterModules(model, adapter), { family: model.family, config: model.config, alpha: 8, r: 4, useRslora: false }));
    for (const type of ['f32', 'f16', 'q8_0'] as GgufModelType[]) write(`merged-${type}.gguf`, concatChunks(ggufModel(model, adapter, { type })));
  }, 120_000);

  const f32Tol = () => (model.arch === 'gpt2' ? TOL_F32_GPT2 : TOL.f32);

  /** Runs `fn` on a fresh llama.cpp model and context (released after). */
  const withLlama = async <T>(file: string, lora: string | null, fn: (m: LlamaModel, ctx: LlamaContext) => Promise<T>): Promise<T> => {
    const llama = await llamaCpp();
    const m = await llama.loadModel({ modelPath: files[file]!, gpuLayers: 0 });
    try {
      const ctx = await m.createContext({
        contextSize: 64,
        batchSize: 64,
        sequences: 1,
        threads: 2,
        // Flash attention (node-llama-cpp's "auto" turns it on) rounds q, k and v to f16 on the
        // CPU; off, with an f32 KV cache, llama.cpp computes in fp32 like our engine.
        flashAttention: false,
        experimentalKvCacheKeyType: 'F32',
        experimentalKvCacheValueType: 'F32',
        ...(lora ? { lora: { adapters: [{ filePath: files[lora]!, scale: 1 }] } } : {}),
      });
      try {
        return await fn(m, ctx);
      } finally {
        await ctx.dispose();
      }
    } finally {
      await m.dispose();
    }
  };

  it('the adapter changes the greedy output (so the checks below can fail)', () => {
    const far = tuned.logprobs.some((row, i) => Math.abs(row[base.tokens[prompt.length + i]!]! - base.logprobs[i]![base.tokens[prompt.length + i]!]!) > 0.05);
    expect(far).toBe(true);
  });

  it('our base GGUF alone = our engine without the adapter (f32)', async () => {
    const seen = await withLlama('base.gguf', null, (_, ctx) => llamaRun(ctx, base, prompt.length));
    expect(seen.greedy).toEqual(base.tokens.slice(prompt.length));
    expect(compare(base, seen)).toBeLessThanOrEqual(f32Tol());
  }, 60_000);

  it('base GGUF + our LoRA GGUF = our engine with the adapter (f32)', async () => {
    const seen = await withLlama('base.gguf', 'lora.gguf', (_, ctx) => llamaRun(ctx, tuned, prompt.length));
    const diff = compare(tuned, seen);
    expect(seen.greedy).toEqual(tuned.tokens.slice(prompt.length));
    expect(diff).toBeLessThanOrEqual(f32Tol());
  }, 60_000);

  it.each(['f32', 'f16', 'q8_0'] as const)('our merged GGUF (%s) alone = our engine with the adapter', async (type) => {
    const seen = await withLlama(`merged-${type}.gguf`, null, (_, ctx) => llamaRun(ctx, tuned, prompt.length));
    const diff = compare(tuned, seen);
    expect(diff).toBeLessThanOrEqual(type === 'f32' ? f32Tol() : TOL[type]);
    // Greedy tokens: all of them in f32 and f16; in q8_0, up to the first position our engine
    // itself decides by less than the tolerance (after it the two may rightly diverge).
    const ours = tuned.tokens.slice(prompt.length);
    const upTo = type === 'q8_0' ? (decided(tuned, TOL.q8_0).indexOf(false) + 1 || NEW_TOKENS + 1) - 1 : NEW_TOKENS;
    expect(seen.greedy.slice(0, upTo)).toEqual(ours.slice(0, upTo));
  }, 60_000);

  it('the merged GGUF carries the tokenizer (same ids as ours) and the chat template', async () => {
    await withLlama('merged-f32.gguf', null, async (m) => {
    for (const text of ['the theory of the hat', 'Hello, world! 123 -- tabs\tand\nnew lines']) {
      expect(m.tokenize(text).map(Number)).toEqual(model.tokenizer!.encode(text, { addSpecialTokens: false }));
    }
    const md = m.fileInfo.metadata as unknown as { tokenizer: { chat_template?: string; ggml: { bos_token_id?: number; eos_token_id?: number } } };
    expect(md.tokenizer.chat_template).toBe(model.tokenizer!.chatTemplate);
    expect(md.tokenizer.ggml.eos_token_id).toBe(model.tokenizer!.eos!.id);
    expect(m.tokens.bos).toBe(model.tokenizer!.bos!.id);
    });
  }, 60_000);
});
