// The batch side of the paired preference loss, shared by preference_loss_forward.wgsl and
// preference_loss_backward.wgsl: reading a pair, the batch sums, and the terms that sort over
// the batch (aot, aot_unpaired). One workgroup of WG threads runs the whole batch; thread tid
// owns the pairs i = tid + m·WG. Reads the kernel's `params` and its input bindings
// policyChosen, policyRejected, refChosen, refRejected, nChosen, nRejected, weights (both kernels
// declare the same ones). CPU twin: aotTerms and preferenceLossForwardCpu in
// src/engine/cpu/preference-loss.ts.

#include "lib/workgroup_sum.wgsl"

// Reference-free methods bind the policy tensors as refs and unweighted runs bind any (B)
// tensor as weights: the host's choice (one entry point); `params` says to read 0 and 1.
fn load_pair(i: u32) -> PairIn {
  let refFree = params.refFree != 0u;
  return PairIn(
    policyChosen[i],
    policyRejected[i],
    select(refChosen[i], 0.0, refFree),
    select(refRejected[i], 0.0, refFree),
    nChosen[i],
    nRejected[i],
    select(1.0, weights[i], params.weighted != 0u),
  );
}

// (Σ pc, Σ nc, Σ w, 0) over the batch: the sft term's NLL and token count, and mean(w) for the
// gradient of the weighted sft term. Every thread must call it.
fn batch_sums(tid: u32) -> vec4<f32> {
  var s = vec4<f32>(0.0);
  for (var i = tid; i < params.B; i += WG) {
    let x = load_pair(i);
    s += vec4<f32>(x.pc, x.nc, x.w, 0.0);
  }
  return wg_sum(s, tid);
}

// ---- aot, aot_unpaired: sorted over the batch ----
//   aot:          d_k = sort(pc - pr)[k] - sort(refc - refr)[k]
//   aot_unpaired: d_k = sort(cr)[k] - sort(rr)[k]
// with torch.sort's ascending order made stable (ties by index): a value's rank is the number
// of values before it. The sorted differences live in workgroup memory, so a batch has at most
// AOT_MAX_PAIRS pairs (the host refuses more). The gradient through the sort goes to the
// element at each sorted position. Both kernels put position k's loss in slot k: losses[k]
// holds the aot terms of sorted position k, not of pair k; only the batch mean is meaningful.

// Keep in step with AOT_MAX_PAIRS in src/engine/losses/terms.ts.
const AOT_MAX_PAIRS: u32 = 1024u;
const AOT_SLOTS: u32 = AOT_MAX_PAIRS / WG;

var<workgroup> aot_keys: array<f32, AOT_MAX_PAIRS>;   // the values being ranked
var<workgroup> aot_delta: array<f32, AOT_MAX_PAIRS>;  // d_k by sorted position k

// Per thread, slot m: x = aot loss of sorted position k = tid + m·WG; y, z = d/dpc, d/dpr of
// pair i = tid + m·WG.
alias AotSlots = array<vec3<f32>, AOT_SLOTS>;

fn aot_rank(i: u32) -> u32 {
  let v = aot_keys[i];
  var r = 0u;
  for (var j = 0u; j < params.B; j++) {
    let u = aot_keys[j];
    r += select(0u, 1u, u < v || (u == v && j < i));
  }
  return r;
}

// The value pair i contributes to one side of the sorted difference.
fn aot_key(x: PairIn, unpaired: bool, second: bool) -> f32 {
  if (unpaired) {
    return select(x.pc - x.refc, x.pr - x.refr, second);
  }
  return select(x.pc - x.pr, x.refc - x.refr, second);
}

// Adds one aot term with weight w to the thread's slots; every thread must call it.
fn aot_term(acc: ptr<function, AotSlots>, tid: u32, unpaired: bool, w: f32) {
  let B = params.B;
  var rx: array<u32, AOT_SLOTS>;
  var ry: array<u32, AOT_SLOTS>;
  for (var m = 0u; m < AOT_SLOTS; m++) {
    let i = tid + m * WG;
    if (i < B) {
      aot_keys[i] = aot_key(load_pair(i), unpaired, false);
    }
  }
  workgroupBarrier();
  for (var m = 0u; m < AOT_SLOTS; m++) {
    let i = tid + m * WG;
    if (i < B) {
      rx[m] = aot_rank(i);
      aot_delta[rx[m]] = aot_keys[i];
    }
  }
  workgroupBarrier();
  for (var m = 0u; m < AOT_SLOTS; m++) {
    let i = tid + m * WG;
    if (i < B) {
      aot_keys[i] = aot_key(load_pair(i), unpaired, true);
    }
  }
  workgroupBarrier();
  for (var m = 0u; m < AOT_SLOTS; m++) {
    let i = tid + m * WG;
    if (i < B) {
      ry[m] = aot_rank(i);
      aot_delta[ry[m]] -= aot_keys[i];
    }
  }
  workgroupBarrier();
  for (var m = 0u; m < AOT_SLOTS; m++) {
    let i = tid + m * WG;
    if (i < B) {
      let gx = w * aot_loss(aot_delta[rx[m]]).y;
      // aot: x = pc - pr (the reference side has no gradient); aot_unpaired: x = cr, y = rr.
      let gy = select(gx, w * aot_loss(aot_delta[ry[m]]).y, unpaired);
      (*acc)[m] += vec3<f32>(w * aot_loss(aot_delta[i]).x, gx, -gy);
    }
  }
  workgroupBarrier();  // aot_keys and aot_delta are reused by the next term
}

// Both batch-sorting terms for the thread's slots (zeros when both are off); every thread must
// call it.
fn aot_terms(tid: u32) -> AotSlots {
  var acc = AotSlots();
  if (params.w_aot != 0.0) {
    aot_term(&acc, tid, false, params.w_aot);
  }
  if (params.w_aot_unpaired != 0.0) {
    aot_term(&acc, tid, true, params.w_aot_unpaired);
  }
  return acc;
}

// The aot slot of pair / position i = tid + m·WG (zeros past the slots: aot is off there).
fn aot_slot(acc: ptr<function, AotSlots>, m: u32) -> vec3<f32> {
  if (m < AOT_SLOTS) {
    return (*acc)[m];
  }
  return vec3<f32>(0.0);
}
