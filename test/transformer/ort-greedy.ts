// Greedy decoding on our engine (generate.ts: KV cache on the GPU, several prompts in one padded
// batch) against greedy decoding with onnxruntime-web on the same .onnx file: the check shared by
// greedy-ort.test.ts and greedy-architectures.test.ts. onnxruntime uses the graph's own KV cache
// where it has one (past_key_values.N.key/value or packed past_N inputs, present outputs fed back
// each step) and re-runs the whole sequence where it has none (the torch.onnx.export fixtures).
// Each prompt is decoded alone in onnxruntime.
import * as ort from 'onnxruntime-web';
import { basename } from 'node:path';
import { expect } from 'vitest';
import { testEngine } from '#test-engine';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { referenceSession } from '../../src/engine/model/ort-reference.js';
import type { ValueInfo } from '../../src/engine/model/onnx.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { fromF16Array } from '../../src/engine/f16.js';
import { generate } from '../../src/engine/transformer/generate.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { argmax } from '../../src/engine/transformer/sampling.js';
import { rng } from '../support/numeric.js';

ort.env.wasm.numThreads = 1;

/**
 * Tokens are compared exactly, which is sound only where no step is a near-tie: a step whose top-2
 * margin is below the logit difference between the engines could go either way. parity.test.ts
 * measures that difference: ≤ 2e-5 with fp32 weights, ≤ 3e-4 for the fp16 model (whose
 * onnxruntime activations are fp16). Every step of these prompts must clear several times that.
 */
const MIN_MARGIN = { fp32: 1e-3, fp16: 2e-3 };

const DEMO = new URL('../../public/models/demo-fortunes/', import.meta.url).pathname;

function intTensor(info: ValueInfo, values: number[], dims: number[]): ort.Tensor {
  if (info.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);
  return new ort.Tensor('int32', Int32Array.from(values), dims);
}

/** The present output that holds the cache for a past input: past_key_values.0.key ↔ present.0.key, past_0 ↔ present_0. */
function presentName(past: string): string {
  return past.replace(/^past_key_values\./, 'present.').replace(/^past_/, 'present_');
}

interface OrtDecode {
  tokens: number[];
  /** Per step: top-1 minus top-2 logit (how far the choice is from a tie). */
  margins: number[];
  usedCache: boolean;
}

/** Greedy decoding of one prompt with onnxruntime; EOS does not stop it (nor ours below). */
async function ortGreedy(session: ort.InferenceSession, model: LoadedModel, prompt: number[], steps: number): Promise<OrtDecode> {
  const inputs = model.onnx.inputs;
  const pasts = inputs.filter((i) => /^past/.test(i.name));
  const usedCache = pasts.length > 0 && pasts.every((p) => session.outputNames.includes(presentName(p.name)));
  const V = model.config.vocabSize;
  const seq = [...prompt];
  let cache: Record<string, ort.Tensor> = {};
  let fed = 0; // tokens already in the cache
  const tokens: number[] = [];
  const margins: number[] = [];
  for (let s = 0; s < steps; s++) {
    const fresh = usedCache ? seq.slice(fed) : seq;
    const start = usedCache ? fed : 0;
    const T = fresh.length;
    const feeds: Record<string, ort.Tensor> = {};
    for (const info of inputs) {
      if (/input_ids/.test(info.name)) feeds[info.name] = intTensor(info, fresh, [1, T]);
      else if (/position_ids/.test(info.name)) feeds[info.name] = intTensor(info, fresh.map((_, t) => start + t), [1, T]);
      else if (/attention_mask/.test(info.name)) feeds[info.name] = intTensor(info, new Array<number>(start + T).fill(1), [1, start + T]);
      else if (usedCache && cache[info.name]) feeds[info.name] = cache[info.name]!;
      else {
        // Empty cache: batch dims 1, the past-length dim 0, fixed dims as declared.
        const dims = (info.shape ?? []).map((d) => (typeof d === 'number' ? d : d && /batch/.test(d) ? 1 : 0));
        feeds[info.name] = info.dtype === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims);
      }
    }
    const out = await session.run(feeds);
    const logitsT = out.logits ?? out[session.outputNames[0]!]!;
    const all = logitsT.type === 'float16' ? fromF16Array(logitsT.data as Uint16Array) : (logitsT.data as Float32Array);
    const last = all.subarray((T - 1) * V, T * V);
    const token = argmax(last);
    let second = -Infinity;
    for (let v = 0; v < V; v++) if (v !== token && last[v]! > second) second = last[v]!;
    margins.push(last[token]! - second);
    tokens.push(token);
    if (usedCache) {
      cache = Object.fromEntries(pasts.map((p) => [p.name, out[presentName(p.name)]!]));
      fed = seq.length;
    }
    seq.push(token);
  }
  return { tokens, margins, usedCache };
}

export interface GreedyCase {
  name: string;
  dir: string;
  /** Prompt lengths (random ids), or text for the demo model's tokenizer. */
  prompts: number[] | string[];
  steps: number;
  cache: boolean;
}

export async function checkGreedy({ dir, prompts, steps, cache }: GreedyCase): Promise<void> {
  const engine = await testEngine();
  const loaded = await loadModel(nodeDirSource(dir), { acknowledge: ['tokenizer-vocab-mismatch'] });
  const V = loaded.config.vocabSize;
  const r = rng(23);
  const ids = prompts.map((p) => (typeof p === 'string' ? loaded.tokenizer!.encode(p) : Array.from({ length: p }, () => 3 + Math.floor(r() * (V - 3)))));
  const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
  const session = await referenceSession(ort, loaded);
  try {
    const ours = await generate(model, ids, { maxNewTokens: steps, temperature: 0, eosIds: [] });
    for (const [b, prompt] of ids.entries()) {
      const want = await ortGreedy(session, loaded, prompt, steps);
      expect(want.usedCache).toBe(cache);
      console.log(`${basename(dir)} prompt ${b}: ${JSON.stringify(want.tokens)}, smallest top-2 margin ${Math.min(...want.margins).toExponential(2)}` +
        (typeof prompts[b] === 'string' ? ` "${loaded.tokenizer!.decode([...prompt, ...want.tokens])}"` : ''));
      const fp16 = [...loaded.weights.values()].some((w) => w.dtype === 'f16');
      expect(Math.min(...want.margins), `prompt ${b} has a near-tie: choose another prompt`).toBeGreaterThan(fp16 ? MIN_MARGIN.fp16 : MIN_MARGIN.fp32);
      expect(ours[b]!.tokens, `prompt ${b}`).toEqual(want.tokens);
    }
  } finally {
    await session.release();
    model.destroy();
  }
}
