// onnxruntime-web (wasm backend, in Node) is the reference path for our forward pass later: here
// it must reproduce PyTorch's saved logits on the torch-made fixtures (padded batch and mask
// included). And the weights our loader found, run through the plain CPU transformer
// (src/engine/transformer/cpu-reference.ts), must give onnxruntime's logits on every fixture:
// proof that tracing put each tensor in its place (q/k/v, gate/up, norms, rope theta, eps).
import * as ort from 'onnxruntime-web';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { referenceLogits, referenceSession } from '../../src/engine/model/ort-reference.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { CpuTransformer } from '../../src/engine/transformer/cpu-reference.js';
import { GPT2_SHARED, LLAMA_FP16, TINY_GPT2, TINY_LLAMA, TINY_QWEN2, f32FromB64, readJsonFile, type ReferenceFile } from './helpers.js';

// One thread: no worker threads to set up in Node, and the machine has two cores.
ort.env.wasm.numThreads = 1;

/** Max |a − b| over the rows whose mask is 1 (all rows when mask is null). */
function maxAbsDiff(a: Float32Array, b: Float32Array, V: number, mask: number[] | null): { diff: number; scale: number } {
  let diff = 0, scale = 0;
  for (let r = 0; r < a.length / V; r++) {
    if (mask && !mask[r]) continue;
    for (let v = 0; v < V; v++) {
      diff = Math.max(diff, Math.abs(a[r * V + v]! - b[r * V + v]!));
      scale = Math.max(scale, Math.abs(b[r * V + v]!));
    }
  }
  return { diff, scale };
}

describe.each([TINY_LLAMA, TINY_QWEN2, TINY_GPT2].map((d) => [basename(d), d]))('%s', (_name, dir) => {
  let model: LoadedModel;
  let session: ort.InferenceSession;
  const ref = readJsonFile<ReferenceFile>(join(dir, 'reference.json'));
  beforeAll(async () => {
    model = await loadModel(nodeDirSource(dir));
    session = await referenceSession(ort, model);
  });
  afterAll(async () => {
    await session?.release();
  });

  // float32 throughout on both sides; observed ≤ 6e-6 on logits up to ~10: 1e-4 leaves room for
  // a different summation order, not for a misplaced tensor (which moves logits by O(1)).
  it('onnxruntime-web reproduces PyTorch logits to 1e-4 (padded batch with mask included)', async () => {
    for (const b of ref.batches) {
      const got = await referenceLogits(ort, session, model, { B: b.B, T: b.T, ids: b.ids.flat(), mask: b.mask.flat(), positions: b.positions.flat() });
      const { diff, scale } = maxAbsDiff(got, f32FromB64(b.logits_f32_b64), ref.vocab_size, null);
      expect(scale).toBeGreaterThan(1); // logits are not trivially small
      expect(diff).toBeLessThanOrEqual(1e-4);
    }
  });

  it('the CPU transformer on our loaded weights gives PyTorch logits to 1e-4 on real tokens', () => {
    const cpu = new CpuTransformer(model.config, model.transformerWeights());
    for (const b of ref.batches) {
      const mask = b.mask.flat();
      const got = cpu.logits({ B: b.B, T: b.T, ids: Int32Array.from(b.ids.flat()), mask });
      // Padded rows are left out: the CPU transformer replaces padded ids, PyTorch does not.
      const { diff } = maxAbsDiff(got, f32FromB64(b.logits_f32_b64), ref.vocab_size, mask);
      expect(diff).toBeLessThanOrEqual(1e-4);
    }
  });
});

describe.each([
  // GPT-2 runs in float32 in onnxruntime: the same math, observed 1.5e-7.
  { dir: GPT2_SHARED, tol: 1e-5 },
  // The genai llama computes in float16 inside onnxruntime (fp16 activations, rope tables and
  // attention): ~5e-4 relative rounding per op; logits here are ≤ 0.4, observed 2.3e-4.
  { dir: LLAMA_FP16, tol: 2e-3 },
].map((c) => ({ ...c, name: basename(c.dir) })))('$name', ({ dir, tol }) => {
  it(`onnxruntime's logits match the CPU transformer on our loaded weights (tolerance ${tol})`, async () => {
    const model = await loadModel(nodeDirSource(dir), { acknowledge: ['tokenizer-vocab-mismatch'] });
    const session = await referenceSession(ort, model);
    try {
      const B = 2, T = 6;
      const ids = Array.from({ length: B * T }, (_, i) => ((i * 37 + 5) % 250) + 3);
      const mask = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
      const got = await referenceLogits(ort, session, model, { B, T, ids, mask });
      const cpu = new CpuTransformer(model.config, model.transformerWeights('f32'));
      const want = cpu.logits({ B, T, ids: Int32Array.from(ids), mask });
      const { diff, scale } = maxAbsDiff(got, want, model.config.vocabSize, mask);
      expect(scale).toBeGreaterThan(0.05);
      expect(diff).toBeLessThanOrEqual(tol);
    } finally {
      await session.release();
    }
  });
});
