// Per-token log-probabilities without a probability tensor. One workgroup per row of logits
// streams the row once (consecutive threads on consecutive columns) and keeps an online
// max m / s = Σexp(x - m) / s2 = Σexp(x - m)² / Σx per thread (lib/logprobs_row.wgsl), then
// merges the 256 of them in a tree (variant "subgroup": logprobs_forward_subgroup.wgsl):
//   lse[n]      = logsumexp(logits[n]) = m + log s
//   logp[n]     = logits[n, targets[n]] - lse[n]
//   logitSum[n] = Σ_v logits[n, v]          (entry `main` only; TRL's logits/chosen is sum / V)
//   aligned[n]  = logp[n] - log Σ_v p_v²     (entry `main` only; WPO's aligned log-prob, TRL's
//                 logp - (logsumexp(2·logits) - 2·logsumexp(logits)); log Σp² = log s2 - 2 log s)
// A row whose target is outside [0, V) (negative = masked) is not read and gets 0 in every output.
// `logits` holds rows row0 .. row0 + rows - 1 of the N rows that targets / logp / lse index,
// so the caller can push a batch through the LM head one chunk of rows at a time.

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

var<workgroup> sMax: array<f32, WG>;
var<workgroup> sExp: array<f32, WG>;
var<workgroup> sExp2: array<f32, WG>;
var<workgroup> sSum: array<f32, WG>;

// logsumexp, plain sum and log Σp² of one row; every thread of the workgroup must call it.
// The threads' partials meet in a tree in workgroup memory (8 barriers).
fn row_stats(base: u32, tid: u32) -> Stats {
  let p = thread_partial(base, tid);
  sMax[tid] = p.m;
  sExp[tid] = p.s;
  sExp2[tid] = p.s2;
  sSum[tid] = p.sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      let q = merge(Partial(sMax[tid], sExp[tid], sExp2[tid], sSum[tid]),
                    Partial(sMax[tid + stride], sExp[tid + stride], sExp2[tid + stride], sSum[tid + stride]));
      sMax[tid] = q.m;
      sExp[tid] = q.s;
      sExp2[tid] = q.s2;
      sSum[tid] = q.sum;
    }
    workgroupBarrier();
  }
  return stats_of(Partial(sMax[0], sExp[0], sExp2[0], sSum[0]));
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
