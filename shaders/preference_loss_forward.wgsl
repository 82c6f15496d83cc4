// Paired preference losses (docs/preference-losses.md, TRL 1.9) over B (chosen, rejected) pairs:
// per-pair loss, batch-mean loss and TRL's metrics. CPU twin: src/engine/cpu/preference-loss.ts.
// Inputs are per-sequence sums of completion-token log-probs and completion token counts.
//   losses[i] = w_i·(Σ_t wt_t·l_t(pair i) + wt_sft·NLL) + aot terms of sorted position i
//   NLL = -Σ pc / Σ nc (batch scalar); w_i = weights[i] with use_weighting, else 1
// The terms are lib/pair_loss.wgsl's (one pair) and lib/pair_loss_batch.wgsl's (aot, sorted over
// the batch); the uniforms lib/pair_loss_params.wgsl's, shared with the backward.
// A batch is at most a few hundred pairs, so one workgroup does it all: a reduction for the
// NLL, a loop over pairs, and tree reductions for the metrics (no second pass, no atomics).
// Reference-free methods (ORPO, SimPO) take the reference log-probs as 0 (params.refFree).

#include "lib/pair_loss_params.wgsl"

@group(0) @binding(0) var<storage, read_write> losses: array<f32>;     // (B)
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;      // (10) see PAIR_STATS
@group(0) @binding(2) var<storage, read> policyChosen: array<f32>;     // (B) Σ logp
@group(0) @binding(3) var<storage, read> policyRejected: array<f32>;   // (B)
@group(0) @binding(4) var<storage, read> refChosen: array<f32>;        // (B) (ignored when refFree)
@group(0) @binding(5) var<storage, read> refRejected: array<f32>;      // (B)
@group(0) @binding(6) var<storage, read> nChosen: array<f32>;          // (B) token counts
@group(0) @binding(7) var<storage, read> nRejected: array<f32>;        // (B)
@group(0) @binding(8) var<storage, read> weights: array<f32>;          // (B) WPO weights (ignored unless weighted)
@group(0) @binding(9) var<uniform> params: Params;

const WG: u32 = 256u;

#include "lib/pair_loss.wgsl"
#include "lib/pair_loss_batch.wgsl"

// Per-thread metric sums of one pair, in stats order after the loss.
fn accumulate(acc: ptr<function, array<vec4<f32>, 3>>, x: PairIn, r: PairLoss, l: f32) {
  let refFree = params.refFree != 0u;
  // Rewards: β·raw log-ratios under any f-divergence (TRL), β·avg logp when reference-free.
  let xc = select(x.pc - x.refc, x.pc / max(x.nc, 1.0), refFree);
  let xr = select(x.pr - x.refr, x.pr / max(x.nr, 1.0), refFree);
  let rc = params.beta * xc;
  let rr = params.beta * xr;
  (*acc)[0] += vec4<f32>(l, rc, rr, select(0.0, 1.0, rc > rr));
  (*acc)[1] += vec4<f32>(rc - rr, select(x.pc, xc, refFree), select(x.pr, xr, refFree), 0.0);
  (*acc)[2] += vec4<f32>(r.logOddsRatio, r.logOdds, 0.0, 0.0);
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
  let sums = batch_sums(tid);
  let nll = -sums.x / max(sums.y, 1.0);
  var aot = aot_terms(tid);
  var acc = array<vec4<f32>, 3>();
  for (var m = 0u; tid + m * WG < params.B; m++) {
    let i = tid + m * WG;
    let x = load_pair(i);
    let r = pair_loss(x);
    let l = x.w * (r.loss + params.w_sft * nll) + aot_slot(&aot, m).x;
    losses[i] = l;
    accumulate(&acc, x, r, l);
  }
  write_stats(acc, nll, tid);
}
