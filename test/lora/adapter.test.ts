// The LoRA adapter object: PEFT's module matching, tensor names and shapes (Llama; GPT-2's c_attn
// as one module), initialisation (A uniform in ±1/sqrt(in), B zero, seeded), scale (alpha / r,
// rsLoRA alpha / sqrt(r)), load/save round trips and clear errors for bad configs and tensors.
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { LoraAdapter, loraScale, matchesTarget } from '../../src/engine/lora/adapter.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { randomWeights, tinyConfig, type FixtureName } from '../transformer/fixtures.js';

async function model(name: FixtureName): Promise<TransformerModel> {
  const config = tinyConfig(name);
  return TransformerModel.create(await testEngine(), config, randomWeights(config, 1));
}

describe('lora adapter', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it('matches target modules as PEFT does', () => {
    const p = 'model.layers.3.self_attn.q_proj';
    expect(matchesTarget(p, ['q_proj'])).toBe(true);
    expect(matchesTarget(p, ['proj'])).toBe(false); // whole name parts only
    expect(matchesTarget(p, ['self_attn.q_proj'])).toBe(true);
    expect(matchesTarget(p, [p])).toBe(true);
    expect(matchesTarget(p, 'all-linear')).toBe(true);
    expect(matchesTarget(p, '.*\\.(q|v)_proj')).toBe(true); // a string is a full-match regex
    expect(matchesTarget(p, 'q_proj')).toBe(false);
    expect(loraScale({ r: 16, alpha: 32 })).toBe(2);
    expect(loraScale({ r: 16, alpha: 32, useRslora: true })).toBe(8);
  });

  it('Llama: PEFT names and shapes, kaiming-uniform A, zero B, seeded', async () => {
    const m = await model('llama-gqa');
    const c = m.config;
    const ad = LoraAdapter.create(m, { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 5 });
    const params = ad.params();
    expect(params.map((p) => p.name).slice(0, 4)).toEqual([
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight',
    ]);
    expect(params.length).toBe(2 * 3 * c.layers);
    const byName = new Map(params.map((p) => [p.name, p]));
    expect(byName.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')!.shape).toEqual([c.kvHeads * c.headDim, 8]);
    expect(byName.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')!.shape).toEqual([8, c.intermediate]);
    expect(ad.targetModuleNames).toEqual(['q_proj', 'v_proj', 'down_proj']);
    expect(ad.parameterCount).toBe(params.reduce((s, p) => s + p.shape[0] * p.shape[1], 0));
    expect(m.weights.layers[0]!.k.adapter).toBeNull();

    const values = await ad.save();
    for (const p of params) {
      const v = values.get(p.name)!;
      if (p.name.includes('lora_B')) expect(v.every((x) => x === 0), p.name).toBe(true);
      else {
        const bound = 1 / Math.sqrt(p.shape[1]);
        expect(v.every((x) => Math.abs(x) <= bound), p.name).toBe(true);
        // Spread over the interval: a uniform sample's max |x| is near the bound.
        expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.8 * bound);
      }
    }
    for (const g of (await ad.readGrads()).values()) expect(g.every((x) => x === 0)).toBe(true);
    // Same seed, same A; another seed, another A.
    ad.destroy();
    const same = LoraAdapter.create(m, { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 5 });
    const a0 = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
    expect((await same.save()).get(a0)).toEqual(values.get(a0));
    same.destroy();
    const other = LoraAdapter.create(m, { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 6 });
    expect((await other.save()).get(a0)).not.toEqual(values.get(a0));
    other.destroy();
    m.destroy();
  });

  it('GPT-2: c_attn is one module whose B rows feed q, k and v; all-linear skips the LM head', async () => {
    const m = await model('gpt2');
    const C = m.config.hidden;
    const ad = LoraAdapter.create(m, { r: 4, alpha: 4, targetModules: 'all-linear' });
    expect(ad.targetModuleNames).toEqual(['c_attn', 'c_proj', 'c_fc']);
    expect(ad.modules.map((x) => x.path).slice(0, 4)).toEqual([
      'transformer.h.0.attn.c_attn', 'transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_fc', 'transformer.h.0.mlp.c_proj',
    ]);
    const cAttn = ad.modules[0]!;
    expect(cAttn.outFeatures).toBe(3 * C);
    expect(cAttn.parts.map((p) => [p.linear.name, p.rowOffset])).toEqual([
      ['transformer.h.0.attn.q_proj', 0], ['transformer.h.0.attn.k_proj', C], ['transformer.h.0.attn.v_proj', 2 * C],
    ]);
    expect(ad.params()[1]!.shape).toEqual([3 * C, 4]);
    expect(m.weights.lmHead.adapter).toBeNull();
    expect(ad.fanInFanOut).toBe(true);
    ad.destroy();
    m.destroy();
  });

  it('load and save round-trip; bad configs and tensors fail with what and where', async () => {
    const m = await model('llama-gqa');
    const bad = (config: object) => () => LoraAdapter.create(m, { r: 4, alpha: 8, targetModules: ['q_proj'], ...config });
    expect(bad({ r: 0 })).toThrow(/lora config: r = 0 must be a positive integer/);
    expect(bad({ alpha: -1 })).toThrow(/alpha = -1/);
    expect(bad({ dropout: 1 })).toThrow(/dropout = 1 must be in \[0, 1\)/);
    expect(bad({ targetModules: ['c_attn'] })).toThrow(/match no linear layer of this llama model \(its modules: q_proj, k_proj/);
    const ad = LoraAdapter.create(m, { r: 4, alpha: 8, targetModules: ['q_proj'] });
    expect(() => LoraAdapter.create(m, { r: 4, alpha: 8, targetModules: ['q_proj'] })).toThrow(/already has an adapter/);
    const values = new Map([...(await ad.save())].map(([k, v]) => [k, v.map((_, i) => i / 7 - 1)]));
    ad.load(values);
    expect(await ad.save()).toEqual(values);
    const name = [...values.keys()][0]!;
    expect(() => ad.load(new Map([...values, ['base_model.model.lm_head.lora_A.weight', new Float32Array(4)]]))).toThrow(/lm_head.lora_A.weight is not in this adapter/);
    expect(() => ad.load(new Map([...values].slice(1)))).toThrow(new RegExp(`${name.replace(/\./g, '\\.')} is missing`));
    expect(() => ad.load(new Map([...values, [name, new Float32Array(3)]]))).toThrow(/has 3 values, shape \[4, 32\] needs 128/);
    ad.destroy();
    m.destroy();
  });
});
