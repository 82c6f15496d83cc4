enable subgroups;
{{ENABLE_F16}}
// Matmul forward, variant "shuffle" (src/engine/tuning/variants.ts; needs subgroups of at least
// 8 invocations): the product of matmul_forward.wgsl (same bindings, Params and semantics: out
// (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias, batches by workgroup_id.z, accumulate, the LoRA
// term as extra K steps), laid out for adapters where every thread's memory read is costly and
// registers are cheap: CPU adapters (lavapipe runs each invocation as one SIMD lane and reads
// storage and workgroup memory one lane at a time, even at an address every lane shares; see
// BENCHMARKS.md). No workgroup memory, no barriers; each value read is used many times:
//
// A workgroup of 64 threads computes a 16 x 128 tile of out: thread t owns columns
// col0 + t + 64h (h = 0, 1) of all 16 rows, 32 sums held in registers. Per K step of 4, each
// thread reads one quad of weight for each of its 2 columns, and one quad of inp for 2 rows only:
// in every group of 8 lanes of a subgroup (an octet), lane j reads rows j and 8 + j, and the rows
// the other lanes need come from it by subgroupShuffle. So 4 quad reads per thread per K step feed
// 128 multiply-adds. (A 32 x 192 tile reads less per multiply-add but took lavapipe 3-4x as
// long to compile, 30-40 s per specialization, for at most 15% more speed: BENCHMARKS.md.)
//
// Needs subgroup sizes that are multiples of 8 (every size from 8 up; the variant is applicable
// only where the adapter's smallest subgroup has 8 invocations), each octet whole.
//
// Placeholders as matmul_forward.wgsl: {{ENABLE_F16}}, {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const ROWS: u32 = 16u;   // output rows per workgroup: 2 octets
const COLS: u32 = 128u;  // output columns per workgroup: 2 per thread

#include "lib/matmul_forward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (batch, M, OC)
@group(0) @binding(1) var<storage, read> inp: array<{{F32_T}}>;  // (batch, M, C)
@group(0) @binding(2) var<storage, read> weight: array<{{W_T}}>; // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OC); any tensor when has_bias is 0
@group(0) @binding(4) var<storage, read> lora_xa: array<f32>;  // (M, R); any tensor when lora_r is 0
@group(0) @binding(5) var<storage, read> lora_b: array<f32>;   // (OC, R) from lora_b_offset
@group(0) @binding(6) var<uniform> params: Params;

#include "lib/matmul_io.wgsl"       // weight_word, weight_at
#include "lib/matmul_lora_io.wgsl"  // lora_xa_quad, lora_b_quad
#include "lib/matmul_shuffle_tile.wgsl"  // Tile, quad_step

// Quads row[k .. k + 3] of inp and weight (row = flat index of the row's first value, k < C).
// No early return: where VEC is 4 a quad is wholly inside the row; with VEC 1, past-the-row
// values read a clamped index and are replaced by 0 (a select, not a branch: branches make
// every lane's work conditional on CPU adapters).
fn a_quad(row: u32, k: u32) -> vec4<f32> {
  if (VEC == 4u) { return vec4<f32>(vec4(inp[(row + k) >> 2u])); }
  let C = params.C;
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, vec4<f32>(vec4(inp[row + min(k + i, C - 1u)])).x, k + i < C);
  }
  return v;
}

fn b_quad(row: u32, k: u32) -> vec4<f32> {
  if (VEC == 4u) {
    let e = row + k;
    if (W_KIND == 1u) {
      return vec4(unpack2x16float(weight_word(e >> 1u)), unpack2x16float(weight_word((e >> 1u) + 1u)));
    }
    return vec4<f32>(vec4(weight[e >> 2u]));
  }
  let C = params.C;
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, weight_at(row + min(k + i, C - 1u)), k + i < C);
  }
  return v;
}

fn store4(m: mat4x2<f32>, row: u32, col: vec2<u32>, out0: u32) {
  for (var i = 0u; i < 4u; i++) {
    if (row + i >= params.M) { return; }
    for (var h = 0u; h < 2u; h++) {
      if (col[h] >= params.OC) { continue; }
      var v = m[i][h];
      if (params.has_bias != 0u) { v += bias[col[h]]; }
      let at = out0 + (row + i) * params.OC + col[h];
      if (params.accumulate != 0u) { v += out[at]; }
      out[at] = v;
    }
  }
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  // The grid is (column tiles, row tiles); consecutive workgroups take the row tiles of one
  // column tile, so its 128 weight rows stay in cache while every row tile reads them (a CPU
  // adapter runs workgroups in order on few threads: 1.1-1.3x at OC >= 1536 on lavapipe).
  let flat = wg.x + wg.y * nwg.x;
  let tile_col = flat / nwg.y;
  let tile_row = flat % nwg.y;
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let row0 = tile_row * ROWS;
  let col = tile_col * COLS + lid + vec2(0u, 64u);  // this thread's columns
  let octet = lane & ~7u;                              // the octet's first lane
  let inp0 = wg.z * params.inp_stride;
  let w0 = wg.z * params.weight_stride;
  // Rows and columns past the edge read the last one (clamped: no branch in the loop) and are
  // not stored.
  let own = min(row0 + (lane & 7u) + vec2(0u, 8u), vec2(M - 1u));  // rows this lane reads
  let a_row = inp0 + own * C;
  let w_row = w0 + min(col, vec2(OC - 1u)) * C;

  let z = mat4x2<f32>();
  var t = Tile(z, z, z, z);
  for (var k = 0u; k < C; k += 4u) {
    let a = transpose(mat2x4<f32>(a_quad(a_row.x, k), a_quad(a_row.y, k)));
    let w = transpose(mat2x4<f32>(b_quad(w_row.x, k), b_quad(w_row.y, k)));
    t = quad_step(t, a, w, octet);
  }
  // The LoRA term: K steps over the rank, xa rows against lora_b rows (R any size).
  let R = params.lora_r;
  let xa_row = own * R;
  let b_row = params.lora_b_offset + min(col, vec2(OC - 1u)) * R;
  for (var k = 0u; k < R; k += 4u) {
    let a = transpose(mat2x4<f32>(lora_xa_quad(xa_row.x, k, R), lora_xa_quad(xa_row.y, k, R)));
    let w = transpose(mat2x4<f32>(lora_b_quad(b_row.x, k, R), lora_b_quad(b_row.y, k, R)));
    t = quad_step(t, a, w, octet);
  }

  let out0 = wg.z * params.out_stride;
  store4(t.m0, row0, col, out0);
  store4(t.m1, row0 + 4u, col, out0);
  store4(t.m2, row0 + 8u, col, out0);
  store4(t.m3, row0 + 12u, col, out0);
}
