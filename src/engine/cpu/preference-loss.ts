// CPU twin of shaders/preference_loss_{forward,backward}.wgsl: the paired preference objectives
// of /work/shared/docs/preference-losses.md (TRL 1.x semantics) over a batch of B
// (chosen, rejected) pairs, in float64. Inputs are per-sequence SUMS of completion-token
// log-probs and the completion token counts; methods that need an average divide by
// max(count, 1) themselves, so their gradient goes through that division.
//
//   cr = pc - refc, rr = pr - refr, Δ = cr - rr, z = β·Δ, lsig = log σ
//   losses[i] = Σ_t w_t · l_t(pair i) + w_sft · NLL       (NLL: one batch scalar, as TRL expands it)
//   loss      = mean_i losses[i]
//   NLL       = -Σ_i pc[i] / Σ_i nc[i]   (mean NLL over all chosen completion tokens of the batch)
//
// A term whose weight is 0 is never evaluated (exo_pair's log ε with ε = 0 would be -inf).

export type FloatArray = Float32Array | Float64Array;

/** The loss terms a pair loss can combine (TRL `loss_type` names, plus cdpo, simpo, orpo). */
export const PAIR_TERMS = [
  'sigmoid',
  'hinge',
  'ipo',
  'robust',
  'exo_pair',
  'nca_pair',
  'bco_pair',
  'sppo_hard',
  'apo_zero',
  'apo_down',
  'discopop',
  'sigmoid_norm',
  'cdpo',
  'simpo',
  'orpo',
  'sft',
] as const;
export type PairTerm = (typeof PAIR_TERMS)[number];
export type PairLossWeights = Record<PairTerm, number>;

/** Every term off; set the ones a method uses. */
export function pairWeights(on: Partial<PairLossWeights> = {}): PairLossWeights {
  const w = Object.fromEntries(PAIR_TERMS.map((t) => [t, 0])) as PairLossWeights;
  return Object.assign(w, on);
}

export interface PairLossParams {
  /** Weight of each term in the per-pair loss; 0 switches a term off. */
  weights: PairLossWeights;
  /** β (`beta`); for ORPO it is λ, the weight of the odds-ratio term. */
  beta: number;
  /** ε (`label_smoothing`) of robust, cdpo and simpo; robust needs 0 <= ε < 0.5. */
  labelSmoothing: number;
  /** ε of exo_pair, > 0 (TRL's label_smoothing, 1e-3 when that is 0). */
  exoEpsilon: number;
  /** τ of discopop (`discopop_tau`). */
  discopopTau: number;
  /** γ of simpo (`simpo_gamma`). */
  simpoGamma: number;
  /**
   * Reference-free (ORPO, SimPO): no reference log-probs (taken as 0), and the rewards and
   * logps metrics are β·avg logp and avg logp, as TRL's ORPO and CPO trainers report them.
   */
  referenceFree: boolean;
}

/** Slots of the `stats` output (the WGSL writes the same order). */
export const PAIR_STATS = [
  'loss',
  'rewards/chosen',
  'rewards/rejected',
  'rewards/accuracies',
  'rewards/margins',
  'logps/chosen',
  'logps/rejected',
  'nll_loss',
  'log_odds_ratio',
  'log_odds_chosen',
] as const;
export const PAIR_NSTATS = PAIR_STATS.length;

/**
 * ORPO's odds need log(1 - p) with p = exp(avg logp): an average of exactly 0 (every token at
 * probability 1, which f32 log-softmax can return) would give log 0. ORPO clamps the average to
 * at most this (TRL has no clamp and returns inf/NaN there); the clamp passes no gradient.
 */
export const ORPO_MAX_AVG_LOGP = -1e-6;

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

/** One pair's loss (all weighted terms but sft) and its derivatives by pc and pr. */
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
  const z = b * (cr - rr);
  const mc = Math.max(nc, 1);
  const mr = Math.max(nr, 1);
  let loss = 0;
  // dl/dcr and dl/drr; refs are constants, so these are dl/dpc and dl/dpr.
  let gc = 0;
  let gr = 0;
  // Terms that depend on Δ only: accumulate dl/dz, applied as ±β at the end.
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
    const u = cr / mc - rr / mr;
    const e = u - 1 / (2 * b);
    loss += w.ipo * e * e;
    gc += (w.ipo * 2 * e) / mc;
    gr -= (w.ipo * 2 * e) / mr;
  }
  if (w.robust) {
    const eps = p.labelSmoothing;
    loss += (w.robust * (-(1 - eps) * logSigmoid(z) + eps * logSigmoid(-z))) / (1 - 2 * eps);
    gz += (w.robust * (-(1 - eps) * sigmoid(-z) - eps * sigmoid(z))) / (1 - 2 * eps);
  }
  if (w.exo_pair) {
    const eps = p.exoEpsilon;
    const qw = sigmoid(z);
    const ql = sigmoid(-z);
    loss += w.exo_pair * (qw * (logSigmoid(z) - Math.log1p(-eps)) + ql * (logSigmoid(-z) - Math.log(eps)));
    // d/dz: σ'(z)·(lsig(z) - lsig(-z) - log(1-ε) + log ε), and lsig(z) - lsig(-z) = z.
    gz += w.exo_pair * sigmoidGrad(z) * (z - Math.log1p(-eps) + Math.log(eps));
  }
  if (w.nca_pair) {
    const c = b * cr;
    const r = b * rr;
    loss += w.nca_pair * (-logSigmoid(c) - 0.5 * logSigmoid(-c) - 0.5 * logSigmoid(-r));
    gc += w.nca_pair * b * (-sigmoid(-c) + 0.5 * sigmoid(c));
    gr += w.nca_pair * b * 0.5 * sigmoid(r);
  }
  if (w.bco_pair) {
    const c = b * cr;
    const r = b * rr;
    loss += w.bco_pair * (-logSigmoid(c) - logSigmoid(-r));
    gc += w.bco_pair * b * -sigmoid(-c);
    gr += w.bco_pair * b * sigmoid(r);
  }
  if (w.sppo_hard) {
    const ec = cr - 0.5 / b;
    const er = rr + 0.5 / b;
    loss += w.sppo_hard * (ec * ec + er * er);
    gc += w.sppo_hard * 2 * ec;
    gr += w.sppo_hard * 2 * er;
  }
  if (w.apo_zero) {
    // 1 - σ(β·cr) written as σ(-β·cr): no cancellation.
    loss += w.apo_zero * (sigmoid(-b * cr) + sigmoid(b * rr));
    gc += w.apo_zero * -b * sigmoidGrad(b * cr);
    gr += w.apo_zero * b * sigmoidGrad(b * rr);
  }
  if (w.apo_down) {
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
    const u = cr / mc - rr / mr;
    loss += w.sigmoid_norm * -logSigmoid(b * u);
    const g = w.sigmoid_norm * -b * sigmoid(-b * u);
    gc += g / mc;
    gr -= g / mr;
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
  gc += b * gz;
  gr -= b * gz;
  return { loss, dpc: gc, dpr: gr, logOdds, logOddsRatio };
}

function batchNll(policyChosen: FloatArray, nChosen: FloatArray, B: number): { nll: number; tokens: number } {
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < B; i++) {
    sum += policyChosen[i]!;
    tokens += nChosen[i]!;
  }
  tokens = Math.max(tokens, 1);
  return { nll: -sum / tokens, tokens };
}

function checkRefs(refChosen: FloatArray | null, refRejected: FloatArray | null, p: PairLossParams): void {
  if ((refChosen === null) !== (refRejected === null)) throw new Error('preference loss: give both reference arrays or neither');
  if (!refChosen && !p.referenceFree) throw new Error('preference loss: reference log-probs are required unless referenceFree');
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
  p: PairLossParams,
  B: number,
): void {
  checkRefs(refChosen, refRejected, p);
  const { nll } = batchNll(policyChosen, nChosen, B);
  const sums = new Float64Array(PAIR_NSTATS);
  for (let i = 0; i < B; i++) {
    const pc = policyChosen[i]!;
    const pr = policyRejected[i]!;
    const refc = refChosen ? refChosen[i]! : 0;
    const refr = refRejected ? refRejected[i]! : 0;
    const nc = nChosen[i]!;
    const nr = nRejected[i]!;
    const r = pairLoss(pc, pr, refc, refr, nc, nr, p);
    const l = r.loss + p.weights.sft * nll;
    losses[i] = l;
    // Rewards: β·(logp - ref logp), or β·avg logp for reference-free methods.
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
 * (1/B)·dl_i/dpc - w_sft / Σ nc for chosen. Assigned (activation gradients).
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
  p: PairLossParams,
  B: number,
): void {
  checkRefs(refChosen, refRejected, p);
  const { tokens } = batchNll(policyChosen, nChosen, B);
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
    dChosen[i] = dloss * (r.dpc / B - p.weights.sft / tokens);
    dRejected[i] = dloss * (r.dpr / B);
  }
}
