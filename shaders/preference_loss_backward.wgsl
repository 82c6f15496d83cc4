// Gradient of the batch-mean paired preference loss (preference_loss_forward.wgsl) with respect
// to each policy log-prob sum, scaled by dloss (1, or a loss scale / 1/accumulation steps):
//   dChosen[i]   = dloss · ( (1/B)·dl_i/dpc - wSft / Σ nc )
//   dRejected[i] = dloss ·   (1/B)·dl_i/dpr
// Averaged-logp terms (ipo, sigmoid_norm, simpo, orpo) carry the 1/max(n, 1) of the average.
// Assigned (=): these are activation gradients. One workgroup: Σ nc is a reduction, and a batch
// is at most a few hundred pairs. CPU twin: src/engine/cpu/preference-loss.ts.

struct Params {
  B: u32,
  beta: f32,
  eps: f32,           // label_smoothing: robust, cdpo, simpo
  exoEps: f32,        // ε of exo_pair, > 0
  tau: f32,           // discopop_tau
  gamma: f32,         // simpo_gamma
  refFree: u32,       // unused here; the forward's Params, so the host passes one set
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
  dloss: f32,         // gradient of the training objective by the batch-mean loss
}

@group(0) @binding(0) var<storage, read_write> dChosen: array<f32>;    // (B)
@group(0) @binding(1) var<storage, read_write> dRejected: array<f32>;  // (B)
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

var<workgroup> red: array<f32, WG>;

#include "lib/logistic_math.wgsl"

// ---- dl/dpc, dl/dpr of one pair (all weighted terms but sft) ----

fn pair_grad(pc: f32, pr: f32, refc: f32, refr: f32, nc: f32, nr: f32) -> vec2<f32> {
  let b = params.beta;
  let cr = pc - refc;
  let rr = pr - refr;
  let z = b * (cr - rr);
  let mc = max(nc, 1.0);
  let mr = max(nr, 1.0);
  var gc = 0.0;
  var gr = 0.0;
  var gz = 0.0;  // dl/dz of the terms that depend on Δ only
  if (params.wSigmoid != 0.0) {
    gz += params.wSigmoid * -sigmoid(-z);
  }
  if (params.wHinge != 0.0) {
    gz += params.wHinge * select(0.0, -1.0, 1.0 - z > 0.0);
  }
  if (params.wIpo != 0.0) {
    let e = (cr / mc - rr / mr) - 1.0 / (2.0 * b);
    gc += params.wIpo * 2.0 * e / mc;
    gr -= params.wIpo * 2.0 * e / mr;
  }
  if (params.wRobust != 0.0) {
    let eps = params.eps;
    gz += params.wRobust * (-(1.0 - eps) * sigmoid(-z) - eps * sigmoid(z)) / (1.0 - 2.0 * eps);
  }
  if (params.wExo != 0.0) {
    // σ'(z)·(lsig(z) - lsig(-z) - log(1-ε) + log ε), with lsig(z) - lsig(-z) = z.
    let eps = params.exoEps;
    gz += params.wExo * sigmoid_grad(z) * (z - log1p_(-eps) + log(eps));
  }
  if (params.wNca != 0.0) {
    let c = b * cr;
    gc += params.wNca * b * (-sigmoid(-c) + 0.5 * sigmoid(c));
    gr += params.wNca * b * 0.5 * sigmoid(b * rr);
  }
  if (params.wBco != 0.0) {
    gc += params.wBco * b * -sigmoid(-b * cr);
    gr += params.wBco * b * sigmoid(b * rr);
  }
  if (params.wSppo != 0.0) {
    gc += params.wSppo * 2.0 * (cr - 0.5 / b);
    gr += params.wSppo * 2.0 * (rr + 0.5 / b);
  }
  if (params.wApoZero != 0.0) {
    gc += params.wApoZero * -b * sigmoid_grad(b * cr);
    gr += params.wApoZero * b * sigmoid_grad(b * rr);
  }
  if (params.wApoDown != 0.0) {
    gc += params.wApoDown * b * sigmoid_grad(b * cr);
    gz += params.wApoDown * -sigmoid_grad(z);
  }
  if (params.wDiscopop != 0.0) {
    let tau = params.tau;
    let t = z / tau;
    // l = -lsig(z)·(1 - m) + exp(-z)·m, m = σ(z/τ); exp(-z)·m and exp(-z)·m' in log space.
    let expM = exp(-z + log_sigmoid(t));
    let expDm = exp(-z + log_sigmoid(t) + log_sigmoid(-t)) / tau;
    let dm = sigmoid_grad(t) / tau;
    gz += params.wDiscopop * (-sigmoid(-z) * sigmoid(-t) + log_sigmoid(z) * dm - expM + expDm);
  }
  if (params.wSigmoidNorm != 0.0) {
    let u = cr / mc - rr / mr;
    let g = params.wSigmoidNorm * -b * sigmoid(-b * u);
    gc += g / mc;
    gr -= g / mr;
  }
  if (params.wCdpo != 0.0) {
    let eps = params.eps;
    gz += params.wCdpo * (-(1.0 - eps) * sigmoid(-z) + eps * sigmoid(z));
  }
  if (params.wSimpo != 0.0) {
    let eps = params.eps;
    let s = b * (pc / mc - pr / mr) - params.gamma;
    let g = params.wSimpo * b * (-(1.0 - eps) * sigmoid(-s) + eps * sigmoid(s));
    gc += g / mc;
    gr -= g / mr;
  }
  if (params.wOrpo != 0.0) {
    let rawC = pc / mc;
    let rawR = pr / mr;
    let lc = min(rawC, ORPO_MAX_AVG_LOGP);
    let lr = min(rawR, ORPO_MAX_AVG_LOGP);
    let logOdds = (lc - lr) - (log1m_exp(lc) - log1m_exp(lr));
    // d log_odds / d lc = 1 / (1 - exp(lc)) = -1 / expm1(lc); the clamp passes no gradient.
    let g = params.wOrpo * -b * sigmoid(-logOdds);
    if (rawC < ORPO_MAX_AVG_LOGP) {
      gc += g * (-1.0 / expm1_(lc)) / mc;
    }
    if (rawR < ORPO_MAX_AVG_LOGP) {
      gr -= g * (-1.0 / expm1_(lr)) / mr;
    }
  }
  return vec2<f32>(gc + b * gz, gr - b * gz);
}

// Σ nc over the batch (the SFT term's token count); every thread must call it.
fn batch_tokens(tid: u32) -> f32 {
  var s = 0.0;
  for (var i = tid; i < params.B; i += WG) {
    s += nChosen[i];
  }
  red[tid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (tid < k) {
      red[tid] += red[tid + k];
    }
    workgroupBarrier();
  }
  return max(red[0], 1.0);
}

fn write_grad(i: u32, refc: f32, refr: f32, tokens: f32) {
  let g = pair_grad(policyChosen[i], policyRejected[i], refc, refr, nChosen[i], nRejected[i]);
  let invB = 1.0 / f32(params.B);
  dChosen[i] = params.dloss * (g.x * invB - params.wSft / tokens);
  dRejected[i] = params.dloss * (g.y * invB);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32) {
  let tokens = batch_tokens(tid);
  for (var i = tid; i < params.B; i += WG) {
    write_grad(i, refChosen[i], refRejected[i], tokens);
  }
}

@compute @workgroup_size(256)
fn main_noref(@builtin(local_invocation_index) tid: u32) {
  let tokens = batch_tokens(tid);
  for (var i = tid; i < params.B; i += WG) {
    write_grad(i, 0.0, 0.0, tokens);
  }
}
