// The whole-model LoRA check against a PyTorch fixture (test/fixtures/lora/<name>.json, written by
// scripts/fixtures/lora_reference.py or make_arch_fixtures.py, float64): Σ completion log-probs
// per sequence of a padded batch and the gradient of a weighted sum of them by every LoRA tensor,
// with non-zero A and B on every linear layer, for each dropout case the fixture holds (it
// replays our counter-based mask). Used by lora-torch.test.ts and lora-architectures.test.ts.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { testEngine } from '#test-engine';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { policyLogprobs } from '../../src/engine/transformer/train-logprobs.js';
import type { SequencePair } from '../../src/engine/transformer/logprobs.js';

interface Fixture {
  model: string;
  r: number;
  alpha: number;
  use_rslora: boolean;
  scale: number;
  batch: { prompt_ids: number[]; completion_ids: number[] }[];
  weights: number[];
  lora: Record<string, { shape: number[]; f32_b64: string }>;
  cases: { dropout: { p: number; seed: number } | null; logps: number[]; loss: number; grads: Record<string, string> }[];
}

const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

// The bar: relative error 1e-3. Both sides compute the same function, ours in f32 and
// PyTorch in float64, so the gap is f32 rounding through two blocks (measured ~1e-6 relative);
// a wrong term (missed scale, mask, part offset) is off by far more than 1e-3.
const REL = 1e-3;

/** ‖a − b‖∞ / ‖b‖∞ (one number per tensor: tiny entries of a gradient carry no meaning alone). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

/**
 * Checks fixture `name` (model test/fixtures/models/<name>) and returns a line per case;
 * activationRecompute: the backward reruns each block's forward (policyLogprobs' option).
 */
export async function checkLoraFixture(name: string, options: { activationRecompute?: boolean } = {}): Promise<string[]> {
  const fx = JSON.parse(readFileSync(new URL(`../fixtures/lora/${name}.json`, import.meta.url), 'utf8')) as Fixture;
  const engine = await testEngine();
  const loaded = await loadModel(nodeDirSource(new URL(`../fixtures/models/${name}/`, import.meta.url).pathname), { acknowledge: ['tokenizer-vocab-mismatch'] });
  const model = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
  const batch: SequencePair[] = fx.batch.map((s) => ({ promptIds: s.prompt_ids, completionIds: s.completion_ids }));
  const values = new Map(Object.entries(fx.lora).map(([k, v]) => [k, f32(v.f32_b64)]));
  const dlogps = engine.fromArray(Float32Array.from(fx.weights), [fx.weights.length]);
  const report: string[] = [];
  for (const c of fx.cases) {
    const adapter = LoraAdapter.create(model, { r: fx.r, alpha: fx.alpha, useRslora: fx.use_rslora, dropout: c.dropout?.p ?? 0, targetModules: 'all-linear' });
    expect(adapter.scale).toBeCloseTo(fx.scale, 12);
    // Same tensors under the same PEFT names and shapes (load throws on any difference).
    expect(adapter.params().map((p) => p.name).sort()).toEqual([...values.keys()].sort());
    for (const p of adapter.params()) expect(p.shape, p.name).toEqual(fx.lora[p.name]!.shape);
    adapter.load(values);
    const pl = await policyLogprobs(model, adapter, batch, { dropoutSeed: c.dropout?.seed ?? null, accumulateGrads: false, activationRecompute: options.activationRecompute ?? false });
    const logps = await engine.readF32(pl.logps);
    pl.backward(dlogps);
    pl.release();
    const grads = await adapter.readGrads();
    const what = `${name}${options.activationRecompute ? ' (recomputed activations)' : ''} dropout=${JSON.stringify(c.dropout)}`;
    const lpErr = relErr(logps, c.logps);
    expect(lpErr, `${what} logps ${[...logps]} vs ${c.logps}`).toBeLessThan(REL);
    let worst = 0;
    for (const [k, want] of Object.entries(c.grads)) {
      const e = relErr(grads.get(k)!, f32(want));
      worst = Math.max(worst, e);
      expect(e, `${what} ${k}`).toBeLessThan(REL);
    }
    report.push(`${what}: logps rel err ${lpErr.toExponential(2)}, worst gradient rel err ${worst.toExponential(2)}`);
    adapter.destroy();
  }
  engine.release(dlogps);
  model.destroy();
  return report;
}
