// CPU twin of shaders/preference_loss_{forward,backward}.wgsl: the paired preference objectives
// of /work/shared/docs/preference-losses.md (TRL 1.9 semantics) over a batch of B
// (chosen, rejected) pairs, in float64. Inputs are per-sequence SUMS of completion-token
// log-probs and the completion token counts; methods that need an average divide by
// max(count, 1) themselves, so their gradient goes through that division.
//
//   cr = pc - refc, rr = pr - refr                     raw log-ratios
//   sc = f(cr), sr = f(rr)                             f-divergence scores (f = id for reverse_kl)
//   z  = β·(sc - sr)                                   TRL's β·delta_score
//   losses[i] = w_i·(Σ_t wt_t·l_t(pair i) + wt_sft·NLL) + aot terms at sorted position i
//   loss      = mean_i losses[i]
//   NLL       = -Σ_i pc[i] / Σ_i nc[i]   (mean NLL over all chosen completion tokens of the batch)
//   w_i       = the pair's WPO weight (use_weighting), else 1
//
// As in TRL, the scores replace the log-ratios in sigmoid, hinge, ipo, robust, exo_pair,
// nca_pair, bco_pair, sppo_hard, discopop, sigmoid_norm, cdpo and apo_down's second term;
// apo_zero, apo_down's first term, aot and aot_unpaired keep the raw log-ratios / log-probs,
// and simpo and orpo (reference-free) the average log-probs.
//
// A term whose weight is 0 is never evaluated (exo_pair's log ε with ε = 0 would be -inf).

import {
  ALPHA_DIVERGENCE_MAX_EXPONENT,
  ORPO_MAX_AVG_LOGP,
  PAIR_NSTATS,
  fAlphaCoef,
  fDivergenceCode,
  usesAot,
  type PairLossParams,
} from '../losses/terms.js';

export type FloatArray = Float32Array | Float64Array;

// ---- scalar helpers (float64) ----

export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

export function logSigmoid(x: number): number {
  return -softplus(-x);
}

export function sigmoid(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** σ'(x) = σ(x)·σ(-x). */
export function sigmoidGrad(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return e / ((1 + e) * (1 + e));
}

/** log(1 - exp(x)) for x < 0 (Mächler's split). */
export function log1mExp(x: number): number {
  return x > -Math.LN2 ? Math.log(-Math.expm1(x)) : Math.log1p(-Math.exp(x));
}

// ---- f-divergence scores ----

/** A log-ratio's score and its derivative by the log-ratio. */
export interface Score {
  s: number;
  ds: number;
}

/**
 * TRL's chosen_scores / rejected_scores of a log-ratio lr for `fdiv` (fDivergenceCode):
 * 0 reverse_kl lr; 1 forward_kl -exp(-lr); 2 js_divergence lsig(lr);
 * 3 alpha_divergence exp(min((α-1)·lr, 80)) / (α-1), the clamp passing no gradient.
 */
export function fScore(lr: number, fdiv: number, alpha: number): Score {
  switch (fdiv) {
    case 1: {
      const e = Math.exp(-lr);
      return { s: -e, ds: e };
    }
    case 2:
      return { s: logSigmoid(lr), ds: sigmoid(-lr) };
    case 3: {
      const a1 = alpha - 1;
      const t = a1 * lr;
      const e = Math.exp(Math.min(t, ALPHA_DIVERGENCE_MAX_EXPONENT));
      return { s: e / a1, ds: t <= ALPHA_DIVERGENCE_MAX_EXPONENT ? e : 0 };
    }
    default:
      return { s: lr, ds: 1 };
  }
}

// ---- one pair ----

/** One pair's loss (all weighted per-pair terms: not sft, aot, aot_unpaired) and its derivatives by pc and pr. */
export interface PairResult {
  loss: number;
  dpc: number;
  dpr: number;
  /** ORPO's log odds and lsig(log odds) (0 when orpo is off). */
  logOdds: number;
  logOddsRatio: number;
}

export function pairLoss(
  pc: number,
  pr: number,
  refc: number,
  refr: number,
  nc: number,
  nr: number,
  p: PairLossParams,
): PairResult {
  const w = p.weights;
  const b = p.beta;
  const cr = pc - refc;
  const rr = pr - refr;
  const fc = fScore(cr, fDivergenceCode(p), fAlphaCoef(p));
  const fr = fScore(rr, fDivergenceCode(p), fAlphaCoef(p));
  const sc = fc.s;
  const sr = fr.s;
  const z = b * (sc - sr);
  const mc = Math.max(nc, 1);
  const mr = Math.max(nr, 1);
  let loss = 0;
  // dl/dcr and dl/drr of the terms on raw log-ratios or log-probs; refs are constants, so
  // these are dl/dpc and dl/dpr.
  let gc = 0;
  let gr = 0;
  // dl/dsc and dl/dsr of the terms on scores.
  let gsc = 0;
  let gsr = 0;
  // dl/dz of the terms on z = β·(sc - sr) only: applied as ±β at the end.
  let gz = 0;
  let logOdds = 0;
  let logOddsRatio = 0;

  if (w.sigmoid) {
    loss += w.sigmoid * -logSigmoid(z);
    gz += w.sigmoid * -sigmoid(-z);
  }
  if (w.hinge) {
    loss += w.hinge * Math.max(0, 1 - z);
    gz += w.hinge * (1 - z > 0 ? -1 : 0);
  }
  if (w.ipo) {
    const e = sc / mc - sr / mr - 1 / (2 * b);
    loss += w.ipo * e * e;
    gsc += (w.ipo * 2 * e) / mc;
    gsr -= (w.ipo * 2 * e) / mr;
  }
  if (w.robust) {
    const eps = p.labelSmoothing;
    loss += (w.robust * (-(1 - eps) * logSigmoid(z) + eps * logSigmoid(-z))) / (1 - 2 * eps);
    gz += (w.robust * (-(1 - eps) * sigmoid(-z) - eps * sigmoid(z))) / (1 - 2 * eps);
  }
  if (w.exo_pair) {
    const eps = p.exoEpsilon;
    loss += w.exo_pair * (sigmoid(z) * (logSigmoid(z) - Math.log1p(-eps)) + sigmoid(-z) * (logSigmoid(-z) - Math.log(eps)));
    // d/dz: σ'(z)·(lsig(z) - lsig(-z) - log(1-ε) + log ε), and lsig(z) - lsig(-z) = z.
    gz += w.exo_pair * sigmoidGrad(z) * (z - Math.log1p(-eps) + Math.log(eps));
  }
  if (w.nca_pair) {
    const c = b * sc;
    const r = b * sr;
    loss += w.nca_pair * (-logSigmoid(c) - 0.5 * logSigmoid(-c) - 0.5 * logSigmoid(-r));
    gsc += w.nca_pair * b * (-sigmoid(-c) + 0.5 * sigmoid(c));
    gsr += w.nca_pair * b * 0.5 * sigmoid(r);
  }
  if (w.bco_pair) {
    const c = b * sc;
    const r = b * sr;
    loss += w.bco_pair * (-logSigmoid(c) - logSigmoid(-r));
    gsc += w.bco_pair * b * -sigmoid(-c);
    gsr += w.bco_pair * b * sigmoid(r);
  }
  if (w.sppo_hard) {
    const ec = sc - 0.5 / b;
    const er = sr + 0.5 / b;
    loss += w.sppo_hard * (ec * ec + er * er);
    gsc += w.sppo_hard * 2 * ec;
    gsr += w.sppo_hard * 2 * er;
  }
  if (w.apo_zero) {
    // Raw log-ratios (TRL). 1 - σ(β·cr) written as σ(-β·cr): no cancellation.
    loss += w.apo_zero * (sigmoid(-b * cr) + sigmoid(b * rr));
    gc += w.apo_zero * -b * sigmoidGrad(b * cr);
    gr += w.apo_zero * b * sigmoidGrad(b * rr);
  }
  if (w.apo_down) {
    // σ(β·cr) on the raw log-ratio, 1 - σ(z) on the scores (TRL).
    loss += w.apo_down * (sigmoid(b * cr) + sigmoid(-z));
    gc += w.apo_down * b * sigmoidGrad(b * cr);
    gz += w.apo_down * -sigmoidGrad(z);
  }
  if (w.discopop) {
    const tau = p.discopopTau;
    // exp(-z)·σ(z/τ) as exp(-z + lsig(z/τ)): exp(-z) alone overflows for z < -88 where σ(z/τ) is 0.
    const m = sigmoid(z / tau);
    const expM = Math.exp(-z + logSigmoid(z / tau));
    loss += w.discopop * (-logSigmoid(z) * sigmoid(-z / tau) + expM);
    const dm = sigmoidGrad(z / tau) / tau;
    const expDm = Math.exp(-z + logSigmoid(z / tau) + logSigmoid(-z / tau)) / tau;
    gz += w.discopop * (-sigmoid(-z) * (1 - m) + logSigmoid(z) * dm - expM + expDm);
  }
  if (w.sigmoid_norm) {
    const u = sc / mc - sr / mr;
    loss += w.sigmoid_norm * -logSigmoid(b * u);
    const g = w.sigmoid_norm * -b * sigmoid(-b * u);
    gsc += g / mc;
    gsr -= g / mr;
  }
  if (w.cdpo) {
    const eps = p.labelSmoothing;
    loss += w.cdpo * (-(1 - eps) * logSigmoid(z) - eps * logSigmoid(-z));
    gz += w.cdpo * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z));
  }
  if (w.simpo) {
    const eps = p.labelSmoothing;
    const s = b * (pc / mc - pr / mr) - p.simpoGamma;
    loss += w.simpo * (-(1 - eps) * logSigmoid(s) - eps * logSigmoid(-s));
    const g = w.simpo * b * (-(1 - eps) * sigmoid(-s) + eps * sigmoid(s));
    gc += g / mc;
    gr -= g / mr;
  }
  if (w.orpo) {
    const rawC = pc / mc;
    const rawR = pr / mr;
    const lc = Math.min(rawC, ORPO_MAX_AVG_LOGP);
    const lr = Math.min(rawR, ORPO_MAX_AVG_LOGP);
    logOdds = lc - lr - (log1mExp(lc) - log1mExp(lr));
    logOddsRatio = logSigmoid(logOdds);
    loss += w.orpo * -b * logOddsRatio;
    // d log_odds / d lc = 1 / (1 - exp(lc)) = -1 / expm1(lc).
    const g = w.orpo * -b * sigmoid(-logOdds);
    if (rawC < ORPO_MAX_AVG_LOGP) gc += (g * (-1 / Math.expm1(lc))) / mc;
    if (rawR < ORPO_MAX_AVG_LOGP) gr -= (g * (-1 / Math.expm1(lr))) / mr;
  }
  // Chain rule: z into the scores, the scores into the log-ratios.
  gsc += b * gz;
  gsr -= b * gz;
  return { loss, dpc: gc + gsc * fc.ds, dpr: gr + gsr * fr.ds, logOdds, logOddsRatio };
}

// ---- aot, aot_unpaired: sorted over the batch ----

/** -(1-ε)·lsig(β·d) - ε·lsig(-β·d) at one sorted position, and its derivative by d. */
export function aotLoss(d: number, beta: number, eps: number): { loss: number; dd: number } {
  const x = beta * d;
  return {
    loss: -(1 - eps) * logSigmoid(x) - eps * logSigmoid(-x),
    dd: beta * (-(1 - eps) * sigmoid(-x) + eps * sigmoid(x)),
  };
}

/** Ascending ranks, ties broken by index (a stable sort): rank[i] is x[i]'s sorted position. */
export function stableRanks(x: ArrayLike<number>, B: number): Int32Array {
  const order = Array.from({ length: B }, (_, i) => i).sort((i, j) => x[i]! - x[j]! || i - j);
  const rank = new Int32Array(B);
  order.forEach((i, k) => (rank[i] = k));
  return rank;
}

/**
 * The batch-sorting terms, weighted: loss[k] = the terms at sorted position k, dpc[i] / dpr[i] =
 * their derivatives by pair i's log-probs (through the sort, to the element at each position).
 *   aot:          d_k = sort(pc - pr)[k] - sort(refc - refr)[k]
 *   aot_unpaired: d_k = sort(cr)[k] - sort(rr)[k]
 */
export function aotTerms(
  policyChosen: FloatArray, // (B)
  policyRejected: FloatArray, // (B)
  refChosen: FloatArray | null, // (B)
  refRejected: FloatArray | null, // (B)
  p: PairLossParams,
  B: number,
): { loss: Float64Array; dpc: Float64Array; dpr: Float64Array } {
  const out = { loss: new Float64Array(B), dpc: new Float64Array(B), dpr: new Float64Array(B) };
  const ref = (a: FloatArray | null, i: number) => (a ? a[i]! : 0);
  for (const term of ['aot', 'aot_unpaired'] as const) {
    const w = p.weights[term];
    if (!w) continue;
    const x = new Float64Array(B);
    const y = new Float64Array(B);
    for (let i = 0; i < B; i++) {
      const cr = policyChosen[i]! - ref(refChosen, i);
      const rr = policyRejected[i]! - ref(refRejected, i);
      x[i] = term === 'aot' ? policyChosen[i]! - policyRejected[i]! : cr;
      y[i] = term === 'aot' ? ref(refChosen, i) - ref(refRejected, i) : rr;
    }
    const rx = stableRanks(x, B);
    const ry = stableRanks(y, B);
    const d = new Float64Array(B);
    for (let i = 0; i < B; i++) d[rx[i]!]! += x[i]!;
    for (let i = 0; i < B; i++) d[ry[i]!]! -= y[i]!;
    const g = new Float64Array(B);
    for (let k = 0; k < B; k++) {
      const a = aotLoss(d[k]!, p.beta, p.labelSmoothing);
      out.loss[k]! += w * a.loss;
      g[k] = w * a.dd;
    }
    for (let i = 0; i < B; i++) {
      // aot: x = pc - pr; aot_unpaired: x = cr, y = rr (the reference side has no gradient).
      out.dpc[i]! += g[rx[i]!]!;
      out.dpr[i]! -= term === 'aot' ? g[rx[i]!]! : g[ry[i]!]!;
    }
  }
  return out;
}

// ---- the batch ----

function batchSums(policyChosen: FloatArray, nChosen: FloatArray, weights: FloatArray | null, B: number) {
  let sum = 0;
  let tokens = 0;
  let wsum = 0;
  for (let i = 0; i < B; i++) {
    sum += policyChosen[i]!;
    tokens += nChosen[i]!;
    wsum += weights ? weights[i]! : 1;
  }
  tokens = Math.max(tokens, 1);
  return { nll: -sum / tokens, tokens, meanWeight: wsum / B };
}

/** The argument checks the GPU host side makes too (but the aot batch limit). */
export function checkPairInputs(
  refChosen: unknown,
  refRejected: unknown,
  weights: unknown,
  p: PairLossParams,
): void {
  if ((refChosen === null) !== (refRejected === null)) throw new Error('preference loss: give both reference arrays or neither');
  if (refChosen === null && !p.referenceFree) throw new Error('preference loss: reference log-probs are required unless referenceFree');
  if (p.useWeighting && usesAot(p)) {
    throw new Error('preference loss: use_weighting is not implemented for aot / aot_unpaired (they sort the batch; TRL raises too)');
  }
  if (p.useWeighting && weights === null) throw new Error('preference loss: use_weighting needs the per-pair weights');
  if (!p.useWeighting && weights !== null) throw new Error('preference loss: per-pair weights given but use_weighting is off');
}

export function preferenceLossForwardCpu(
  losses: FloatArray, // (B)
  stats: FloatArray, // (PAIR_NSTATS)
  policyChosen: FloatArray, // (B) Σ completion logp
  policyRejected: FloatArray, // (B)
  refChosen: FloatArray | null, // (B), null when reference-free
  refRejected: FloatArray | null, // (B)
  nChosen: FloatArray, // (B) completion token counts
  nRejected: FloatArray, // (B)
  weights: FloatArray | null, // (B) WPO weight per pair (use_weighting), else null
  p: PairLossParams,
  B: number,
): void {
  checkPairInputs(refChosen, refRejected, weights, p);
  const { nll } = batchSums(policyChosen, nChosen, weights, B);
  const aot = aotTerms(policyChosen, policyRejected, refChosen, refRejected, p, B);
  const sums = new Float64Array(PAIR_NSTATS);
  for (let i = 0; i < B; i++) {
    const pc = policyChosen[i]!;
    const pr = policyRejected[i]!;
    const refc = refChosen ? refChosen[i]! : 0;
    const refr = refRejected ? refRejected[i]! : 0;
    const nc = nChosen[i]!;
    const nr = nRejected[i]!;
    const r = pairLoss(pc, pr, refc, refr, nc, nr, p);
    // losses[i] holds the aot terms of sorted position i: only the batch mean is meaningful there.
    const l = (weights ? weights[i]! : 1) * (r.loss + p.weights.sft * nll) + aot.loss[i]!;
    losses[i] = l;
    // Rewards: β·(logp - ref logp), raw log-ratios under any f-divergence (TRL), or β·avg logp
    // for reference-free methods.
    const xc = p.referenceFree ? pc / Math.max(nc, 1) : pc - refc;
    const xr = p.referenceFree ? pr / Math.max(nr, 1) : pr - refr;
    const rc = p.beta * xc;
    const rr = p.beta * xr;
    sums[0]! += l;
    sums[1]! += rc;
    sums[2]! += rr;
    sums[3]! += rc > rr ? 1 : 0;
    sums[4]! += rc - rr;
    sums[5]! += p.referenceFree ? xc : pc;
    sums[6]! += p.referenceFree ? xr : pr;
    sums[8]! += r.logOddsRatio;
    sums[9]! += r.logOdds;
  }
  for (let s = 0; s < PAIR_NSTATS; s++) stats[s] = s === 7 ? nll : sums[s]! / B;
}

/**
 * dChosen[i] = dloss · dL/dpc[i], dRejected[i] = dloss · dL/dpr[i] with L the batch-mean loss:
 * (w_i·dl_i/dpc + aot_i)/B - wt_sft·mean(w) / Σ nc for chosen. Assigned (activation gradients).
 * The weights are constants (TRL computes them under no_grad).
 */
export function preferenceLossBackwardCpu(
  dChosen: FloatArray, // (B)
  dRejected: FloatArray, // (B)
  dloss: number,
  policyChosen: FloatArray, // (B)
  policyRejected: FloatArray, // (B)
  refChosen: FloatArray | null, // (B)
  refRejected: FloatArray | null, // (B)
  nChosen: FloatArray, // (B)
  nRejected: FloatArray, // (B)
  weights: FloatArray | null, // (B)
  p: PairLossParams,
  B: number,
): void {
  checkPairInputs(refChosen, refRejected, weights, p);
  const { tokens, meanWeight } = batchSums(policyChosen, nChosen, weights, B);
  const aot = aotTerms(policyChosen, policyRejected, refChosen, refRejected, p, B);
  for (let i = 0; i < B; i++) {
    const r = pairLoss(
      policyChosen[i]!,
      policyRejected[i]!,
      refChosen ? refChosen[i]! : 0,
      refRejected ? refRejected[i]! : 0,
      nChosen[i]!,
      nRejected[i]!,
      p,
    );
    const w = weights ? weights[i]! : 1;
    // sft: d/dpc of mean_i(w_i·NLL) = mean(w)·dNLL/dpc (TRL itself fails on sft + use_weighting:
    // it scales the expanded scalar in place; we follow the formula).
    dChosen[i] = dloss * ((w * r.dpc + aot.dpc[i]!) / B - (p.weights.sft * meanWeight) / tokens);
    dRejected[i] = dloss * ((w * r.dpr + aot.dpr[i]!) / B);
  }
}
