// Random preference batches for the loss tests: per-sequence log-prob sums shaped like real ones.
import { rng } from '../support/numeric.js';
import { pairWeights, type PairLossParams, type PairLossWeights } from '../../src/engine/losses/terms.js';

export interface PairBatch {
  B: number;
  pc: Float32Array; // (B) policy Σ logp, chosen
  pr: Float32Array; // (B) rejected
  refc: Float32Array; // (B) reference
  refr: Float32Array; // (B)
  nc: Float32Array; // (B) completion token counts
  nr: Float32Array; // (B)
  w: Float32Array; // (B) WPO weights, passed when the params set useWeighting
}

export interface PairBatchOptions {
  /** Scales the reference offsets, so the log-ratios (default up to about ±20). */
  spread?: number;
  /** Exact duplicates for the batch-sorting terms (B >= 7): pair 5 = pair 0; pair 6 has pair 1's policy log-probs (aot's pc - pr ties), references 0.5 higher. */
  ties?: boolean;
}

/**
 * Counts 1..48 (pair 3 of a batch of 7+ has an empty chosen completion: count 0, logp 0, which
 * the averaged methods must take as count 1); per-token logp averages in [-3, -0.05]; reference
 * sums within ±(0.3 + 0.1·n)·(u - 0.5)·8·spread of the policy, so β·Δ spans the sigmoid's flat
 * and steep parts for β from 0.1 to 1; WPO weights in [0.02, 1].
 */
export function pairBatch(B: number, seed: number, { spread = 1, ties = false }: PairBatchOptions = {}): PairBatch {
  const r = rng(seed);
  const b: PairBatch = {
    B,
    pc: new Float32Array(B),
    pr: new Float32Array(B),
    refc: new Float32Array(B),
    refr: new Float32Array(B),
    nc: new Float32Array(B),
    nr: new Float32Array(B),
    w: new Float32Array(B),
  };
  for (let i = 0; i < B; i++) {
    const nc = 1 + Math.floor(r() * 48);
    const nr = 1 + Math.floor(r() * 48);
    b.nc[i] = nc;
    b.nr[i] = nr;
    b.pc[i] = -nc * (0.05 + 2.95 * r());
    b.pr[i] = -nr * (0.05 + 2.95 * r());
    b.refc[i] = b.pc[i]! + (0.3 + 0.1 * nc) * (r() - 0.5) * 8 * spread;
    b.refr[i] = b.pr[i]! + (0.3 + 0.1 * nr) * (r() - 0.5) * 8 * spread;
    b.w[i] = 0.02 + 0.98 * r();
  }
  if (B >= 7) {
    b.nc[3] = 0;
    b.pc[3] = 0;
  }
  if (ties && B >= 7) {
    for (const k of ['pc', 'pr', 'refc', 'refr', 'nc', 'nr'] as const) b[k][5] = b[k][0]!;
    for (const k of ['pc', 'pr', 'nc', 'nr'] as const) b[k][6] = b[k][1]!;
    b.refc[6] = b.refc[1]! + 0.5;
    b.refr[6] = b.refr[1]! + 0.5;
  }
  return b;
}

export function pairParams(on: Partial<PairLossWeights>, extra: Partial<Omit<PairLossParams, 'weights'>> = {}): PairLossParams {
  return {
    weights: pairWeights(on),
    beta: 0.1,
    labelSmoothing: 0,
    exoEpsilon: 1e-3,
    discopopTau: 0.05,
    simpoGamma: 0.5,
    referenceFree: false,
    ...extra,
  };
}

/** How a configuration is tested beyond the defaults. */
export interface PairCase {
  /** pairBatch's spread: smaller log-ratios for the f-divergences whose scores grow as exp(|lr|). */
  spread?: number;
  /** forward_kl's -exp(-lr) overflows at the extreme margins (as in TRL); skip those checks. */
  noExtremes?: boolean;
}

const SCORE_TERMS = {
  sigmoid: 1, hinge: 0.5, ipo: 0.2, robust: 0.3, exo_pair: 0.4, nca_pair: 0.6, bco_pair: 0.7, sppo_hard: 0.1,
  apo_zero: 0.8, apo_down: 0.9, discopop: 0.35, sigmoid_norm: 0.45, cdpo: 0.55,
} satisfies Partial<PairLossWeights>;
const SMALL: PairCase = { spread: 0.25 };

/** One configuration per loss family member, plus combinations (names for test titles). */
export const PAIR_METHODS: [string, PairLossParams, PairCase?][] = [
  ['sigmoid', pairParams({ sigmoid: 1 })],
  ['sigmoid beta 1', pairParams({ sigmoid: 1 }, { beta: 1 })],
  ['hinge', pairParams({ hinge: 1 }, { beta: 0.5 })],
  ['ipo', pairParams({ ipo: 1 }, { beta: 0.5 })],
  ['robust', pairParams({ robust: 1 }, { labelSmoothing: 0.2 })],
  ['exo_pair', pairParams({ exo_pair: 1 }, { beta: 0.3, exoEpsilon: 1e-3 })],
  ['nca_pair', pairParams({ nca_pair: 1 }, { beta: 0.3 })],
  ['bco_pair', pairParams({ bco_pair: 1 }, { beta: 0.3 })],
  ['sppo_hard', pairParams({ sppo_hard: 1 }, { beta: 0.5 })],
  ['apo_zero', pairParams({ apo_zero: 1 }, { beta: 0.3 })],
  ['apo_down', pairParams({ apo_down: 1 }, { beta: 0.3 })],
  ['discopop', pairParams({ discopop: 1 }, { beta: 0.3 })],
  ['sigmoid_norm', pairParams({ sigmoid_norm: 1 }, { beta: 2 })],
  ['sft', pairParams({ sft: 1 })],
  ['cdpo', pairParams({ cdpo: 1 }, { labelSmoothing: 0.1 })],
  ['rpo (sigmoid + 0.5 sft)', pairParams({ sigmoid: 1, sft: 0.5 })],
  ['sigmoid + ipo + sft', pairParams({ sigmoid: 0.6, ipo: 0.3, sft: 0.1 }, { beta: 0.2 })],
  ['orpo', pairParams({ orpo: 1, sft: 1 }, { referenceFree: true })],
  ['simpo (paper beta 2)', pairParams({ simpo: 1 }, { beta: 2, simpoGamma: 0.5, referenceFree: true })],
  ['cpo-simpo', pairParams({ simpo: 1, sft: 1 }, { beta: 0.1, labelSmoothing: 0.1, referenceFree: true })],
  // Sorted over the batch.
  ['aot', pairParams({ aot: 1 }, { beta: 0.3 })],
  ['aot label smoothing', pairParams({ aot: 1 }, { labelSmoothing: 0.1 })],
  ['aot_unpaired', pairParams({ aot_unpaired: 1 }, { beta: 0.3, labelSmoothing: 0.05 })],
  ['sigmoid + aot + aot_unpaired', pairParams({ sigmoid: 0.5, aot: 0.3, aot_unpaired: 0.2 }, { beta: 0.2 })],
  // f-divergences: sigmoid under each, then every score term under each.
  ['sigmoid forward_kl', pairParams({ sigmoid: 1 }, { fDivergence: 'forward_kl' }), { ...SMALL, noExtremes: true }],
  ['sigmoid js_divergence', pairParams({ sigmoid: 1 }, { beta: 0.5, fDivergence: 'js_divergence' })],
  ['sigmoid alpha 0.5', pairParams({ sigmoid: 1 }, { fDivergence: 'alpha_divergence' }), SMALL],
  ['sigmoid alpha 1.5', pairParams({ sigmoid: 1 }, { fDivergence: 'alpha_divergence', fAlphaCoef: 1.5 }), SMALL],
  ['score terms forward_kl', pairParams(SCORE_TERMS, { beta: 0.3, labelSmoothing: 0.1, fDivergence: 'forward_kl' }), { ...SMALL, noExtremes: true }],
  ['score terms js_divergence', pairParams(SCORE_TERMS, { beta: 0.3, labelSmoothing: 0.1, fDivergence: 'js_divergence' })],
  // The alpha scores are clamped at exp(80)/|α-1|, whose squares (ipo, sppo_hard) overflow f32.
  ['score terms alpha 0.5', pairParams(SCORE_TERMS, { beta: 0.3, labelSmoothing: 0.1, fDivergence: 'alpha_divergence' }), { ...SMALL, noExtremes: true }],
  ['score terms alpha 1.5', pairParams(SCORE_TERMS, { beta: 0.3, labelSmoothing: 0.1, fDivergence: 'alpha_divergence', fAlphaCoef: 1.5 }), { ...SMALL, noExtremes: true }],
  // WPO weighting.
  ['sigmoid weighted', pairParams({ sigmoid: 1 }, { useWeighting: true })],
  ['ipo weighted', pairParams({ ipo: 1 }, { beta: 0.5, useWeighting: true })],
  ['rpo weighted (sigmoid + 0.5 sft)', pairParams({ sigmoid: 1, sft: 0.5 }, { useWeighting: true })],
  ['sft weighted', pairParams({ sft: 1 }, { useWeighting: true })],
  ['sigmoid js weighted', pairParams({ sigmoid: 1 }, { fDivergence: 'js_divergence', useWeighting: true })],
];
