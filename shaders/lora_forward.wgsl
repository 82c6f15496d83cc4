// LoRA forward, the small pass before the fused matmul (PEFT: y = x·Wᵀ + b + s·B(A(dropout(x)))):
//   xa (M, R) = scale · dropout(x) (M, C) · A (R, C)ᵀ
// shaders/matmul_forward.wgsl then adds xa · Bᵀ in the K loop of the main product, so no
// (M, OC) LoRA term is ever written on its own. The scale is folded into xa here, which makes
// dB = dYᵀ · xa exact in the backward (xa is saved for it).
//
// Dropout is inverted dropout with a counter-based mask: element (m, c) of x is dropped when
// hash(seed, m, c) < threshold (threshold = round(p · 2^32)), else scaled by 1 / (1 - p); the
// backward (matmul_backward.wgsl dinp, lora_backward.wgsl grad) regenerates the same mask from
// the same seed, so it is never stored. threshold 0 = no dropout.
//
// Tiling: lib/lora_rank_tile.wgsl (RT ranks x 256 / RT rows per workgroup, 8 lanes along C,
// 16 partial sums per thread, one barrier).

#include "lib/lora_forward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> xa: array<f32>;  // (M, R)
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (M, C)
@group(0) @binding(2) var<storage, read> a: array<f32>;         // (R, C)
@group(0) @binding(3) var<uniform> params: Params;

#include "lib/lora_rank_tile.wgsl"
#include "lib/lora_dropout.wgsl"

// dropout(x)[m, c]; 0 past the last row.
fn tile_row(m: u32, c: u32) -> f32 {
  if (m >= params.M) { return 0.0; }
  return x[m * params.C + c] * dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, m, c);
}

// A[r .. r + 3, c]; ranks past R read rank R - 1 (their sums are never written).
fn tile_ranks(r: u32, c: u32) -> vec4<f32> {
  let last = params.R - 1u;
  let C = params.C;
  return vec4(a[min(r, last) * C + c], a[min(r + 1u, last) * C + c], a[min(r + 2u, last) * C + c], a[min(r + 3u, last) * C + c]);
}

@compute @workgroup_size(LANES, GROUPS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = lid.x;
  let r0 = wg.x * RT;
  let wgRow0 = wg.y * GROUPS * RPT;
  let row0 = wgRow0 + lid.y * RPT;
  let acc = rank_tile_sums(row0, r0, lane, params.C);
  share_partials(lid.y, lane, acc);
  for (var o = tid; o < OUTS; o += LANES * GROUPS) {
    let sum = lanes_sum(o);
    let m = wgRow0 + o / RT;
    let r = r0 + o % RT;
    if (m < params.M && r < params.R) { xa[m * params.R + r] = params.scale * sum; }
  }
}
