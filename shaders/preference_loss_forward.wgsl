// Paired preference losses (docs/preference-losses.md, TRL 1.x) over B (chosen, rejected) pairs:
// per-pair loss, batch-mean loss and TRL's metrics. CPU twin: src/engine/cpu/preference-loss.ts.
// Inputs are per-sequence sums of completion-token log-probs and completion token counts.
//   cr = pc - refc, rr = pr - refr, z = β·(cr - rr)
//   losses[i] = Σ_t w_t · l_t(pair i) + wSft · NLL,   NLL = -Σ pc / Σ nc (batch scalar)
// A batch is at most a few hundred pairs, so one workgroup does it all: a reduction for the
// NLL, a grid-stride loop over pairs, and tree reductions for the metrics (no second pass, no
// atomics). Entry `main` reads reference log-probs; `main_noref` (ORPO, SimPO) takes them as 0.
// A term whose weight is 0 is skipped (exo_pair's log ε with ε = 0 would be -inf).

struct Params {
  B: u32,
  beta: f32,
  eps: f32,           // label_smoothing: robust, cdpo, simpo
  exoEps: f32,        // ε of exo_pair, > 0
  tau: f32,           // discopop_tau
  gamma: f32,         // simpo_gamma
  refFree: u32,       // 1: rewards / logps metrics from average log-probs (ORPO, SimPO)
  wSigmoid: f32,
  wHinge: f32,
  wIpo: f32,
  wRobust: f32,
  wExo: f32,
  wNca: f32,
  wBco: f32,
  wSppo: f32,
  wApoZero: f32,
  wApoDown: f32,
  wDiscopop: f32,
  wSigmoidNorm: f32,
  wCdpo: f32,
  wSimpo: f32,
  wOrpo: f32,
  wSft: f32,
}

@group(0) @binding(0) var<storage, read_write> losses: array<f32>;     // (B)
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;      // (10) see PAIR_STATS
@group(0) @binding(2) var<storage, read> policyChosen: array<f32>;     // (B) Σ logp
@group(0) @binding(3) var<storage, read> policyRejected: array<f32>;   // (B)
@group(0) @binding(4) var<storage, read> refChosen: array<f32>;        // (B) (main only)
@group(0) @binding(5) var<storage, read> refRejected: array<f32>;      // (B) (main only)
@group(0) @binding(6) var<storage, read> nChosen: array<f32>;          // (B) token counts
@group(0) @binding(7) var<storage, read> nRejected: array<f32>;        // (B)
@group(0) @binding(8) var<uniform> params: Params;

const WG: u32 = 256u;
// Keep in step with ORPO_MAX_AVG_LOGP in src/engine/cpu/preference-loss.ts.
const ORPO_MAX_AVG_LOGP: f32 = -1e-6;

#include "lib/logistic_math.wgsl"
#include "lib/workgroup_sum.wgsl"

// ---- the pair loss (all weighted terms but sft) ----

struct Pair {
  loss: f32,
  logOdds: f32,       // ORPO's log odds (0 when orpo is off)
  logOddsRatio: f32,  // lsig(log odds)
}

fn pair_loss(pc: f32, pr: f32, refc: f32, refr: f32, nc: f32, nr: f32) -> Pair {
  let b = params.beta;
  let cr = pc - refc;
  let rr = pr - refr;
  let z = b * (cr - rr);
  let mc = max(nc, 1.0);
  let mr = max(nr, 1.0);
  var l = 0.0;
  var out = Pair(0.0, 0.0, 0.0);
  if (params.wSigmoid != 0.0) {
    l += params.wSigmoid * -log_sigmoid(z);
  }
  if (params.wHinge != 0.0) {
    l += params.wHinge * max(0.0, 1.0 - z);
  }
  if (params.wIpo != 0.0) {
    let e = (cr / mc - rr / mr) - 1.0 / (2.0 * b);
    l += params.wIpo * e * e;
  }
  if (params.wRobust != 0.0) {
    let eps = params.eps;
    l += params.wRobust * (-(1.0 - eps) * log_sigmoid(z) + eps * log_sigmoid(-z)) / (1.0 - 2.0 * eps);
  }
  if (params.wExo != 0.0) {
    let eps = params.exoEps;
    l += params.wExo * (sigmoid(z) * (log_sigmoid(z) - log1p_(-eps)) + sigmoid(-z) * (log_sigmoid(-z) - log(eps)));
  }
  if (params.wNca != 0.0) {
    let c = b * cr;
    l += params.wNca * (-log_sigmoid(c) - 0.5 * log_sigmoid(-c) - 0.5 * log_sigmoid(-b * rr));
  }
  if (params.wBco != 0.0) {
    l += params.wBco * (-log_sigmoid(b * cr) - log_sigmoid(-b * rr));
  }
  if (params.wSppo != 0.0) {
    let ec = cr - 0.5 / b;
    let er = rr + 0.5 / b;
    l += params.wSppo * (ec * ec + er * er);
  }
  if (params.wApoZero != 0.0) {
    // 1 - σ(β·cr) as σ(-β·cr): no cancellation.
    l += params.wApoZero * (sigmoid(-b * cr) + sigmoid(b * rr));
  }
  if (params.wApoDown != 0.0) {
    l += params.wApoDown * (sigmoid(b * cr) + sigmoid(-z));
  }
  if (params.wDiscopop != 0.0) {
    let t = z / params.tau;
    // exp(-z)·σ(z/τ) as exp(-z + lsig(z/τ)): exp(-z) alone overflows where σ(z/τ) is 0.
    l += params.wDiscopop * (-log_sigmoid(z) * sigmoid(-t) + exp(-z + log_sigmoid(t)));
  }
  if (params.wSigmoidNorm != 0.0) {
    l += params.wSigmoidNorm * -log_sigmoid(b * (cr / mc - rr / mr));
  }
  if (params.wCdpo != 0.0) {
    let eps = params.eps;
    l += params.wCdpo * (-(1.0 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z));
  }
  if (params.wSimpo != 0.0) {
    let eps = params.eps;
    let s = b * (pc / mc - pr / mr) - params.gamma;
    l += params.wSimpo * (-(1.0 - eps) * log_sigmoid(s) - eps * log_sigmoid(-s));
  }
  if (params.wOrpo != 0.0) {
    let lc = min(pc / mc, ORPO_MAX_AVG_LOGP);
    let lr = min(pr / mr, ORPO_MAX_AVG_LOGP);
    out.logOdds = (lc - lr) - (log1m_exp(lc) - log1m_exp(lr));
    out.logOddsRatio = log_sigmoid(out.logOdds);
    l += params.wOrpo * -b * out.logOddsRatio;
  }
  out.loss = l;
  return out;
}

// Per-thread metric sums of one pair, in stats order after the loss.
fn accumulate(acc: ptr<function, array<vec4<f32>, 3>>, i: u32, refc: f32, refr: f32, nll: f32) {
  let pc = policyChosen[i];
  let pr = policyRejected[i];
  let nc = nChosen[i];
  let nr = nRejected[i];
  let r = pair_loss(pc, pr, refc, refr, nc, nr);
  let l = r.loss + params.wSft * nll;
  losses[i] = l;
  let refFree = params.refFree != 0u;
  let xc = select(pc - refc, pc / max(nc, 1.0), refFree);
  let xr = select(pr - refr, pr / max(nr, 1.0), refFree);
  let rc = params.beta * xc;
  let rr = params.beta * xr;
  (*acc)[0] += vec4<f32>(l, rc, rr, select(0.0, 1.0, rc > rr));
  (*acc)[1] += vec4<f32>(rc - rr, select(pc, xc, refFree), select(pr, xr, refFree), 0.0);
  (*acc)[2] += vec4<f32>(r.logOddsRatio, r.logOdds, 0.0, 0.0);
}

// NLL over all chosen completion tokens of the batch; every thread must call it.
fn batch_nll(tid: u32) -> f32 {
  var s = vec4<f32>(0.0);
  for (var i = tid; i < params.B; i += WG) {
    s += vec4<f32>(policyChosen[i], nChosen[i], 0.0, 0.0);
  }
  let t = wg_sum(s, tid);
  return -t.x / max(t.y, 1.0);
}

fn write_stats(acc: array<vec4<f32>, 3>, nll: f32, tid: u32) {
  let a = wg_sum(acc[0], tid);
  let b = wg_sum(acc[1], tid);
  let c = wg_sum(acc[2], tid);
  if (tid == 0u) {
    let inv = 1.0 / f32(params.B);
    stats[0] = a.x * inv;  // loss
    stats[1] = a.y * inv;  // rewards/chosen
    stats[2] = a.z * inv;  // rewards/rejected
    stats[3] = a.w * inv;  // rewards/accuracies
    stats[4] = b.x * inv;  // rewards/margins
    stats[5] = b.y * inv;  // logps/chosen
    stats[6] = b.z * inv;  // logps/rejected
    stats[7] = nll;        // nll_loss
    stats[8] = c.x * inv;  // log_odds_ratio
    stats[9] = c.y * inv;  // log_odds_chosen
  }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32) {
  let nll = batch_nll(tid);
  var acc = array<vec4<f32>, 3>();
  for (var i = tid; i < params.B; i += WG) {
    accumulate(&acc, i, refChosen[i], refRejected[i], nll);
  }
  write_stats(acc, nll, tid);
}

@compute @workgroup_size(256)
fn main_noref(@builtin(local_invocation_index) tid: u32) {
  let nll = batch_nll(tid);
  var acc = array<vec4<f32>, 3>();
  for (var i = tid; i < params.B; i += WG) {
    accumulate(&acc, i, 0.0, 0.0, nll);
  }
  write_stats(acc, nll, tid);
}
