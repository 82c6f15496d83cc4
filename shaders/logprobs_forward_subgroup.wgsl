enable subgroups;
// Per-token log-probabilities, variant "subgroup" of logprobs_forward (src/engine/tuning/
// variants.ts; needs subgroups): the outputs, bindings, Params and entry points of
// logprobs_forward.wgsl, and the same per-thread pass over the row (lib/logprobs_row.wgsl). Only
// the merge of the 256 threads' (max, Σexp, Σexp², Σx) differs: instead of an 8-level tree in
// workgroup memory with a barrier per level, each subgroup merges its lanes in registers
// (subgroupMax, then subgroupAdd of the partials rescaled to that max), one elected lane per
// subgroup writes its merge to the next free slot (an atomic counter), and after one barrier
// thread 0 merges the slots (256 / subgroup size of them: 8 at 32 lanes). No assumption on the
// subgroup size or on which invocations share a subgroup.

struct Params {
  V: u32,     // vocabulary size
  row0: u32,  // first row of the chunk within N
  rows: u32,  // rows in the chunk (rows of `logits`)
}

@group(0) @binding(0) var<storage, read_write> logp: array<f32>;      // (N)
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;       // (N)
@group(0) @binding(2) var<storage, read_write> logitSum: array<f32>;  // (N)
@group(0) @binding(3) var<storage, read_write> aligned: array<f32>;   // (N)
@group(0) @binding(4) var<storage, read> logits: array<f32>;          // (rows, V)
@group(0) @binding(5) var<storage, read> targets: array<i32>;         // (N)
@group(0) @binding(6) var<uniform> params: Params;

#include "lib/logprobs_row.wgsl"

// Subgroup merges (max, Σexp, Σexp², Σx), slots 0 .. nSlots - 1 filled; workgroup memory starts
// zeroed, so nSlots counts from 0 in every workgroup.
var<workgroup> slots: array<vec4<f32>, WG>;
var<workgroup> nSlots: atomic<u32>;

// logsumexp, plain sum and log Σp² of one row, valid in thread 0; every thread of the workgroup
// must call it.
fn row_stats(base: u32, tid: u32) -> Stats {
  let p = thread_partial(base, tid);
  let m = subgroupMax(p.m);
  let r = exp(p.m - m);
  let s = subgroupAdd(p.s * r);
  let s2 = subgroupAdd(p.s2 * (r * r));
  let sum = subgroupAdd(p.sum);
  if (subgroupElect()) {
    slots[atomicAdd(&nSlots, 1u)] = vec4(m, s, s2, sum);
  }
  workgroupBarrier();
  var q = Partial(LOWEST, 0.0, 0.0, 0.0);
  if (tid == 0u) {
    let n = atomicLoad(&nSlots);
    for (var k = 0u; k < n; k++) {
      let v = slots[k];
      q = merge(q, Partial(v.x, v.y, v.z, v.w));
    }
  }
  return stats_of(q);
}

#include "lib/logprobs_result.wgsl"  // struct RowResult, row_result

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let o = row_result(row_of(wid, nwg), tid);
  if (o.write) {
    logp[o.n] = o.logp;
    lse[o.n] = o.lse;
    logitSum[o.n] = o.sum;
    aligned[o.n] = o.aligned;
  }
}

// The same without the logit sum and the aligned log-prob (inference-only callers).
@compute @workgroup_size(256)
fn main_nosum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) tid: u32) {
  let o = row_result(row_of(wid, nwg), tid);
  if (o.write) {
    logp[o.n] = o.logp;
    lse[o.n] = o.lse;
  }
}
