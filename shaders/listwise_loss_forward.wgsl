// Plackett-Luce listwise loss (PRO, docs/preference-losses.md) over B rankings of N responses,
// best first; r_k = β·(policyLogps[b, k] - refLogps[b, k]):
//   lse[b, k] = log Σ_{j>=k} exp(r_j)     (saved for the backward)
//   losses[b] = Σ_k (lse[b, k] - r_k),    stats = LISTWISE_STATS (top ranked = "chosen",
//                                          bottom ranked = "rejected")
// One workgroup: one thread per list (N is small; a batch is a few hundred lists), then tree
// sums of the metrics. CPU twin: src/engine/cpu/listwise-loss.ts.

struct Params {
  B: u32,
  N: u32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read_write> losses: array<f32>;      // (B)
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;         // (B, N)
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;       // (7) see LISTWISE_STATS
@group(0) @binding(3) var<storage, read> policyLogps: array<f32>;       // (B, N) Σ logp
@group(0) @binding(4) var<storage, read> refLogps: array<f32>;          // (B, N)
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 256u;

// log(1 + x) for x in [0, 1], accurate near 0 (WGSL has no log1p): 2·atanh(x / (2 + x)).
fn log1p_(x: f32) -> f32 {
  let s = x / (2.0 + x);
  let s2 = s * s;
  let q = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0)))))));
  return 2.0 * s * q;
}

fn softplus(x: f32) -> f32 {
  return max(x, 0.0) + log1p_(exp(-abs(x)));
}

#include "lib/workgroup_sum.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32) {
  let N = params.N;
  let beta = params.beta;
  var a = vec4<f32>(0.0);  // loss, rewards/chosen, rewards/rejected, rewards/accuracies
  var c = vec4<f32>(0.0);  // rewards/margins, logps/chosen, logps/rejected, -
  for (var b = tid; b < params.B; b += WG) {
    let o = b * N;
    let last = o + N - 1u;
    let bottom = beta * (policyLogps[last] - refLogps[last]);
    var acc = bottom;
    lse[last] = acc;
    var l = 0.0;
    for (var k = i32(N) - 2; k >= 0; k--) {
      let idx = o + u32(k);
      let r = beta * (policyLogps[idx] - refLogps[idx]);
      // lse_k - r_k = softplus(lse_{k+1} - r_k): the term without the cancellation of
      // subtracting r_k from lse_k when r_k dominates.
      let t = softplus(acc - r);
      acc = r + t;
      lse[idx] = acc;
      l += t;
    }
    losses[b] = l;
    let top = beta * (policyLogps[o] - refLogps[o]);
    a += vec4<f32>(l, top, bottom, select(0.0, 1.0, top > bottom));
    c += vec4<f32>(top - bottom, policyLogps[o], policyLogps[last], 0.0);
  }
  let sa = wg_sum(a, tid);
  let sc = wg_sum(c, tid);
  if (tid == 0u) {
    let inv = 1.0 / f32(params.B);
    stats[0] = sa.x * inv;  // loss
    stats[1] = sa.y * inv;  // rewards/chosen (top ranked)
    stats[2] = sa.z * inv;  // rewards/rejected (bottom ranked)
    stats[3] = sa.w * inv;  // rewards/accuracies
    stats[4] = sc.x * inv;  // rewards/margins
    stats[5] = sc.y * inv;  // logps/chosen
    stats[6] = sc.z * inv;  // logps/rejected
  }
}
