enable subgroups;
// LoRA forward xa (M, R) = scale · dropout(x) (M, C) · A (R, C)ᵀ, variant "subgroup" of lora_xa
// (src/engine/tuning/variants.ts; needs subgroups): the product, bindings, Params and dropout mask
// of lora_forward.wgsl (same hash of the same (row, column) of x), laid out by
// lib/lora_rank_subgroup.wgsl (4 rows x RT ranks per 64 threads along C, subgroupAdd, one barrier).

#include "lib/lora_forward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> xa: array<f32>;  // (M, R)
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (M, C)
@group(0) @binding(2) var<storage, read> a: array<f32>;         // (R, C)
@group(0) @binding(3) var<uniform> params: Params;

#include "lib/lora_rank_subgroup.wgsl"
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

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let r0 = wg.x * RT;
  let row0 = wg.y * ROWS;
  share_subgroup_sums(rank_subgroup_sums(row0, r0, tid, params.C));
  if (tid < OUTS) {
    let m = row0 + tid / RT;
    let r = r0 + tid % RT;
    if (m < params.M && r < params.R) { xa[m * params.R + r] = params.scale * slots_sum(tid); }
  }
}
