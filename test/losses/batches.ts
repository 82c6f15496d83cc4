// Random preference batches for the loss tests: per-sequence log-prob sums shaped like real ones.
import { rng } from '../support/numeric.js';
import { pairWeights, type PairLossParams, type PairLossWeights } from '../../src/engine/cpu/preference-loss.js';

export interface PairBatch {
  B: number;
  pc: Float32Array; // (B) policy Σ logp, chosen
  pr: Float32Array; // (B) rejected
  refc: Float32Array; // (B) reference
  refr: Float32Array; // (B)
  nc: Float32Array; // (B) completion token counts
  nr: Float32Array; // (B)
}

/**
 * Counts 1..48 (pair 3 of a batch of 7+ has an empty chosen completion: count 0, logp 0, which
 * the averaged methods must take as count 1); per-token logp averages in [-3, -0.05]; reference
 * sums within ±(0.3 + 0.1·n)·(u - 0.5)·8 of the policy, so β·Δ spans the sigmoid's flat and
 * steep parts for β from 0.1 to 1.
 */
export function pairBatch(B: number, seed: number): PairBatch {
  const r = rng(seed);
  const b: PairBatch = {
    B,
    pc: new Float32Array(B),
    pr: new Float32Array(B),
    refc: new Float32Array(B),
    refr: new Float32Array(B),
    nc: new Float32Array(B),
    nr: new Float32Array(B),
  };
  for (let i = 0; i < B; i++) {
    const nc = 1 + Math.floor(r() * 48);
    const nr = 1 + Math.floor(r() * 48);
    b.nc[i] = nc;
    b.nr[i] = nr;
    b.pc[i] = -nc * (0.05 + 2.95 * r());
    b.pr[i] = -nr * (0.05 + 2.95 * r());
    b.refc[i] = b.pc[i]! + (0.3 + 0.1 * nc) * (r() - 0.5) * 8;
    b.refr[i] = b.pr[i]! + (0.3 + 0.1 * nr) * (r() - 0.5) * 8;
  }
  if (B >= 7) {
    b.nc[3] = 0;
    b.pc[3] = 0;
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

/** One configuration per loss family member, plus combinations (names for test titles). */
export const PAIR_METHODS: [string, PairLossParams][] = [
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
];
