// LayerNorm forward (GPT-2): per row of C values
//   mean = Σx / C,  rstd = 1 / sqrt(Σ(x - mean)² / C + eps),  out = (x - mean) · rstd · weight + bias
// saving mean and rstd for the backward pass. Variance from the centred values (two passes over
// the row), as PyTorch does, not E[x²] - mean², which cancels for rows with a large mean.
//
// `main`: x = inp. `main_residual` (llm.c's fused_residual_forward, onnxruntime's
// SkipLayerNormalization): x = inp + skip, also written to residual.
//
// Layout: a workgroup of 256 threads normalizes 256 / TPR rows, TPR consecutive threads per row,
// each thread striding over the row by TPR (consecutive threads read consecutive addresses). Row
// sums are tree reductions in workgroup memory. Workgroups are a 2-D grid (grid1d) over rows.
//
// Placeholders (src/engine/kernels/layernorm.ts fills them):
//   {{TPR}}  threads per row: 32, 64, 128 or 256, chosen from C

const WG: u32 = 256u;
const TPR: u32 = {{TPR}}u;
alias RowValue = f32;  // what row_sum adds (lib/row_sum.wgsl)
const RPW: u32 = WG / TPR;  // rows per workgroup

struct Params {
  N: u32,
  C: u32,
  eps: f32,
  has_bias: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;       // (N, C)
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;      // (N)
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;      // (N)
@group(0) @binding(3) var<storage, read_write> residual: array<f32>;  // (N, C) main_residual only
@group(0) @binding(4) var<storage, read> inp: array<f32>;             // (N, C)
@group(0) @binding(5) var<storage, read> skip: array<f32>;            // (N, C) main_residual only
@group(0) @binding(6) var<storage, read> weight: array<f32>;          // (C)
@group(0) @binding(7) var<storage, read> bias: array<f32>;            // (C); any tensor when has_bias is 0
@group(0) @binding(8) var<uniform> params: Params;

#include "lib/row_sum.wgsl"

fn bias_at(c: u32) -> f32 {
  if (params.has_bias != 0u) {
    return bias[c];
  }
  return 0.0;
}

// Row index of this thread, from the 2-D workgroup grid.
fn row_of(wid: vec3<u32>, nwg: vec3<u32>, tid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * RPW + tid / TPR;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = row_of(wid, nwg, tid);
  let lane = tid % TPR;
  let valid = row < params.N;  // rows past N still join the reductions
  let C = params.C;
  let o = row * C;

  var s = 0.0;
  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      s += inp[o + c];
    }
  }
  let m = row_sum(s, tid) / f32(C);

  var v = 0.0;
  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      let d = inp[o + c] - m;
      v += d * d;
    }
  }
  let r = 1.0 / sqrt(row_sum(v, tid) / f32(C) + params.eps);

  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      out[o + c] = (inp[o + c] - m) * r * weight[c] + bias_at(c);
    }
    if (lane == 0u) {
      mean[row] = m;
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

  var s = 0.0;
  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      let x = inp[o + c] + skip[o + c];
      residual[o + c] = x;
      s += x;
    }
  }
  let m = row_sum(s, tid) / f32(C);

  var v = 0.0;
  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      let d = residual[o + c] - m;
      v += d * d;
    }
  }
  let r = 1.0 / sqrt(row_sum(v, tid) / f32(C) + params.eps);

  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      out[o + c] = (residual[o + c] - m) * r * weight[c] + bias_at(c);
    }
    if (lane == 0u) {
      mean[row] = m;
      rstd[row] = r;
    }
  }
}
