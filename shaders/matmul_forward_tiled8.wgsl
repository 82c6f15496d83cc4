{{ENABLE_F16}}
// Matmul forward, variant "tiled8" (src/engine/tuning/variants.ts): the same product, bindings
// and Params as matmul_forward.wgsl (out (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias, batches
// by workgroup_id.z, accumulate, the LoRA term as extra K slices), with a larger register tile,
// the layout fast GPUs want:
//
// A 16 x 16 workgroup computes a 128 x 128 tile of out, each thread 8 x 8 outputs in registers:
// rows 4·ty .. 4·ty + 3 and 64 + 4·ty .. + 3, columns likewise with tx. The K dimension is
// walked in slices of 8: each thread loads one quad along K of the inp tile and one of the weight
// tile (vec4 global loads where VEC is 4) and stores them k-major into workgroup memory, which is
// declared as vec4s so that the inner loop reads 2 + 2 vec4s per 64 fused multiply-adds.
//
// Placeholders as matmul_forward.wgsl: {{ENABLE_F16}}, {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const TILE: u32 = 128u;  // output rows and columns per workgroup
const BK: u32 = 8u;      // K slice per barrier
const Q: u32 = 32u;      // vec4s per k-row of a tile (TILE / 4)

#include "lib/matmul_forward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (batch, M, OC)
@group(0) @binding(1) var<storage, read> inp: array<{{F32_T}}>;  // (batch, M, C)
@group(0) @binding(2) var<storage, read> weight: array<{{W_T}}>; // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OC); any tensor when has_bias is 0
@group(0) @binding(4) var<storage, read> lora_xa: array<f32>;  // (M, R); any tensor when lora_r is 0
@group(0) @binding(5) var<storage, read> lora_b: array<f32>;   // (OC, R) from lora_b_offset
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> As: array<vec4<f32>, 256>;  // (BK, TILE) inp tile, k-major, 4 rows per vec4
var<workgroup> Bs: array<vec4<f32>, 256>;  // (BK, TILE) weight tile, k-major, 4 columns per vec4
// acc[2i + h][j]: out row r(i) = 64·(i / 4) + 4·ty + i % 4, column 64·h + 4·tx + j
var<private> acc: array<vec4<f32>, 16>;

#include "lib/matmul_io.wgsl"
#include "lib/matmul_lora_io.wgsl"

#include "lib/matmul_tile8.wgsl"  // store_a, store_b, multiply_tile

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let row0 = wg.y * TILE;  // first row of the tile (M)
  let col0 = wg.x * TILE;  // first column of the tile (OC)
  let inp0 = wg.z * params.inp_stride;
  let w0 = wg.z * params.weight_stride;
  let out0 = wg.z * params.out_stride;

  // Loader: thread lid fetches the quad at k offset lk of tile row lr (2 threads per row).
  let lr = lid / 2u;
  let lk = (lid % 2u) * 4u;
  let a_row = row0 + lr;
  let b_row = col0 + lr;

  for (var i = 0u; i < 16u; i++) {
    acc[i] = vec4(0.0);
  }
  for (var k0 = 0u; k0 < C; k0 += BK) {
    var a = vec4(0.0);
    if (a_row < M) { a = inp_quad(inp0 + a_row * C, k0 + lk, C); }
    var b = vec4(0.0);
    if (b_row < OC) { b = weight_quad(w0 + b_row * C, k0 + lk, C); }
    store_a(lr, lk, a);
    store_b(lr, lk, b);
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }
  // The LoRA term: K slices over the rank, xa rows against lora_b rows, same loader layout.
  let R = params.lora_r;
  for (var k0 = 0u; k0 < R; k0 += BK) {
    var a = vec4(0.0);
    if (a_row < M) { a = lora_xa_quad(a_row * R, k0 + lk, R); }
    var b = vec4(0.0);
    if (b_row < OC) { b = lora_b_quad(params.lora_b_offset + b_row * R, k0 + lk, R); }
    store_a(lr, lk, a);
    store_b(lr, lk, b);
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

  // Epilogue, one output at a time.
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + 64u * (i / 4u) + 4u * lid3.y + i % 4u;
    if (row >= M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      for (var j = 0u; j < 4u; j++) {
        let col = col0 + 64u * h + 4u * lid3.x + j;
        if (col >= OC) { continue; }
        var v = acc[2u * i + h][j];
        if (params.has_bias != 0u) { v += bias[col]; }
        let at = out0 + row * OC + col;
        if (params.accumulate != 0u) { v += out[at]; }
        out[at] = v;
      }
    }
  }
}
