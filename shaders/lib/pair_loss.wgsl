// One pair's preference loss and its derivatives, for preference_loss_forward.wgsl (which keeps
// the loss) and preference_loss_backward.wgsl (which keeps the derivatives): each term is
// written once, here. CPU twin: pairLoss, fScore and aotLoss in src/engine/cpu/preference-loss.ts.
// Reads the kernel's `params` (struct Params of lib/pair_loss_params.wgsl).
//
//   cr = pc - refc, rr = pr - refr        raw log-ratios
//   sc = f(cr), sr = f(rr)                f-divergence scores (params.fdiv; f = id for reverse_kl)
//   z  = β·(sc - sr)                      TRL's β·delta_score
// The scores replace the log-ratios in the Δ-based terms, as in TRL 1.9; apo_zero, apo_down's
// first term (and aot, lib/pair_loss_batch.wgsl) keep the raw log-ratios, simpo and orpo the
// average log-probs. Terms accumulate dl/dz, dl/dscore or dl/dlogratio; the chain rule is
// applied once at the end. A term whose weight is 0 is skipped (exo_pair's log ε with ε = 0
// would be -inf).

#include "lib/logistic_math.wgsl"

// Keep in step with ORPO_MAX_AVG_LOGP in src/engine/losses/terms.ts.
const ORPO_MAX_AVG_LOGP: f32 = -1e-6;
// Keep in step with ALPHA_DIVERGENCE_MAX_EXPONENT (TRL's float32 clamp).
const ALPHA_MAX_EXPONENT: f32 = 80.0;

// One pair's inputs; refs are 0 for reference-free methods, w is 1 without use_weighting.
struct PairIn {
  pc: f32,    // Σ completion logp, policy, chosen
  pr: f32,    // rejected
  refc: f32,  // reference
  refr: f32,
  nc: f32,    // completion token counts
  nr: f32,
  w: f32,     // WPO weight
}

struct Score {
  s: f32,   // the score of a log-ratio
  ds: f32,  // its derivative by the log-ratio
}

fn f_score(lr: f32) -> Score {
  switch params.fdiv {
    case 1u: {  // forward_kl: -exp(-lr)
      let e = exp(-lr);
      return Score(-e, e);
    }
    case 2u: {  // js_divergence: lsig(lr)
      return Score(log_sigmoid(lr), sigmoid(-lr));
    }
    case 3u: {  // alpha_divergence: exp(min((α-1)·lr, 80)) / (α-1); the clamp passes no gradient
      let a1 = params.fAlpha - 1.0;
      let t = a1 * lr;
      let e = exp(min(t, ALPHA_MAX_EXPONENT));
      return Score(e / a1, select(0.0, e, t <= ALPHA_MAX_EXPONENT));
    }
    default: {  // reverse_kl: lr
      return Score(lr, 1.0);
    }
  }
}

struct PairLoss {
  loss: f32,          // Σ over the per-pair terms (not sft, aot, aot_unpaired), unweighted by w
  dpc: f32,           // d loss / d pc
  dpr: f32,           // d loss / d pr
  logOdds: f32,       // ORPO's log odds (0 when orpo is off)
  logOddsRatio: f32,  // lsig(log odds)
}

fn pair_loss(x: PairIn) -> PairLoss {
  let b = params.beta;
  let cr = x.pc - x.refc;
  let rr = x.pr - x.refr;
  let fc = f_score(cr);
  let fr = f_score(rr);
  let sc = fc.s;
  let sr = fr.s;
  let z = b * (sc - sr);
  let mc = max(x.nc, 1.0);
  let mr = max(x.nr, 1.0);
  var out = PairLoss(0.0, 0.0, 0.0, 0.0, 0.0);
  var l = 0.0;
  var gc = 0.0;   // dl/dcr = dl/dpc of the terms on raw log-ratios or log-probs
  var gr = 0.0;
  var gsc = 0.0;  // dl/dsc of the terms on scores
  var gsr = 0.0;
  var gz = 0.0;   // dl/dz of the terms on z only
  if (params.w_sigmoid != 0.0) {
    let w = params.w_sigmoid;
    l += w * -log_sigmoid(z);
    gz += w * -sigmoid(-z);
  }
  if (params.w_hinge != 0.0) {
    let w = params.w_hinge;
    l += w * max(0.0, 1.0 - z);
    gz += w * select(0.0, -1.0, 1.0 - z > 0.0);
  }
  if (params.w_ipo != 0.0) {
    let w = params.w_ipo;
    let e = (sc / mc - sr / mr) - 1.0 / (2.0 * b);
    l += w * e * e;
    gsc += w * 2.0 * e / mc;
    gsr -= w * 2.0 * e / mr;
  }
  if (params.w_robust != 0.0) {
    let w = params.w_robust;
    let eps = params.eps;
    l += w * (-(1.0 - eps) * log_sigmoid(z) + eps * log_sigmoid(-z)) / (1.0 - 2.0 * eps);
    gz += w * (-(1.0 - eps) * sigmoid(-z) - eps * sigmoid(z)) / (1.0 - 2.0 * eps);
  }
  if (params.w_exo_pair != 0.0) {
    let w = params.w_exo_pair;
    let eps = params.exoEps;
    l += w * (sigmoid(z) * (log_sigmoid(z) - log1p_(-eps)) + sigmoid(-z) * (log_sigmoid(-z) - log(eps)));
    // σ'(z)·(lsig(z) - lsig(-z) - log(1-ε) + log ε), with lsig(z) - lsig(-z) = z.
    gz += w * sigmoid_grad(z) * (z - log1p_(-eps) + log(eps));
  }
  if (params.w_nca_pair != 0.0) {
    let w = params.w_nca_pair;
    let c = b * sc;
    let r = b * sr;
    l += w * (-log_sigmoid(c) - 0.5 * log_sigmoid(-c) - 0.5 * log_sigmoid(-r));
    gsc += w * b * (-sigmoid(-c) + 0.5 * sigmoid(c));
    gsr += w * b * 0.5 * sigmoid(r);
  }
  if (params.w_bco_pair != 0.0) {
    let w = params.w_bco_pair;
    let c = b * sc;
    let r = b * sr;
    l += w * (-log_sigmoid(c) - log_sigmoid(-r));
    gsc += w * b * -sigmoid(-c);
    gsr += w * b * sigmoid(r);
  }
  if (params.w_sppo_hard != 0.0) {
    let w = params.w_sppo_hard;
    let ec = sc - 0.5 / b;
    let er = sr + 0.5 / b;
    l += w * (ec * ec + er * er);
    gsc += w * 2.0 * ec;
    gsr += w * 2.0 * er;
  }
  if (params.w_apo_zero != 0.0) {
    // Raw log-ratios. 1 - σ(β·cr) as σ(-β·cr): no cancellation.
    let w = params.w_apo_zero;
    l += w * (sigmoid(-b * cr) + sigmoid(b * rr));
    gc += w * -b * sigmoid_grad(b * cr);
    gr += w * b * sigmoid_grad(b * rr);
  }
  if (params.w_apo_down != 0.0) {
    // σ(β·cr) on the raw log-ratio, 1 - σ(z) on the scores.
    let w = params.w_apo_down;
    l += w * (sigmoid(b * cr) + sigmoid(-z));
    gc += w * b * sigmoid_grad(b * cr);
    gz += w * -sigmoid_grad(z);
  }
  if (params.w_discopop != 0.0) {
    let w = params.w_discopop;
    let tau = params.tau;
    let t = z / tau;
    // l = -lsig(z)·(1 - m) + exp(-z)·m, m = σ(z/τ); exp(-z)·m and exp(-z)·m' in log space
    // (exp(-z) alone overflows where σ(z/τ) is 0).
    let expM = exp(-z + log_sigmoid(t));
    let expDm = exp(-z + log_sigmoid(t) + log_sigmoid(-t)) / tau;
    let dm = sigmoid_grad(t) / tau;
    l += w * (-log_sigmoid(z) * sigmoid(-t) + expM);
    gz += w * (-sigmoid(-z) * sigmoid(-t) + log_sigmoid(z) * dm - expM + expDm);
  }
  if (params.w_sigmoid_norm != 0.0) {
    let w = params.w_sigmoid_norm;
    let u = sc / mc - sr / mr;
    l += w * -log_sigmoid(b * u);
    let g = w * -b * sigmoid(-b * u);
    gsc += g / mc;
    gsr -= g / mr;
  }
  if (params.w_cdpo != 0.0) {
    let w = params.w_cdpo;
    let eps = params.eps;
    l += w * (-(1.0 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z));
    gz += w * (-(1.0 - eps) * sigmoid(-z) + eps * sigmoid(z));
  }
  if (params.w_simpo != 0.0) {
    let w = params.w_simpo;
    let eps = params.eps;
    let s = b * (x.pc / mc - x.pr / mr) - params.gamma;
    l += w * (-(1.0 - eps) * log_sigmoid(s) - eps * log_sigmoid(-s));
    let g = w * b * (-(1.0 - eps) * sigmoid(-s) + eps * sigmoid(s));
    gc += g / mc;
    gr -= g / mr;
  }
  if (params.w_orpo != 0.0) {
    let w = params.w_orpo;
    let rawC = x.pc / mc;
    let rawR = x.pr / mr;
    let lc = min(rawC, ORPO_MAX_AVG_LOGP);
    let lr = min(rawR, ORPO_MAX_AVG_LOGP);
    out.logOdds = (lc - lr) - (log1m_exp(lc) - log1m_exp(lr));
    out.logOddsRatio = log_sigmoid(out.logOdds);
    l += w * -b * out.logOddsRatio;
    // d log_odds / d lc = 1 / (1 - exp(lc)) = -1 / expm1(lc); the clamp passes no gradient.
    let g = w * -b * sigmoid(-out.logOdds);
    if (rawC < ORPO_MAX_AVG_LOGP) {
      gc += g * (-1.0 / expm1_(lc)) / mc;
    }
    if (rawR < ORPO_MAX_AVG_LOGP) {
      gr -= g * (-1.0 / expm1_(lr)) / mr;
    }
  }
  // Chain rule: z into the scores, the scores into the log-ratios.
  gsc += b * gz;
  gsr -= b * gz;
  out.loss = l;
  out.dpc = gc + gsc * fc.ds;
  out.dpr = gr + gsr * fr.ds;
  return out;
}

// aot / aot_unpaired at one sorted position with d = sorted difference (lib/pair_loss_batch.wgsl):
// x = -(1-ε)·lsig(β·d) - ε·lsig(-β·d), y = its derivative by d.
fn aot_loss(d: f32) -> vec2<f32> {
  let b = params.beta;
  let eps = params.eps;
  let t = b * d;
  return vec2<f32>(-(1.0 - eps) * log_sigmoid(t) - eps * log_sigmoid(-t),
                   b * (-(1.0 - eps) * sigmoid(-t) + eps * sigmoid(t)));
}
