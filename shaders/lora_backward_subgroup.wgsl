enable subgroups;
// LoRA backward g (M, R) = or += scale · dY (M, OC) · B[b_offset ..] (OC, R), variant "subgroup"
// of lora_dyb (src/engine/tuning/variants.ts; needs subgroups): entry dyb_main with the product,
// bindings and Params of lora_backward.wgsl's dyb_main, laid out by lib/lora_rank_subgroup.wgsl
// (4 rows x RT ranks per 64 threads along OC, subgroupAdd, one barrier). grad_main is not here
// (lora_grad has its own variants).

#include "lib/lora_backward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // dyb: g (M, R); grad: (P, Q) at w_offset
@group(0) @binding(1) var<storage, read> xin: array<f32>;        // dyb: dY (M, OC); grad: X (M, P)
@group(0) @binding(2) var<storage, read> win: array<f32>;        // dyb: B (OC, R) at w_offset; grad: Y (M, Q)
@group(0) @binding(3) var<uniform> params: Params;

#include "lib/lora_rank_subgroup.wgsl"

fn store(at: u32, v: f32) {
  if (params.accumulate != 0u) {
    out[at] += v;
  } else {
    out[at] = v;
  }
}

// dY[m, k]; 0 past the last row.
fn tile_row(m: u32, k: u32) -> f32 {
  if (m >= params.M) { return 0.0; }
  return xin[m * params.K + k];
}

// B[k, r .. r + 3] (B at w_offset); ranks past R read rank R - 1 (their sums are never written).
fn tile_ranks(r: u32, k: u32) -> vec4<f32> {
  let last = params.N - 1u;
  let row = params.w_offset + k * params.N;
  return vec4(win[row + min(r, last)], win[row + min(r + 1u, last)], win[row + min(r + 2u, last)], win[row + min(r + 3u, last)]);
}

@compute @workgroup_size(64)
fn dyb_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let r0 = wg.x * RT;
  let row0 = wg.y * ROWS;
  share_subgroup_sums(rank_subgroup_sums(row0, r0, tid, params.K));
  if (tid < OUTS) {
    let m = row0 + tid / RT;
    let r = r0 + tid % RT;
    if (m < params.M && r < params.N) { store(m * params.N + r, params.scale * slots_sum(tid)); }
  }
}
