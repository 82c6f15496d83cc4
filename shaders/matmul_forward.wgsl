{{ENABLE_F16}}
// Matmul forward: out (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias (OC), M = B·T rows, for
// each of `batch` batches (workgroup_id.z) at the given element strides; weight_stride 0 shares
// one weight. Assigns, or accumulates (out +=) when params.accumulate is 1.
//
// LoRA (lora_r > 0, one batch): out += lora_xa (M, R) · lora_b (OC, R)ᵀ, where lora_xa =
// s · dropout(x) · Aᵀ comes from shaders/lora_forward.wgsl. The product [x | xa] · [W | B]ᵀ is one
// GEMM with K = C + R, so the LoRA slices go through the same tiles and registers after the C
// slices: no separate (M, OC) pass. lora_b may be rows of a larger B (GPT-2's c_attn parts):
// element lora_b_offset is its first.
//
// Tiling: a 16 x 16 workgroup computes a 64 x 64 tile of out, each thread 4 x 4 outputs held in
// registers (rows ty + 16i, columns tx + 16j, so a warp's stores are consecutive addresses).
// The K = C dimension is walked in slices of 16: every thread loads one quad (4 consecutive
// values along C) of the inp tile and one of the weight tile into workgroup memory, stored
// k-major so the inner loop reads 4 + 4 values per 16 fused multiply-adds.
//
// Placeholders (src/engine/kernels/matmul.ts fills them):
//   {{ENABLE_F16}}  `enable f16;` for the native f16 weight path, else empty
//   {{VEC}}         4: C and the batch strides are multiples of 4, quads are single vec4 loads;
//                   1: scalar loads with bounds per element (any C)
//   {{F32_T}}       element type of inp: vec4<f32> when VEC is 4, else f32
//   {{W_KIND}}      weight storage: 0 f32, 1 f16 packed two per u32, 2 native f16
//   {{W_T}}         element type of weight: f32 / vec4<f32>, u32 (packed, either VEC), f16 / vec4<f16>

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const TILE: u32 = 64u;  // output rows and columns per workgroup
const BK: u32 = 16u;    // K slice per barrier

#include "lib/matmul_forward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (batch, M, OC)
@group(0) @binding(1) var<storage, read> inp: array<{{F32_T}}>;  // (batch, M, C)
@group(0) @binding(2) var<storage, read> weight: array<{{W_T}}>; // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OC); any tensor when has_bias is 0
@group(0) @binding(4) var<storage, read> lora_xa: array<f32>;  // (M, R); any tensor when lora_r is 0
@group(0) @binding(5) var<storage, read> lora_b: array<f32>;   // (OC, R) from lora_b_offset
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> As: array<f32, 1024>;  // (BK, TILE) inp tile, k-major
var<workgroup> Bs: array<f32, 1024>;  // (BK, TILE) weight tile, k-major
var<private> acc: array<vec4<f32>, 4>;  // acc[i][j]: out row ty + 16i, column tx + 16j

#include "lib/matmul_io.wgsl"       // inp_quad, weight_quad: storage reads for any VEC, W_KIND
#include "lib/matmul_lora_io.wgsl"  // lora_xa_quad, lora_b_quad

// acc += As (BK, 64) slice ᵀ · Bs (BK, 64) slice for this thread's 4 x 4 outputs.
fn multiply_tile(tx: u32, ty: u32) {
  for (var k = 0u; k < BK; k++) {
    let a = k * TILE + ty;
    let b = k * TILE + tx;
    let bv = vec4(Bs[b], Bs[b + 16u], Bs[b + 32u], Bs[b + 48u]);
    acc[0] += As[a] * bv;
    acc[1] += As[a + 16u] * bv;
    acc[2] += As[a + 32u] * bv;
    acc[3] += As[a + 48u] * bv;
  }
}

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

  // Loader: thread lid fetches the quad at k offset lk of tile row lr, for inp and for weight
  // (4 threads cover one row's 16 values, so a warp reads 8 contiguous 64-byte runs).
  let lr = lid / 4u;
  let lk = (lid % 4u) * 4u;
  let a_row = row0 + lr;
  let b_row = col0 + lr;

  for (var i = 0u; i < 4u; i++) {
    acc[i] = vec4(0.0);
  }
  for (var k0 = 0u; k0 < C; k0 += BK) {
    var a = vec4(0.0);
    if (a_row < M) { a = inp_quad(inp0 + a_row * C, k0 + lk, C); }
    var b = vec4(0.0);
    if (b_row < OC) { b = weight_quad(w0 + b_row * C, k0 + lk, C); }
    for (var c = 0u; c < 4u; c++) {
      As[(lk + c) * TILE + lr] = a[c];
      Bs[(lk + c) * TILE + lr] = b[c];
    }
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
    for (var c = 0u; c < 4u; c++) {
      As[(lk + c) * TILE + lr] = a[c];
      Bs[(lk + c) * TILE + lr] = b[c];
    }
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

  // Epilogue, one output at a time.
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid3.y + 16u * i;
    if (row >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid3.x + 16u * j;
      if (col >= OC) { break; }
      var v = acc[i][j];
      if (params.has_bias != 0u) { v += bias[col]; }
      let at = out0 + row * OC + col;
      if (params.accumulate != 0u) { v += out[at]; }
      out[at] = v;
    }
  }
}
