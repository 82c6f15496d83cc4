// RMSNorm forward (Llama; Gemma with weight_offset 1): per row of C values
//   rstd = 1 / sqrt(Σx² / C + eps),  out = x · rstd · (weight + weight_offset)
// saving rstd for the backward pass. fp32 throughout, so Hugging Face's "normalize in fp32, cast,
// then multiply by weight" is the same computation here.
//
// `main`: x = inp. `main_residual` (onnxruntime's SkipSimplifiedLayerNormalization): x = inp +
// skip, also written to residual.
//
// Layout: a workgroup of 256 threads normalizes 256 / TPR rows, TPR consecutive threads per row,
// each thread striding over the row by TPR (consecutive threads read consecutive addresses). Row
// sums are tree reductions in workgroup memory. Workgroups are a 2-D grid (grid1d) over rows.
//
// Placeholders (src/engine/kernels/rmsnorm.ts fills them):
//   {{TPR}}  threads per row: 32, 64, 128 or 256, chosen from C

const WG: u32 = 256u;
const TPR: u32 = {{TPR}}u;
alias RowValue = f32;  // what row_sum adds (lib/row_sum.wgsl)
const RPW: u32 = WG / TPR;  // rows per workgroup

struct Params {
  N: u32,
  C: u32,
  eps: f32,
  weight_offset: f32,  // 0 (Llama) or 1 (Gemma's 1 + weight)
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;       // (N, C)
@group(0) @binding(1) var<storage, read_write> rstd: array<f32>;      // (N)
@group(0) @binding(2) var<storage, read_write> residual: array<f32>;  // (N, C) main_residual only
@group(0) @binding(3) var<storage, read> inp: array<f32>;             // (N, C)
@group(0) @binding(4) var<storage, read> skip: array<f32>;            // (N, C) main_residual only
@group(0) @binding(5) var<storage, read> weight: array<f32>;          // (C)
@group(0) @binding(6) var<uniform> params: Params;

#include "lib/row_sum.wgsl"

fn row_of(wid: vec3<u32>, nwg: vec3<u32>, tid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * RPW + tid / TPR;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = row_of(wid, nwg, tid);
  let lane = tid % TPR;
  let valid = row < params.N;  // rows past N still join the reduction
  let C = params.C;
  let o = row * C;

  var ss = 0.0;
  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      let x = inp[o + c];
      ss += x * x;
    }
  }
  let r = 1.0 / sqrt(row_sum(ss, tid) / f32(C) + params.eps);

  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      out[o + c] = inp[o + c] * r * (weight[c] + params.weight_offset);
    }
    if (lane == 0u) {
      rstd[row] = r;
    }
  }
}

// As main with x = inp + skip; each thread re-reads only the residual values it wrote itself.
@compute @workgroup_size(256)
fn main_residual(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) tid: u32) {
  let row = row_of(wid, nwg, tid);
  let lane = tid % TPR;
  let valid = row < params.N;
  let C = params.C;
  let o = row * C;

  var ss = 0.0;
  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      let x = inp[o + c] + skip[o + c];
      residual[o + c] = x;
      ss += x * x;
    }
  }
  let r = 1.0 / sqrt(row_sum(ss, tid) / f32(C) + params.eps);

  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      out[o + c] = residual[o + c] * r * (weight[c] + params.weight_offset);
    }
    if (lane == 0u) {
      rstd[row] = r;
    }
  }
}
