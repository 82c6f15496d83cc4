enable subgroups;
{{ENABLE_F16}}
// Matmul forward, variant "subgroup" (src/engine/tuning/variants.ts; needs subgroups): the
// product of matmul_forward.wgsl (same bindings, Params and semantics) laid out for few rows
// (decoding: M = 1 per sequence), where a tiled kernel leaves most threads idle and the time is
// reading the weight once. A workgroup of 64 threads computes one row of out and 4 columns: the
// threads split K (each a quad, 256 values per round, vec4 loads where VEC is 4) and keep 4
// partial dot products; subgroupAdd sums each subgroup's partials in registers, the first lane
// of each subgroup writes its sum to workgroup memory, and 4 threads add those (no assumption
// on the subgroup size or on which invocations share a subgroup).
//
// Placeholders as matmul_forward.wgsl: {{ENABLE_F16}}, {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const THREADS: u32 = 64u;
const COLS: u32 = 4u;  // output columns per workgroup

#include "lib/matmul_forward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (batch, M, OC)
@group(0) @binding(1) var<storage, read> inp: array<{{F32_T}}>;  // (batch, M, C)
@group(0) @binding(2) var<storage, read> weight: array<{{W_T}}>; // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OC); any tensor when has_bias is 0
@group(0) @binding(4) var<storage, read> lora_xa: array<f32>;  // (M, R); any tensor when lora_r is 0
@group(0) @binding(5) var<storage, read> lora_b: array<f32>;   // (OC, R) from lora_b_offset
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> part: array<vec4<f32>, 64>;  // (THREADS) subgroup sums at their first lanes, else 0

#include "lib/matmul_io.wgsl"
#include "lib/matmul_lora_io.wgsl"

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let C = params.C;
  let OC = params.OC;
  let row = wg.y;           // row of out (M); the grid has exactly M rows
  let col0 = wg.x * COLS;   // first column of out (OC)
  let inp_row = wg.z * params.inp_stride + row * C;
  let w0 = wg.z * params.weight_stride;

  // Rounds of THREADS quads along K; the trip count is uniform, the bounds are per thread.
  var s = vec4(0.0);
  for (var k0 = 0u; k0 < C; k0 += 4u * THREADS) {
    let k = k0 + 4u * lid;
    if (k < C) {
      let x = inp_quad(inp_row, k, C);
      for (var j = 0u; j < COLS; j++) {
        if (col0 + j < OC) { s[j] += dot(x, weight_quad(w0 + (col0 + j) * C, k, C)); }
      }
    }
  }
  let R = params.lora_r;
  for (var k0 = 0u; k0 < R; k0 += 4u * THREADS) {
    let k = k0 + 4u * lid;
    if (k < R) {
      let x = lora_xa_quad(row * R, k, R);
      for (var j = 0u; j < COLS; j++) {
        if (col0 + j < OC) { s[j] += dot(x, lora_b_quad(params.lora_b_offset + (col0 + j) * R, k, R)); }
      }
    }
  }

  let total = subgroupAdd(s);
  part[lid] = select(vec4(0.0), total, lane == 0u);
  workgroupBarrier();
  if (lid < COLS && col0 + lid < OC) {
    var v = 0.0;
    for (var i = 0u; i < THREADS; i++) {
      v += part[i][lid];
    }
    let col = col0 + lid;
    if (params.has_bias != 0u) { v += bias[col]; }
    let at = wg.z * params.out_stride + row * OC + col;
    if (params.accumulate != 0u) { v += out[at]; }
    out[at] = v;
  }
}
