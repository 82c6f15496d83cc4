// TRL's logged metrics, by TRL's names, from the `stats` a loss kernel writes (read back only
// when logging). Which names a method logs follows its TRL trainer:
//   DPO family:  loss, rewards/{chosen,rejected,accuracies,margins}, logps/{chosen,rejected},
//                logits/{chosen,rejected}
//   ORPO:        the same + nll_loss, log_odds_ratio, log_odds_chosen
//   SimPO / CPO: the same + nll_loss (0 when cpo_alpha is 0: TRL skips computing it)
//   KTO:         loss, kl, rewards/{chosen,rejected,margins}, logps/{chosen,rejected},
//                logits/{chosen,rejected}; a class absent from the batch logs nothing (TRL)
//   listwise:    the DPO names, top-ranked response as chosen, bottom-ranked as rejected
// Reference-free methods (ORPO, SimPO) report rewards = β·avg logp and logps = avg logp, as
// TRL's ORPO and CPO trainers do. logits/chosen and logits/rejected are the caller's: TRL's
// mean logit over completion tokens and vocabulary (Σ logitSum / (tokens · V) from the
// logprobs kernel), passed through here. grad_norm, learning_rate and num_tokens belong to the
// training loop.

import { DPO_METRICS, PAIR_STATS } from './terms.js';
import { KTO_STATS, LISTWISE_STATS } from './terms.js';
import { METHODS } from '../methods/registry.js';
import { lossFamily, objectiveOf, type MethodConfig } from './methods.js';

export interface MeanLogits {
  chosen: number;
  rejected: number;
}

export type Metrics = Record<string, number>;


function withLogits(m: Metrics, logits?: MeanLogits): Metrics {
  if (logits) {
    m['logits/chosen'] = logits.chosen;
    m['logits/rejected'] = logits.rejected;
  }
  return m;
}

function slot<T extends readonly string[]>(names: T, stats: ArrayLike<number>, name: T[number]): number {
  return stats[names.indexOf(name)]!;
}

/** Metrics of a paired method from its PAIR_STATS. */
export function pairMetrics(cfg: MethodConfig, stats: ArrayLike<number>, logits?: MeanLogits): Metrics {
  if (lossFamily(cfg.method) !== 'pair') throw new Error(`${cfg.method} is not a paired method`);
  const m: Metrics = {};
  for (const k of DPO_METRICS) m[k] = slot(PAIR_STATS, stats, k);
  withLogits(m, logits);
  const loss = METHODS[cfg.method].loss;
  if (loss === 'orpo') {
    m['nll_loss'] = slot(PAIR_STATS, stats, 'nll_loss');
    m['log_odds_ratio'] = slot(PAIR_STATS, stats, 'log_odds_ratio');
    m['log_odds_chosen'] = slot(PAIR_STATS, stats, 'log_odds_chosen');
  } else if (loss === 'simpo') {
    m['nll_loss'] = objectiveOf(cfg).cpo_alpha === 0 ? 0 : slot(PAIR_STATS, stats, 'nll_loss');
  }
  return m;
}

/** Metrics of KTO from its KTO_STATS (TRL's sums / counts). */
export function ktoMetrics(stats: ArrayLike<number>, logits?: Partial<MeanLogits>): Metrics {
  const s = (k: (typeof KTO_STATS)[number]) => slot(KTO_STATS, stats, k);
  const m: Metrics = { loss: s('loss'), kl: s('kl') };
  const nD = s('count/chosen');
  const nU = s('count/rejected');
  if (nD > 0) {
    m['rewards/chosen'] = s('rewards/chosen_sum') / nD;
    m['logps/chosen'] = s('logps/chosen_sum') / nD;
    if (logits?.chosen !== undefined) m['logits/chosen'] = logits.chosen;
  }
  if (nU > 0) {
    m['rewards/rejected'] = s('rewards/rejected_sum') / nU;
    m['logps/rejected'] = s('logps/rejected_sum') / nU;
    if (logits?.rejected !== undefined) m['logits/rejected'] = logits.rejected;
  }
  if (nD > 0 && nU > 0) m['rewards/margins'] = m['rewards/chosen']! - m['rewards/rejected']!;
  return m;
}

/** Metrics of the listwise loss from its LISTWISE_STATS. */
export function listwiseMetrics(stats: ArrayLike<number>, logits?: MeanLogits): Metrics {
  const m: Metrics = {};
  for (const k of LISTWISE_STATS) m[k] = slot(LISTWISE_STATS, stats, k);
  return withLogits(m, logits);
}

/** Metrics of any method from its kernel's stats. */
export function methodMetrics(cfg: MethodConfig, stats: ArrayLike<number>, logits?: MeanLogits): Metrics {
  switch (lossFamily(cfg.method)) {
    case 'pair':
      return pairMetrics(cfg, stats, logits);
    case 'kto':
      return ktoMetrics(stats, logits);
    case 'listwise':
      return listwiseMetrics(stats, logits);
  }
}
