// LoRA weight gradients out[w_offset ..] (P, Q) += or = X (M, P)ᵀ · dropout(Y) (M, Q), variant
// "thin" of lora_grad (src/engine/tuning/variants.ts): entry grad_main with the product, bindings,
// Params and dropout mask of lora_backward.wgsl's grad_main (the mask of Y's (row, column), as
// there). One side of the output is a LoRA rank (dA: P = R, Q = C; dB: P = OC, Q = R), which
// wastes most of a 16 x 16 tile when R < 16. Here one thread owns one index of the wide side and
// THIN (16) indices of the narrow side in registers, and walks all M rows: per row it reads its
// wide element (consecutive threads, consecutive addresses) and the narrow side's 16 values (the
// same addresses for the whole workgroup). No workgroup memory, no barriers. The grid is
// (wide / 64, narrow / 16); the narrow side is whichever of P, Q is smaller (Q on a tie).

const THIN: u32 = 16u;
const THREADS: u32 = 64u;

#include "lib/lora_backward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // dyb: g (M, R); grad: (P, Q) at w_offset
@group(0) @binding(1) var<storage, read> xin: array<f32>;        // dyb: dY (M, OC); grad: X (M, P)
@group(0) @binding(2) var<storage, read> win: array<f32>;        // dyb: B (OC, R) at w_offset; grad: Y (M, Q)
@group(0) @binding(3) var<uniform> params: Params;

#include "lib/lora_dropout.wgsl"

fn store(at: u32, v: f32) {
  if (params.accumulate != 0u) {
    out[at] += v;
  } else {
    out[at] = v;
  }
}

// Y[m, q] through the forward's dropout mask; 0 past the last column.
fn y_at(m: u32, q: u32) -> f32 {
  if (q >= params.Q) { return 0.0; }
  return win[m * params.Q + q] * dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, m, q);
}

// X[m, p]; 0 past the last column.
fn x_at(m: u32, p: u32) -> f32 {
  if (p >= params.N) { return 0.0; }
  return xin[m * params.N + p];
}

@compute @workgroup_size(64)
fn grad_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let P = params.N;
  let Q = params.Q;
  let narrowP = P < Q;      // dA: P = R narrow, Q = C wide; else dB: Q = R narrow
  let w = wg.x * THREADS + tid;  // index along the wide side
  let t0 = wg.y * THIN;          // first index along the narrow side
  var acc0 = vec4(0.0);
  var acc1 = vec4(0.0);
  var acc2 = vec4(0.0);
  var acc3 = vec4(0.0);
  for (var m = 0u; m < params.M; m++) {
    var wide: f32;
    var n0: vec4<f32>;
    var n1: vec4<f32>;
    var n2: vec4<f32>;
    var n3: vec4<f32>;
    if (narrowP) {
      wide = y_at(m, w);
      n0 = vec4(x_at(m, t0), x_at(m, t0 + 1u), x_at(m, t0 + 2u), x_at(m, t0 + 3u));
      n1 = vec4(x_at(m, t0 + 4u), x_at(m, t0 + 5u), x_at(m, t0 + 6u), x_at(m, t0 + 7u));
      n2 = vec4(x_at(m, t0 + 8u), x_at(m, t0 + 9u), x_at(m, t0 + 10u), x_at(m, t0 + 11u));
      n3 = vec4(x_at(m, t0 + 12u), x_at(m, t0 + 13u), x_at(m, t0 + 14u), x_at(m, t0 + 15u));
    } else {
      wide = x_at(m, w);
      n0 = vec4(y_at(m, t0), y_at(m, t0 + 1u), y_at(m, t0 + 2u), y_at(m, t0 + 3u));
      n1 = vec4(y_at(m, t0 + 4u), y_at(m, t0 + 5u), y_at(m, t0 + 6u), y_at(m, t0 + 7u));
      n2 = vec4(y_at(m, t0 + 8u), y_at(m, t0 + 9u), y_at(m, t0 + 10u), y_at(m, t0 + 11u));
      n3 = vec4(y_at(m, t0 + 12u), y_at(m, t0 + 13u), y_at(m, t0 + 14u), y_at(m, t0 + 15u));
    }
    acc0 += wide * n0;
    acc1 += wide * n1;
    acc2 += wide * n2;
    acc3 += wide * n3;
  }
  var acc = array(acc0, acc1, acc2, acc3);
  for (var j = 0u; j < THIN; j++) {
    let t = t0 + j;
    let v = acc[j / 4u][j % 4u];
    if (narrowP) {
      if (t < P && w < Q) { store(params.w_offset + t * Q + w, v); }
    } else {
      if (w < P && t < Q) { store(params.w_offset + w * Q + t, v); }
    }
  }
}
