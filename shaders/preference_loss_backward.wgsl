// Gradient of the batch-mean paired preference loss (preference_loss_forward.wgsl) with respect
// to each policy log-prob sum, scaled by dloss (1, or a loss scale / 1/accumulation steps):
//   dChosen[i]   = dloss · ( (w_i·dl_i/dpc + aot_i)/B - wt_sft·mean(w) / Σ nc )
//   dRejected[i] = dloss ·   (w_i·dl_i/dpr + aot_i)/B
// dl_i from lib/pair_loss.wgsl (the forward's per-pair function, which returns the derivatives
// too), aot_i the derivative of the batch-sorting terms by pair i (lib/pair_loss_batch.wgsl).
// The WPO weights w are constants (TRL computes them without gradient); the sft term carries
// mean(w). Assigned (=): these are activation gradients. One workgroup: Σ nc is a reduction,
// and a batch is at most a few hundred pairs. CPU twin: src/engine/cpu/preference-loss.ts.

#include "lib/pair_loss_params.wgsl"

@group(0) @binding(0) var<storage, read_write> dChosen: array<f32>;    // (B)
@group(0) @binding(1) var<storage, read_write> dRejected: array<f32>;  // (B)
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

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32) {
  let sums = batch_sums(tid);
  let invB = 1.0 / f32(params.B);
  let sft = params.w_sft * sums.z * invB / max(sums.y, 1.0);  // wt_sft · mean(w) / Σ nc
  var aot = aot_terms(tid);
  for (var m = 0u; tid + m * WG < params.B; m++) {
    let i = tid + m * WG;
    let x = load_pair(i);
    let r = pair_loss(x);
    let a = aot_slot(&aot, m);
    dChosen[i] = params.dloss * ((x.w * r.dpc + a.y) * invB - sft);
    dRejected[i] = params.dloss * ((x.w * r.dpr + a.z) * invB);
  }
}
