// A reference that is not the base model: iterative DPO's (the previous round's policy) and
// TR-DPO's (sync_ref_model: the policy mixed in every ref_model_sync_steps steps).
//   - the LoRA blocks' weight update equals α·ΔW_policy + (1 - α)·ΔW_ref, computed densely;
//   - reference log-probs come from the base plus that adapter (equal to scoring with it as the
//     policy), and the cache key holds it: entries of the base reference are not reused;
//   - with α = 1 and τ = 1 the reference catches up with the policy after every step, so every
//     step's rewards start at 0 (loss log 2), as a fresh run's first step does;
//   - a TR-DPO run checkpointed and resumed ends bit for bit where an uninterrupted one does.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { LoraAdapter } from '../../src/engine/lora/adapter.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { sequenceLogprobs } from '../../src/engine/transformer/logprobs.js';
import { parseTrainingConfig, type TrainingConfig } from '../../src/engine/training/config.js';
import { loraAdapterConfig, loraBackend } from '../../src/engine/training/backend.js';
import { MemoryRefCache } from '../../src/engine/training/ref-cache.js';
import { mixReference, referenceFromAdapter, type ReferenceBlocks } from '../../src/engine/training/reference.js';
import { Trainer, decodeCheckpoint, encodeCheckpoint, type StepMetrics } from '../../src/engine/training/trainer.js';
import type { Example } from '../../src/engine/training/tokenize.js';
import { randomRows, randomWeights, tinyConfig } from '../transformer/fixtures.js';

const mc = tinyConfig('llama-gqa');

function examples(): Example[] {
  return Array.from({ length: 6 }, (_, i) => {
    const [p, c, r] = randomRows([3 + (i % 2), 2 + (i % 2), 3], mc.vocabSize, 500 + i);
    return { record: i, split: i < 4 ? 'train' : 'test', kind: 'pair', sequences: [{ promptIds: p!, completionIds: c! }, { promptIds: p!, completionIds: r! }] };
  });
}

/** ΔW = Σ scale · B A of one module (out x in), dense, from tensors by PEFT name. */
function delta(t: ReadonlyMap<string, Float32Array>, module: string, r: number, scale: number, C: number, OC: number): Float64Array {
  const a = t.get(`${module}.lora_A.weight`)!;
  const b = t.get(`${module}.lora_B.weight`)!;
  const out = new Float64Array(OC * C);
  for (let o = 0; o < OC; o++) for (let c = 0; c < C; c++) {
    let s = 0;
    for (let k = 0; k < r; k++) s += b[o * r + k]! * a[k * C + c]!;
    out[o * C + c] = scale * s;
  }
  return out;
}

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 131 + i * 1.7) * 0.5);

describe('reference blocks (host)', () => {
  it('mixing is exact on the weight update, drops blocks below 1e-6 and the oldest past the largest rank', () => {
    const C = 5, OC = 3, r = 2, m = 'base_model.model.x';
    const tensors = (seed: number) => new Map([[`${m}.lora_A.weight`, rand(r * C, seed)], [`${m}.lora_B.weight`, rand(OC * r, seed + 1)]]);
    const p1 = tensors(1), p2 = tensors(2), p3 = tensors(3);
    const s = 1.5;
    // The base, then two syncs with α = 0.6; the reference starts as a 1-block adapter in another test.
    const r1 = mixReference(null, p1, r, s, 0.6, 100)!;
    const r2 = mixReference(r1, p2, r, s, 0.6, 100)!;
    const r3 = mixReference(r2, p3, r, s, 0.6, 100)!;
    expect(r3.blocks.map((b) => b.rank)).toEqual([2, 2, 2]);
    r3.blocks.forEach((b, i) => expect(b.weight).toBeCloseTo([0.6, 0.24, 0.096][i]!, 12));
    const R = r3.blocks.reduce((a, b) => a + b.rank, 0);
    const got = delta(r3.tensors, m, R, 1, C, OC);
    const [d1, d2, d3] = [p1, p2, p3].map((t) => delta(t, m, r, s, C, OC));
    got.forEach((x, i) => expect(x).toBeCloseTo(0.6 * d3![i]! + 0.4 * (0.6 * d2![i]! + 0.4 * (0.6 * d1![i]!)), 5));
    // α = 0 keeps the reference as it was; α = 1 makes it the policy.
    expect(mixReference(r2, p3, r, s, 0, 100)).toEqual(r2);
    const one = mixReference(r2, p3, r, s, 1, 100)!;
    expect(one.blocks).toEqual([{ rank: 2, weight: 1 }]);
    // Past the largest rank the layers can use, the oldest blocks go.
    expect(mixReference(r2, p3, r, s, 0.6, 4)!.blocks.map((b) => b.weight)).toEqual([0.6, 0.4 * 0.6]);
    // A block lighter than 1e-6 goes: 0.5^20 < 1e-6 <= 0.5^19.
    let ref: ReferenceBlocks | null = null;
    for (let k = 0; k < 25; k++) ref = mixReference(ref, p1, r, s, 0.5, 1000);
    expect(ref!.blocks).toHaveLength(19);
    expect(Math.min(...ref!.blocks.map((b) => b.weight))).toBeGreaterThanOrEqual(1e-6);
  });
});

let engine: Engine;
let model: TransformerModel;
afterAll(() => model?.destroy());

async function setup(config: TrainingConfig, reference: ReferenceBlocks | null = null) {
  engine ??= await testEngine();
  model ??= TransformerModel.create(engine, mc, randomWeights(mc, 11));
  const adapter = LoraAdapter.create(model, loraAdapterConfig(config.lora, config.seed));
  const backend = loraBackend(model, adapter, 0, reference);
  return { adapter, backend, options: { backend, config, examples: examples(), modelFingerprint: 'tiny-llama-11' } };
}

const strip = (m: StepMetrics) => {
  const { tokens_per_second: _t, step_time_ms: _s, gpu_memory_bytes: _g, gpu_memory_peak_bytes: _p, ...rest } = m;
  return rest;
};

describe('a moving reference in the trainer', () => {
  const lora = { r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] };

  it('iterative DPO: reference log-probs from base plus the previous adapter, under their own cache key', { timeout: 180_000 }, async () => {
    const config = parseTrainingConfig({ method: 'dpo', learning_rate: 2e-2, max_steps: 2, per_device_train_batch_size: 2, seed: 3, lora });
    // "Round 1": train an adapter from the base.
    const cache = new MemoryRefCache();
    const r1 = await setup(config);
    const t1 = await Trainer.create({ ...r1.options, refCache: cache });
    await t1.run(() => {});
    const previous = await r1.adapter.save();
    t1.destroy();
    r1.adapter.destroy();
    expect(cache.entries.size).toBe(6);

    // "Round 2": the reference is round 1's policy; the policy starts from it too.
    const ref = referenceFromAdapter(previous, 2, 4 / 2);
    const r2 = await setup(config, ref);
    r2.adapter.load(previous);
    const t2 = await Trainer.create({ ...r2.options, refCache: cache });
    // New keys: six more entries, none of the base's reused.
    const before = cache.entries.size;
    const m = await t2.step();
    expect(cache.entries.size).toBe(before + 2);
    // Policy = reference at the start: every reward is 0, the loss log 2.
    expect(m['rewards/chosen']).toBeCloseTo(0, 5);
    expect(m['rewards/margins']).toBeCloseTo(0, 5);
    expect(m.loss).toBeCloseTo(Math.log(2), 5);
    // The reference scores equal scoring with round 1's adapter as the policy.
    const seqs = examples()[0]!.sequences;
    const viaRef = await r2.backend.score(seqs, { adapter: false });
    r2.adapter.detach();
    const plain = LoraAdapter.create(model, loraAdapterConfig(config.lora, config.seed));
    plain.load(previous);
    const direct = await sequenceLogprobs(model, seqs);
    plain.destroy();
    r2.adapter.attach();
    viaRef.forEach((x, i) => expect(x.logp).toBeCloseTo(direct[i]!.logp, 4));
    // ...and differ from the base's.
    r2.adapter.enabled = false;
    r2.adapter.detach();
    const base = await sequenceLogprobs(model, seqs);
    r2.adapter.attach();
    r2.adapter.enabled = true;
    expect(Math.abs(base[0]!.logp - viaRef[0]!.logp)).toBeGreaterThan(1e-4);
    t2.destroy();
    r2.adapter.destroy();
  });

  it('TR-DPO with α = 1, τ = 1: the reference is the policy of the step before, so every step starts at reward 0', { timeout: 180_000 }, async () => {
    const config = parseTrainingConfig({ method: 'dpo', learning_rate: 2e-2, max_steps: 3, per_device_train_batch_size: 2, seed: 4, sync_ref_model: true, ref_model_mixup_alpha: 1, ref_model_sync_steps: 1, lora });
    const s = await setup(config);
    const t = await Trainer.create({ ...s.options, refCache: new MemoryRefCache() });
    const ms: StepMetrics[] = [];
    await t.run((m) => ms.push(m));
    for (const m of ms) {
      expect(m['rewards/margins']).toBeCloseTo(0, 5);
      expect(m.loss).toBeCloseTo(Math.log(2), 5);
    }
    // The policy moved all the same.
    expect(ms[2]!.grad_norm).toBeGreaterThan(0);
    t.destroy();
    s.adapter.destroy();
    // Without the sync the second step's rewards are not 0.
    const plain = await setup(parseTrainingConfig({ ...config, sync_ref_model: false }));
    const tp = await Trainer.create({ ...plain.options, refCache: new MemoryRefCache() });
    await tp.step();
    const m2 = await tp.step();
    expect(Math.abs(m2['rewards/margins']!)).toBeGreaterThan(1e-4);
    tp.destroy();
    plain.adapter.destroy();
  });

  it('TR-DPO (α = 0.6, τ = 2): a run resumed from a checkpoint ends bit for bit as an uninterrupted one', { timeout: 240_000 }, async () => {
    const config = parseTrainingConfig({ method: 'dpo', learning_rate: 2e-2, max_steps: 5, per_device_train_batch_size: 2, seed: 6, sync_ref_model: true, ref_model_mixup_alpha: 0.6, ref_model_sync_steps: 2, lora });
    const full = await setup(config);
    const t1 = await Trainer.create({ ...full.options, refCache: new MemoryRefCache() });
    await t1.run(() => {});
    const want = await full.adapter.save();
    const history = t1.history.map(strip);
    expect(full.backend.reference!()!.blocks.map((b) => b.weight)).toEqual([0.6, 0.4 * 0.6]);
    t1.destroy();
    full.adapter.destroy();

    const first = await setup(config);
    const t2 = await Trainer.create({ ...first.options, refCache: new MemoryRefCache() });
    const stop = new AbortController();
    let bytes: Uint8Array | null = null;
    await t2.run((m) => m.step === 3 && stop.abort(), { signal: stop.signal, onCheckpoint: (c) => void (bytes = encodeCheckpoint(c)) });
    t2.destroy();
    first.adapter.destroy();
    const state = decodeCheckpoint(bytes!);
    expect(state.reference?.blocks).toEqual([{ rank: 2, weight: 0.6 }]);

    const second = await setup(config);
    const t3 = await Trainer.resume({ ...second.options, refCache: new MemoryRefCache() }, state);
    await t3.run(() => {});
    expect(t3.history.map(strip)).toEqual(history);
    const got = await second.adapter.save();
    for (const [name, v] of want) expect(new Uint32Array(got.get(name)!.buffer), name).toEqual(new Uint32Array(v.buffer));
    t3.destroy();
    second.adapter.destroy();
  });
});
