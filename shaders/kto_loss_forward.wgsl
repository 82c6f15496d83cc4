// KTO (docs/preference-losses.md, TRL 1.x loss_type "kto") over B unpaired records.
// CPU twin: src/engine/cpu/kto-loss.ts.
//   kl_estimate: kl = max(0, mean(policyKL - refKL)) over the M rotated completions (detached)
//   main:        desirable   (label != 0) l = wD · (1 - σ(β·(cr - kl)))
//                undesirable (label == 0) l = wU · (1 - σ(β·(kl - rr)))
//                stats = loss (mean over B), kl, and TRL's sums and counts (KTO_STATS)
// One workgroup each: a batch is at most a few hundred records; tree sums, no atomics.

struct Params {
  B: u32,           // records
  M: u32,           // rotated completions of the KL estimate (kl_estimate)
  beta: f32,
  wD: f32,          // desirable_weight
  wU: f32,          // undesirable_weight
}

@group(0) @binding(0) var<storage, read_write> losses: array<f32>;      // (B)
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;       // (8) see KTO_STATS
@group(0) @binding(2) var<storage, read_write> kl: array<f32>;          // (1) written by kl_estimate
@group(0) @binding(3) var<storage, read> policyLogps: array<f32>;       // (B) Σ logp
@group(0) @binding(4) var<storage, read> refLogps: array<f32>;          // (B)
@group(0) @binding(5) var<storage, read> labels: array<i32>;            // (B) 1 desirable, 0 not
@group(0) @binding(6) var<storage, read> policyKL: array<f32>;          // (M) rotated completions
@group(0) @binding(7) var<storage, read> refKL: array<f32>;             // (M)
@group(0) @binding(8) var<uniform> params: Params;

const WG: u32 = 256u;

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

#include "lib/workgroup_sum.wgsl"

@compute @workgroup_size(256)
fn kl_estimate(@builtin(local_invocation_index) tid: u32) {
  var s = 0.0;
  for (var i = tid; i < params.M; i += WG) {
    s += policyKL[i] - refKL[i];
  }
  let total = wg_sum(vec4<f32>(s, 0.0, 0.0, 0.0), tid);
  if (tid == 0u) {
    kl[0] = max(0.0, total.x / f32(params.M));
  }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32) {
  let k = kl[0];
  let b = params.beta;
  var a = vec4<f32>(0.0);  // loss, rewards/chosen_sum, rewards/rejected_sum, logps/chosen_sum
  var c = vec4<f32>(0.0);  // logps/rejected_sum, count/chosen, count/rejected, -
  for (var i = tid; i < params.B; i += WG) {
    let pl = policyLogps[i];
    let x = pl - refLogps[i];
    let reward = b * x;
    var l: f32;
    if (labels[i] != 0) {
      // 1 - σ(β(x - kl)) as σ(-β(x - kl)): no cancellation.
      l = params.wD * sigmoid(-b * (x - k));
      a += vec4<f32>(0.0, reward, 0.0, pl);
      c += vec4<f32>(0.0, 1.0, 0.0, 0.0);
    } else {
      l = params.wU * sigmoid(-b * (k - x));
      a += vec4<f32>(0.0, 0.0, reward, 0.0);
      c += vec4<f32>(pl, 0.0, 1.0, 0.0);
    }
    losses[i] = l;
    a.x += l;
  }
  let sa = wg_sum(a, tid);
  let sc = wg_sum(c, tid);
  if (tid == 0u) {
    stats[0] = sa.x / f32(params.B);  // loss
    stats[1] = k;                     // kl
    stats[2] = sa.y;                  // rewards/chosen_sum
    stats[3] = sa.z;                  // rewards/rejected_sum
    stats[4] = sa.w;                  // logps/chosen_sum
    stats[5] = sc.x;                  // logps/rejected_sum
    stats[6] = sc.y;                  // count/chosen
    stats[7] = sc.z;                  // count/rejected
  }
}
