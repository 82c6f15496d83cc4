// RMSNorm backward, from the saved rstd. With y = x · rstd and dy = dout · (weight +
// weight_offset), per row:
//   `main`:       dinp = rstd · (dy - y · mean(dy · y))
//                 assigned, or added when params.accumulate is 1 (the residual stream).
//                 Same layout as rmsnorm_forward.wgsl: TPR threads per row, 256 / TPR rows per
//                 workgroup, a 2-D grid (grid1d) over rows.
//   `block_sums`: dweight without atomics, step 1: workgroup (x, b) sums over the rows
//                 [b·R, (b + 1)·R) (R = rows_per_block) for 64 columns, one thread per column:
//                 partials[b, c] = Σ dout · y.
//   `finish`:     step 2, one thread per column: dweight[c] += Σ_b partials[b, c] in block order.
// Every sum runs in a fixed order, so results are deterministic.
//
// Placeholders (src/engine/kernels/rmsnorm.ts fills them):
//   {{TPR}}  threads per row in `main`: 32, 64, 128 or 256

const WG: u32 = 256u;
const TPR: u32 = {{TPR}}u;
alias RowValue = f32;  // what row_sum adds (lib/row_sum.wgsl)
const RPW: u32 = WG / TPR;  // rows per workgroup in `main`

struct Params {
  N: u32,
  C: u32,
  weight_offset: f32,   // main: 0 (Llama) or 1 (Gemma)
  accumulate: u32,      // main: dinp += instead of =
  rows_per_block: u32,  // block_sums: R
  nblocks: u32,         // block_sums, finish: ceil(N / R)
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;      // (N, C) main
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;   // (C) finish
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;  // (nblocks, C) block_sums, finish
@group(0) @binding(3) var<storage, read> dout: array<f32>;            // (N, C)
@group(0) @binding(4) var<storage, read> inp: array<f32>;             // (N, C)
@group(0) @binding(5) var<storage, read> weight: array<f32>;          // (C) main
@group(0) @binding(6) var<storage, read> rstd: array<f32>;            // (N)
@group(0) @binding(7) var<uniform> params: Params;

#include "lib/row_sum.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RPW + tid / TPR;
  let lane = tid % TPR;
  let valid = row < params.N;  // rows past N still join the reduction
  let C = params.C;
  let o = row * C;

  var r = 0.0;
  var acc = 0.0;  // Σ dy · y
  if (valid) {
    r = rstd[row];
    for (var c = lane; c < C; c += TPR) {
      acc += dout[o + c] * (weight[c] + params.weight_offset) * inp[o + c] * r;
    }
  }
  let m = row_sum(acc, tid) / f32(C);

  if (valid) {
    for (var c = lane; c < C; c += TPR) {
      let y = inp[o + c] * r;
      let dy = dout[o + c] * (weight[c] + params.weight_offset);
      let g = r * (dy - y * m);
      if (params.accumulate != 0u) {
        dinp[o + c] += g;
      } else {
        dinp[o + c] = g;
      }
    }
  }
}

@compute @workgroup_size(64)
fn block_sums(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let b = gid.y;
  let C = params.C;
  if (c >= C || b >= params.nblocks) {
    return;
  }
  let end = min((b + 1u) * params.rows_per_block, params.N);
  var dw = 0.0;
  for (var n = b * params.rows_per_block; n < end; n++) {
    dw += dout[n * C + c] * inp[n * C + c] * rstd[n];
  }
  partials[b * C + c] = dw;
}

@compute @workgroup_size(256)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let C = params.C;
  if (c >= C) {
    return;
  }
  var s = 0.0;
  for (var b = 0u; b < params.nblocks; b++) {
    s += partials[b * C + c];
  }
  dweight[c] += s;
}
