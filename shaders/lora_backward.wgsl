// LoRA backward, the small passes around the fused dinp matmul. Forward (lora_forward.wgsl):
// y = x·Wᵀ + b + xa·Bᵀ with xa = s · dropout(x)·Aᵀ. With g = s · dY·B:
//   dx  = dY·W + dropout'(g·A)   matmul_backward.wgsl dinp, g·A in its K loop, masked there
//   dB  = dYᵀ · xa               grad_main (X = dY, Y = xa)
//   dA  = gᵀ · dropout(x)        grad_main (X = g, Y = x, with the forward's mask)
// Two entry points:
//   dyb_main   g (M, R) = or += scale · dY (M, OC) · B[b_offset ..] (OC, R)   (K = OC)
//   grad_main  out[out_offset ..] (P, Q) += or = X (M, P)ᵀ · dropout(Y) (M, Q) (K = M, no atomics:
//              each output reduces over all M rows in one thread)
// B may be rows b_offset / R .. of a larger B: GPT-2's c_attn is one LoRA module whose output
// rows are the q, k and v projections, and each part reads and writes its slice.
// Dropout as in lora_forward.wgsl (lib/lora_dropout.wgsl: same hash, same (row, column) of x).
//
// Tiling as lora_forward.wgsl: 16 x 16 threads, a 16 x 16 output tile, one output per thread,
// K in slices of 16 staged k-major in workgroup memory, loads coalesced along memory.

const TS: u32 = 16u;

struct Params {
  M: u32,
  K: u32,            // dyb: OC
  N: u32,            // dyb: R; grad: P
  Q: u32,            // grad: columns of out
  w_offset: u32,     // dyb: first element of B; grad: first element of out
  scale: f32,        // dyb
  accumulate: u32,   // out += instead of =
  drop_seed: u32,    // grad: dropout of Y
  drop_threshold: u32,
  drop_scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // dyb: g (M, R); grad: (P, Q) at w_offset
@group(0) @binding(1) var<storage, read> xin: array<f32>;        // dyb: dY (M, OC); grad: X (M, P)
@group(0) @binding(2) var<storage, read> win: array<f32>;        // dyb: B (OC, R) at w_offset; grad: Y (M, Q)
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> Xs: array<f32, 256>;  // (TS k, TS)
var<workgroup> Ws: array<f32, 256>;  // (TS k, TS)

#include "lib/lora_dropout.wgsl"

fn store(at: u32, v: f32) {
  if (params.accumulate != 0u) {
    out[at] += v;
  } else {
    out[at] = v;
  }
}

@compute @workgroup_size(16, 16)
fn dyb_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let OC = params.K;
  let R = params.N;
  let row0 = wg.y * TS;
  let r0 = wg.x * TS;
  var acc = 0.0;
  for (var k0 = 0u; k0 < OC; k0 += TS) {
    // dY[row0 + ty, k0 + tx] (along OC) and B[k0 + ty, r0 + tx] (along R).
    let m = row0 + lid.y;
    let k = k0 + lid.x;
    var dv = 0.0;
    if (m < M && k < OC) { dv = xin[m * OC + k]; }
    Xs[lid.x * TS + lid.y] = dv;
    let kb = k0 + lid.y;
    let r = r0 + lid.x;
    var bv = 0.0;
    if (kb < OC && r < R) { bv = win[params.w_offset + kb * R + r]; }
    Ws[lid.y * TS + lid.x] = bv;
    workgroupBarrier();
    for (var kk = 0u; kk < TS; kk++) {
      acc += Xs[kk * TS + lid.y] * Ws[kk * TS + lid.x];
    }
    workgroupBarrier();
  }
  let m = row0 + lid.y;
  let r = r0 + lid.x;
  if (m < M && r < R) { store(m * R + r, params.scale * acc); }
}

@compute @workgroup_size(16, 16)
fn grad_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let P = params.N;
  let Q = params.Q;
  let p0 = wg.y * TS;
  let q0 = wg.x * TS;
  var acc = 0.0;
  for (var k0 = 0u; k0 < M; k0 += TS) {
    // X[k0 + ty, p0 + tx] and Y[k0 + ty, q0 + tx]: both along their output dimension.
    let m = k0 + lid.y;
    let p = p0 + lid.x;
    let q = q0 + lid.x;
    var xv = 0.0;
    if (m < M && p < P) { xv = xin[m * P + p]; }
    Xs[lid.y * TS + lid.x] = xv;
    var yv = 0.0;
    if (m < M && q < Q) { yv = win[m * Q + q] * dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, m, q); }
    Ws[lid.y * TS + lid.x] = yv;
    workgroupBarrier();
    for (var kk = 0u; kk < TS; kk++) {
      acc += Xs[kk * TS + lid.y] * Ws[kk * TS + lid.x];
    }
    workgroupBarrier();
  }
  let p = p0 + lid.y;
  let q = q0 + lid.x;
  if (p < P && q < Q) { store(params.w_offset + p * Q + q, acc); }
}
