// Method definitions: TRL option names and defaults (TRL 1.x DPOConfig / CPOConfig / ORPOConfig /
// KTOConfig), their mapping onto the kernels' loss terms, and TRL's metric names.
import { describe, it, expect } from 'vitest';
import {
  ktoBalanceWarning,
  ktoMetrics,
  ktoParams,
  lossFamily,
  methodMetrics,
  objectiveOf,
  pairLossParams,
  PAIR_NSTATS,
  KTO_STATS,
  type MethodConfig,
} from '../../src/engine/losses/index.js';
import { PAIR_TERMS } from '../../src/engine/losses/terms.js';
import { METHOD_IDS } from '../../src/engine/methods/registry.js';

const on = (cfg: MethodConfig) => {
  const w = pairLossParams(cfg).weights;
  return Object.fromEntries(PAIR_TERMS.filter((t) => w[t] !== 0).map((t) => [t, w[t]]));
};

describe('methods: TRL names and defaults', () => {
  it('defaults are TRL 1.9 defaults (the registry\'s), with the methods\' own', () => {
    expect(objectiveOf({ method: 'dpo' })).toEqual({
      beta: 0.1, loss_type: ['sigmoid'], loss_weights: null, label_smoothing: 0, discopop_tau: 0.05, rpo_alpha: null,
      f_divergence_type: 'reverse_kl', f_alpha_divergence_coef: 0.5, use_weighting: false, ld_alpha: null,
      sync_ref_model: false, ref_model_mixup_alpha: 0.6, ref_model_sync_steps: 512,
    });
    expect(objectiveOf({ method: 'orpo' })).toEqual({ beta: 0.1 });
    expect(objectiveOf({ method: 'simpo' })).toEqual({ beta: 0.1, simpo_gamma: 0.5, cpo_alpha: 0, label_smoothing: 0 });
    expect(objectiveOf({ method: 'cpo_simpo' })).toEqual({ beta: 0.1, simpo_gamma: 0.5, cpo_alpha: 1, label_smoothing: 0 });
    expect(objectiveOf({ method: 'kto' })).toEqual({ beta: 0.1, desirable_weight: 1, undesirable_weight: 1 });
    expect(objectiveOf({ method: 'cdpo' })).toMatchObject({ loss_type: ['cdpo'], label_smoothing: 0.1 });
    expect(objectiveOf({ method: 'ipo' })).toMatchObject({ loss_type: ['ipo'] });
    expect(objectiveOf({ method: 'rpo' })).toMatchObject({ loss_type: ['sigmoid'], rpo_alpha: 1 });
    expect(objectiveOf({ method: 'sft' })).toEqual({ loss_type: ['sft'] });
    expect(objectiveOf({ method: 'dpo', options: { loss_type: 'aot_pair' } }).loss_type).toEqual(['aot_unpaired']);
  });

  it('each method maps onto its loss terms', () => {
    expect(on({ method: 'dpo' })).toEqual({ sigmoid: 1 });
    expect(on({ method: 'step_dpo' })).toEqual({ sigmoid: 1 });
    expect(on({ method: 'cdpo', options: { label_smoothing: 0.1 } })).toEqual({ cdpo: 1 });
    expect(on({ method: 'ipo' })).toEqual({ ipo: 1 });
    expect(on({ method: 'sft' })).toEqual({ sft: 1 });
    expect(on({ method: 'rpo' })).toEqual({ sigmoid: 1, sft: 1 });
    expect(on({ method: 'rpo', options: { rpo_alpha: 0.3 } })).toEqual({ sigmoid: 1, sft: 0.3 });
    expect(on({ method: 'dpo', options: { loss_type: ['sigmoid', 'sft'], loss_weights: [1, 0.5] } })).toEqual({ sigmoid: 1, sft: 0.5 });
    expect(on({ method: 'dpo', options: { loss_type: 'ipo', rpo_alpha: 0.2 } })).toEqual({ ipo: 1, sft: 0.2 });
    expect(on({ method: 'orpo' })).toEqual({ orpo: 1, sft: 1 });
    expect(on({ method: 'simpo' })).toEqual({ simpo: 1 });
    expect(on({ method: 'cpo_simpo' })).toEqual({ simpo: 1, sft: 1 });
    expect(pairLossParams({ method: 'orpo' }).referenceFree).toBe(true);
    expect(pairLossParams({ method: 'dpo' }).referenceFree).toBe(false);
    expect(Object.fromEntries(METHOD_IDS.map((m) => [m, lossFamily(m)]))).toEqual({
      dpo: 'pair', ipo: 'pair', cdpo: 'pair', rpo: 'pair', step_dpo: 'pair', orpo: 'pair', simpo: 'pair', cpo_simpo: 'pair', kto: 'kto', listwise: 'listwise', sft: 'pair',
    });
  });

  it('exo_pair takes epsilon 1e-3 when label_smoothing is 0', () => {
    expect(pairLossParams({ method: 'dpo', options: { loss_type: 'exo_pair' } }).exoEpsilon).toBe(1e-3);
    expect(pairLossParams({ method: 'dpo', options: { loss_type: 'exo_pair', label_smoothing: 0.05 } }).exoEpsilon).toBe(0.05);
  });

  it('rejects bad options', () => {
    expect(() => pairLossParams({ method: 'dpo', options: { beta: 0 } })).toThrow(/beta/);
    expect(() => pairLossParams({ method: 'dpo', options: { loss_type: ['sigmoid', 'ipo'], loss_weights: [1] } })).toThrow(/loss_weights/);
    expect(() => pairLossParams({ method: 'dpo', options: { loss_type: 'robust', label_smoothing: 0.5 } })).toThrow(/robust/);
    expect(() => pairLossParams({ method: 'dpo', options: { loss_type: 'nope' } })).toThrow(/unknown/);
    expect(() => pairLossParams({ method: 'step_dpo', options: { loss_type: 'ipo' } })).toThrow(/loss_type is \["sigmoid"\] for step_dpo/);
    expect(() => pairLossParams({ method: 'orpo', options: { simpo_gamma: 1 } })).toThrow(/simpo_gamma does not apply to orpo/);
    expect(() => pairLossParams({ method: 'dpo', options: { loss_type: 'aot', use_weighting: true } })).toThrow(/use_weighting/);
    expect(() => pairLossParams({ method: 'kto' })).toThrow(/not a paired/);
  });

  it("KTO: TRL's balance check", () => {
    expect(ktoParams({ method: 'kto', options: { desirable_weight: 2 } })).toEqual({ beta: 0.1, desirableWeight: 2, undesirableWeight: 1 });
    expect(ktoBalanceWarning({ method: 'kto' }, 100, 90)).toBeNull();
    expect(ktoBalanceWarning({ method: 'kto' }, 100, 50)).toMatch(/outside \[1, 4\/3\]/);
    expect(ktoBalanceWarning({ method: 'kto', options: { undesirable_weight: 2 } }, 100, 50)).toBeNull();
  });
});

describe("metrics: TRL's names per trainer", () => {
  const stats = Float64Array.from({ length: PAIR_NSTATS }, (_, i) => i + 0.5);
  const logits = { chosen: -1.5, rejected: -2.5 };
  const DPO = ['loss', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected', 'logits/chosen', 'logits/rejected'];

  it('DPO family, ORPO, SimPO', () => {
    const dpo = methodMetrics({ method: 'dpo' }, stats, logits);
    expect(Object.keys(dpo).sort()).toEqual([...DPO].sort());
    expect(dpo['rewards/margins']).toBe(4.5);
    expect(dpo['logits/rejected']).toBe(-2.5);
    const orpo = methodMetrics({ method: 'orpo' }, stats, logits);
    expect(Object.keys(orpo).sort()).toEqual([...DPO, 'nll_loss', 'log_odds_ratio', 'log_odds_chosen'].sort());
    expect([orpo['nll_loss'], orpo['log_odds_ratio'], orpo['log_odds_chosen']]).toEqual([7.5, 8.5, 9.5]);
    // TRL's CPO trainer logs nll_loss 0 when cpo_alpha is 0 (it never computes it).
    expect(methodMetrics({ method: 'simpo' }, stats)['nll_loss']).toBe(0);
    expect(methodMetrics({ method: 'cpo_simpo' }, stats)['nll_loss']).toBe(7.5);
    expect(Object.keys(methodMetrics({ method: 'dpo' }, stats))).not.toContain('logits/chosen');
  });

  it('KTO: means from sums and counts, margins only with both classes', () => {
    const s = (v: Record<string, number>) => Float64Array.from(KTO_STATS, (k) => v[k] ?? 0);
    const both = ktoMetrics(s({
      loss: 0.4, kl: 0.2, 'rewards/chosen_sum': 3, 'rewards/rejected_sum': -2, 'logps/chosen_sum': -30,
      'logps/rejected_sum': -50, 'count/chosen': 3, 'count/rejected': 2,
    }), logits);
    expect(both).toEqual({
      loss: 0.4, kl: 0.2, 'rewards/chosen': 1, 'rewards/rejected': -1, 'rewards/margins': 2,
      'logps/chosen': -10, 'logps/rejected': -25, 'logits/chosen': -1.5, 'logits/rejected': -2.5,
    });
    const onlyD = ktoMetrics(s({ loss: 0.4, kl: 0, 'rewards/chosen_sum': 3, 'logps/chosen_sum': -30, 'count/chosen': 3 }));
    expect(Object.keys(onlyD).sort()).toEqual(['kl', 'logps/chosen', 'loss', 'rewards/chosen']);
  });
});
