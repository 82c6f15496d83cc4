// The whole model with a LoRA adapter: forward against the CPU reference with the adapter merged
// into the weights (W + s·B·A), the adapter switched off, and the backward (policyLogprobs) against
// finite differences of the GPU forward, per LoRA tensor (directional derivatives), with and
// without dropout; gradient accumulation; memory released. Tiny random models: Llama with GQA,
// Qwen2-style biases, f16 base weights, GPT-2 (c_attn: one LoRA module for q, k, v).
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { LoraAdapter, LoraPart, type LoraConfig } from '../../src/engine/lora/adapter.js';
import { CpuTransformer } from '../../src/engine/transformer/cpu-reference.js';
import type { TransformerConfig, TransformerWeights } from '../../src/engine/transformer/config.js';
import { generate } from '../../src/engine/transformer/generate.js';
import { sequenceLogprobs, type SequencePair } from '../../src/engine/transformer/logprobs.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { policyLogprobs } from '../../src/engine/transformer/train-logprobs.js';
import { fromF16Array } from '../../src/engine/f16.js';
import { expectClose, randn, rng } from '../support/numeric.js';
import { randomRows, randomWeights, tinyConfig, type FixtureName } from './fixtures.js';

const FIXTURES: FixtureName[] = ['llama-gqa', 'qwen2-bias', 'llama-f16', 'gpt2'];
const LORA: LoraConfig = { r: 4, alpha: 8, targetModules: 'all-linear', seed: 3 };

function pairs(config: TransformerConfig, seed: number): SequencePair[] {
  // Prompts and completions of different lengths (padding), one with an empty prompt.
  const rows = randomRows([3, 5, 2, 0, 6, 4, 4, 1], config.vocabSize, seed);
  return [
    { promptIds: rows[0]!, completionIds: rows[1]! },
    { promptIds: rows[2]!, completionIds: rows[4]! },
    { promptIds: rows[3]!, completionIds: rows[5]! },
    { promptIds: rows[6]!, completionIds: rows[7]! },
  ];
}

/** Gives every A and B random values of a useful size (a fresh B is zero). */
async function randomizeAdapter(adapter: LoraAdapter, seed: number, scale = 0.3): Promise<Map<string, Float32Array>> {
  const values = new Map<string, Float32Array>();
  let s = seed;
  for (const p of adapter.params()) values.set(p.name, randn(p.shape[0] * p.shape[1], ++s, scale));
  adapter.load(values);
  return values;
}

/** The model's weights with s·B·A added to every adapted linear weight (f16 weights as their values). */
function mergedWeights(adapter: LoraAdapter, weights: TransformerWeights, values: Map<string, Float32Array>): TransformerWeights {
  const out: TransformerWeights = new Map(weights);
  const R = adapter.r;
  for (const mod of adapter.modules) {
    const A = values.get(`base_model.model.${mod.path}.lora_A.weight`)!;
    const Bm = values.get(`base_model.model.${mod.path}.lora_B.weight`)!;
    for (const part of mod.parts) {
      const name = `${part.linear.name}.weight`;
      const w = weights.get(name)!;
      const base = w.dtype === 'f16' ? fromF16Array(w.data as Uint16Array) : (w.data as Float32Array);
      const OC = part.linear.outFeatures, C = part.linear.inFeatures;
      const merged = new Float32Array(OC * C);
      for (let o = 0; o < OC; o++) {
        for (let c = 0; c < C; c++) {
          let d = 0;
          for (let r = 0; r < R; r++) d += Bm[(part.rowOffset + o) * R + r]! * A[r * C + c]!;
          merged[o * C + c] = base[o * C + c]! + adapter.scale * d;
        }
      }
      out.set(name, { shape: w.shape, dtype: 'f32', data: merged });
    }
  }
  return out;
}

interface Setup {
  engine: Engine;
  config: TransformerConfig;
  weights: TransformerWeights;
  model: TransformerModel;
  adapter: LoraAdapter;
  values: Map<string, Float32Array>;
  batch: SequencePair[];
}

async function setup(name: FixtureName, lora: LoraConfig = LORA, scale = 0.3): Promise<Setup> {
  const engine = await testEngine();
  const config = tinyConfig(name);
  const weights = randomWeights(config, 21, name === 'llama-f16');
  const model = TransformerModel.create(engine, config, weights);
  const adapter = LoraAdapter.create(model, lora);
  const values = await randomizeAdapter(adapter, 100, scale);
  return { engine, config, weights, model, adapter, values, batch: pairs(config, 7) };
}

function teardown(s: Setup): void {
  s.adapter.destroy();
  s.model.destroy();
}

/** Σ_b w_b · logps_b of the GPU forward, read back. */
async function weightedLoss(s: Setup, w: Float32Array, dropoutSeed: number | null): Promise<number> {
  const pl = await policyLogprobs(s.model, s.adapter, s.batch, { dropoutSeed });
  const lp = await s.engine.readF32(pl.logps);
  pl.release();
  return lp.reduce((acc, v, i) => acc + v * w[i]!, 0);
}

describe('transformer with a LoRA adapter', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(FIXTURES)('%s: forward equals the CPU reference with the adapter merged; disabled equals the base', async (name) => {
    const s = await setup(name);
    const cpuMerged = new CpuTransformer(s.config, mergedWeights(s.adapter, s.weights, s.values));
    const cpuBase = new CpuTransformer(s.config, s.weights);
    const TOL = { atol: 2e-4, rtol: 1e-5 };
    const want = cpuMerged.sequenceLogprobs(s.batch);
    // logprobs.ts (inference path) and policyLogprobs (training path) both see the adapter.
    const inference = await sequenceLogprobs(s.model, s.batch);
    expectClose(inference.map((r) => r.logp), want.map((r) => r.logp), { ...TOL, what: `${name} sequenceLogprobs` });
    expectClose(inference.map((r) => r.meanLogit), want.map((r) => r.meanLogit), { ...TOL, what: `${name} meanLogit` });
    const pl = await policyLogprobs(s.model, s.adapter, s.batch, { chunkRows: 3 });
    expectClose(await s.engine.readF32(pl.logps), want.map((r) => r.logp), { ...TOL, what: `${name} policy logps` });
    expectClose(await s.engine.readF32(pl.meanLogits), want.map((r) => r.meanLogit), { ...TOL, what: `${name} policy meanLogits` });
    expectClose(inference.map((r) => r.alignedMean), want.map((r) => r.alignedMean), { ...TOL, what: `${name} alignedMean` });
    expectClose(await s.engine.readF32(pl.alignedMeans), want.map((r) => r.alignedMean), { ...TOL, what: `${name} policy alignedMeans` });
    expect([...pl.counts]).toEqual(want.map((r) => r.tokens));
    pl.release();
    // The adapter changes the output; off, the same model gives the base log-probs.
    const base = cpuBase.sequenceLogprobs(s.batch);
    expect(Math.abs(base[0]!.logp - want[0]!.logp)).toBeGreaterThan(1e-2);
    s.adapter.enabled = false;
    expectClose((await sequenceLogprobs(s.model, s.batch)).map((r) => r.logp), base.map((r) => r.logp), { ...TOL, what: `${name} disabled` });
    s.adapter.enabled = true;
    teardown(s);
  });

  // llama-f16's backward differs only in the f16 dinp reads, which test/engine/lora.test.ts checks.
  it.each([
    ['llama-gqa', null],
    ['qwen2-bias', null],
    ['gpt2', null],
    ['llama-gqa', 0.25],
    ['gpt2', 0.25],
  ] as const)('%s dropout=%s: every LoRA gradient matches finite differences of the forward', async (name, p) => {
    // Smaller LoRA values than the forward test's keep the loss closer to linear for the differences.
    const s = await setup(name, { ...LORA, dropout: p ?? 0 }, 0.15);
    const dropoutSeed = p === null ? null : 4242;
    const w = Float32Array.from([1, -0.5, 2, 0.75]);
    const e = s.engine;
    s.adapter.zeroGrads();
    const pl = await policyLogprobs(s.model, s.adapter, s.batch, { dropoutSeed, chunkRows: 5 });
    const dlogps = e.fromArray(w, [w.length]);
    pl.backward(dlogps);
    pl.release();
    e.release(dlogps);
    const grads = await s.adapter.readGrads();

    // The directional derivative along a random unit direction D of the adapter tensors, by
    // central differences of the f32 GPU forward, Richardson-extrapolated from steps h and h/2
    // (the h² term cancels: LoRA terms of this size make the loss quite curved).
    const r = rng(9);
    const along = (names: string[], D: Map<string, Float32Array>, t: number) => {
      const m = new Map(s.values);
      for (const k of names) m.set(k, s.values.get(k)!.map((x, i) => x + t * D.get(k)![i]!));
      s.adapter.load(m);
    };
    const central = async (names: string[], D: Map<string, Float32Array>, h: number) => {
      along(names, D, h);
      const lp = await weightedLoss(s, w, dropoutSeed);
      along(names, D, -h);
      const lm = await weightedLoss(s, w, dropoutSeed);
      return (lp - lm) / (2 * h);
    };
    // One direction per layer and branch (attention modules; MLP modules) keeps the forwards few.
    const groups = new Map<string, string[]>();
    for (const mod of s.adapter.modules) {
      const key = mod.path.replace(/(attn|mlp)\..*$/, '$1');
      groups.set(key, [...(groups.get(key) ?? []), ...['lora_A', 'lora_B'].map((k) => `base_model.model.${mod.path}.${k}.weight`)]);
    }
    expect(groups.size).toBe(2 * s.config.layers);
    for (const [group, names] of groups) {
      const D = new Map(names.map((k) => [k, randn(s.values.get(k)!.length, Math.floor(r() * 1e9))]));
      const norm = Math.sqrt([...D.values()].reduce((a, d) => a + d.reduce((b, x) => b + x * x, 0), 0));
      let analytic = 0;
      for (const k of names) {
        const d = D.get(k)!.map((x) => x / norm);
        D.set(k, d);
        const g = grads.get(k)!;
        for (let i = 0; i < d.length; i++) analytic += g[i]! * d[i]!;
      }
      const h = 5e-3;
      const numeric = (4 * (await central(names, D, h / 2)) - (await central(names, D, h))) / 3;
      expect(Math.abs(analytic - numeric), `${name} ${group}: analytic ${analytic} numeric ${numeric}`).toBeLessThan(2e-3 + 5e-3 * Math.abs(numeric));
    }
    s.adapter.load(s.values);
    // Dropout makes a difference, and the backward used the forward's mask (checked above).
    if (dropoutSeed !== null) expect(await weightedLoss(s, w, dropoutSeed)).not.toBeCloseTo(await weightedLoss(s, w, null), 3);
    teardown(s);
  }, 180_000);

  it.each(['llama-gqa', 'gpt2'] as const)('%s: LD-DPO tail weights: logps = CPU reference; gradients = shared + weight · tail', async (name) => {
    const s = await setup(name);
    const e = s.engine;
    const cpuMerged = new CpuTransformer(s.config, mergedWeights(s.adapter, s.weights, s.values));
    // Tails from the 2nd, 0th, 1st and 1st scored token (pair 2 has an empty prompt: its first
    // completion token is not scored, so its scored token k is completion token k + 1).
    const from = [2, 0, 1, 1];
    const withTail = (weight: number) => s.batch.map((p, b) => ({ ...p, tail: { from: from[b]!, weight } }));
    const cut = s.batch.map((p, b) => ({ ...p, completionIds: p.completionIds.slice(0, from[b]! + (p.promptIds.length === 0 ? 1 : 0)) }));
    const dl = e.fromArray(Float32Array.from([1, -0.5, 2, 0.75]), [4]);
    const run = async (batch: SequencePair[]) => {
      const pl = await policyLogprobs(s.model, s.adapter, batch, { accumulateGrads: false, chunkRows: 4 });
      const logps = await e.readF32(pl.logps);
      const counts = [...pl.counts];
      const aligned = await e.readF32(pl.alignedMeans);
      pl.backward(dl);
      pl.release();
      return { logps, counts, aligned, grads: await s.adapter.readGrads() };
    };
    const alpha = 0.3;
    const tail = await run(withTail(alpha));
    const TOL = { atol: 2e-4, rtol: 1e-5 };
    expectClose(tail.logps, cpuMerged.sequenceLogprobs(withTail(alpha)).map((r) => r.logp), { ...TOL, what: `${name} tail logps` });
    const full = await run(s.batch);
    expect(tail.counts).toEqual(full.counts); // counts stay the plain number of scored tokens
    expectClose(tail.aligned, full.aligned, { atol: 0, rtol: 0, what: 'aligned means are unweighted' });
    const shared = await run(cut);
    expectClose((await run(withTail(0))).logps, shared.logps, { ...TOL, what: `${name} weight 0 = truncated` });
    // logp_α = shared + α·(full - shared), and so is its gradient (the backward scales each
    // position's dlogp by the same weight as the forward).
    expectClose(tail.logps, Array.from(full.logps, (f, b) => shared.logps[b]! + alpha * (f - shared.logps[b]!)), { ...TOL, what: `${name} logps` });
    for (const [k, g] of tail.grads) {
      const f = full.grads.get(k)!, c = shared.grads.get(k)!;
      expectClose(g, Array.from(f, (x, i) => c[i]! + alpha * (x - c[i]!)), { atol: 2e-5, rtol: 1e-3, what: `${name} ${k}` });
    }
    e.release(dl);
    teardown(s);
  });

  it('accumulates gradients across micro-batches, assigns with accumulateGrads false, and frees its memory', async () => {
    const s = await setup('llama-gqa');
    const e = s.engine;
    const dl = e.fromArray(Float32Array.from([1, 2, -1, 0.5]), [4]);
    const run = async (accumulateGrads: boolean) => {
      const pl = await policyLogprobs(s.model, s.adapter, s.batch, { accumulateGrads });
      pl.backward(dl);
      expect(() => pl.backward(dl)).toThrow(/already run/);
      pl.release();
    };
    const before = e.pool.stats.bytesInUse;
    await run(false);
    const once = await s.adapter.readGrads();
    await run(true);
    const twice = await s.adapter.readGrads();
    await run(false);
    const again = await s.adapter.readGrads();
    await e.sync();
    expect(e.pool.stats.bytesInUse).toBe(before);
    for (const [k, g] of once) {
      expect(g.some((x) => x !== 0), `${k} non-zero`).toBe(true);
      expectClose(twice.get(k)!, g.map((x) => 2 * x), { atol: 1e-6, rtol: 1e-5, what: `${k} accumulated` });
      expectClose(again.get(k)!, g, { atol: 1e-6, rtol: 1e-5, what: `${k} assigned` });
    }
    // A forward that is released without a backward frees everything too.
    (await policyLogprobs(s.model, s.adapter, s.batch)).release();
    await e.sync();
    expect(e.pool.stats.bytesInUse).toBe(before);
    e.release(dl);
    teardown(s);
  });

  it.each(['llama-gqa', 'gpt2'] as const)('%s: KV-cache generation with the adapter equals greedy decoding of the merged CPU model', async (name) => {
    const s = await setup(name);
    const cpu = new CpuTransformer(s.config, mergedWeights(s.adapter, s.weights, s.values));
    const prompts = randomRows([5, 3], s.config.vocabSize, 31);
    const got = await generate(s.model, prompts, { maxNewTokens: 6, eosIds: [], temperature: 0 });
    prompts.forEach((p, b) => expect(got[b]!.tokens, `${name} row ${b}`).toEqual(cpu.greedy(p, 6, [])));
    teardown(s);
  });

  it.each(['llama-gqa', 'gpt2'] as const)('%s: activation recomputation gives the same log-probs and gradients with less kept memory', async (name) => {
    const s = await setup(name, { ...LORA, dropout: 0.1 });
    const e = s.engine;
    const dl = e.fromArray(Float32Array.from([1, 2, -1, 0.5]), [4]);
    const run = async (activationRecompute: boolean) => {
      const before = e.pool.stats.bytesInUse;
      const pl = await policyLogprobs(s.model, s.adapter, s.batch, { activationRecompute, dropoutSeed: 99, accumulateGrads: false });
      const kept = e.pool.stats.bytesInUse - before;
      const logps = await e.readF32(pl.logps);
      pl.backward(dl);
      pl.release();
      await e.sync();
      expect(e.pool.stats.bytesInUse).toBe(before);
      return { kept, logps, grads: await s.adapter.readGrads() };
    };
    const full = await run(false);
    const recomputed = await run(true);
    expect(recomputed.logps).toEqual(full.logps);
    for (const [k, g] of full.grads) expectClose(recomputed.grads.get(k)!, g, { atol: 1e-6, rtol: 1e-6, what: `${name} ${k}` });
    expect(recomputed.kept).toBeLessThan(full.kept / 2);
    e.release(dl);
    teardown(s);
  });

  it('a fresh adapter (B = 0) leaves the model unchanged, and generation-style forwards see a trained one', async () => {
    const engine = await testEngine();
    const config = tinyConfig('llama-gqa');
    const weights = randomWeights(config, 5);
    const model = TransformerModel.create(engine, config, weights);
    const batch = pairs(config, 3);
    const base = (await sequenceLogprobs(model, batch)).map((r) => r.logp);
    const adapter = LoraAdapter.create(model, { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] });
    expect(adapter.modules.every((m) => m.parts[0]!.linear.adapter instanceof LoraPart)).toBe(true);
    expectClose((await sequenceLogprobs(model, batch)).map((r) => r.logp), base, { atol: 1e-5, rtol: 1e-6, what: 'fresh adapter' });
    await randomizeAdapter(adapter, 1);
    const tuned = (await sequenceLogprobs(model, batch)).map((r) => r.logp);
    expect(Math.abs(tuned[0]! - base[0]!)).toBeGreaterThan(1e-3);
    adapter.detach();
    expectClose((await sequenceLogprobs(model, batch)).map((r) => r.logp), base, { atol: 1e-5, rtol: 1e-6, what: 'detached' });
    await expect(policyLogprobs(model, adapter, batch)).rejects.toThrow(/detached/);
    adapter.attach();
    expectClose((await sequenceLogprobs(model, batch)).map((r) => r.logp), tuned, { atol: 1e-5, rtol: 1e-6, what: 'attached again' });
    adapter.destroy();
    model.destroy();
  });
});
