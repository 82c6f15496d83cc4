enable f16;
// Matmul forward, variant "f16" (src/engine/tuning/variants.ts; needs shader-f16): the product of
// matmul_forward.wgsl (same bindings, Params, tiling and semantics) with f16 arithmetic and f32
// accumulation. Operands are rounded to f16 as they enter workgroup memory (half the bytes of
// the safe kernel's tiles), each thread's 16 products of a K slice are fused-multiply-added in
// f16 (vec4<f16>, twice the rate of f32 on most GPUs), and each slice's partial sums are added
// to f32 accumulators, so rounding does not grow with K. Values beyond f16's range (65504)
// become infinite: the tuner validates this variant against the safe kernel on the model's own
// shapes. Gradients lie below f16's range: the backward's f16 variant (matmul_backward_f16.wgsl)
// scales each run of values by a power of two before rounding them.
//
// Placeholders as matmul_forward.wgsl except {{ENABLE_F16}} (f16 is always enabled here):
// {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const TILE: u32 = 64u;  // output rows and columns per workgroup
const BK: u32 = 16u;    // K slice per barrier, summed in f16

#include "lib/matmul_forward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (batch, M, OC)
@group(0) @binding(1) var<storage, read> inp: array<{{F32_T}}>;  // (batch, M, C)
@group(0) @binding(2) var<storage, read> weight: array<{{W_T}}>; // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (OC); any tensor when has_bias is 0
@group(0) @binding(4) var<storage, read> lora_xa: array<f32>;  // (M, R); any tensor when lora_r is 0
@group(0) @binding(5) var<storage, read> lora_b: array<f32>;   // (OC, R) from lora_b_offset
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> As: array<f16, 1024>;  // (BK, TILE) inp tile, k-major
var<workgroup> Bs: array<f16, 1024>;  // (BK, TILE) weight tile, k-major
var<private> acc: array<vec4<f32>, 4>;  // acc[i][j]: out row ty + 16i, column tx + 16j

#include "lib/matmul_io.wgsl"
#include "lib/matmul_lora_io.wgsl"

fn store(lr: u32, lk: u32, a: vec4<f32>, b: vec4<f32>) {
  for (var c = 0u; c < 4u; c++) {
    As[(lk + c) * TILE + lr] = f16(a[c]);
    Bs[(lk + c) * TILE + lr] = f16(b[c]);
  }
}

// acc += As slice ᵀ · Bs slice: 16 products per output in f16, then one f32 add.
fn multiply_tile(tx: u32, ty: u32) {
  var part: array<vec4<f16>, 4>;
  for (var k = 0u; k < BK; k++) {
    let a = k * TILE + ty;
    let b = k * TILE + tx;
    let bv = vec4<f16>(Bs[b], Bs[b + 16u], Bs[b + 32u], Bs[b + 48u]);
    part[0] = fma(vec4<f16>(As[a]), bv, part[0]);
    part[1] = fma(vec4<f16>(As[a + 16u]), bv, part[1]);
    part[2] = fma(vec4<f16>(As[a + 32u]), bv, part[2]);
    part[3] = fma(vec4<f16>(As[a + 48u]), bv, part[3]);
  }
  for (var i = 0u; i < 4u; i++) {
    acc[i] += vec4<f32>(part[i]);
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
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  let inp0 = wg.z * params.inp_stride;
  let w0 = wg.z * params.weight_stride;
  let out0 = wg.z * params.out_stride;

  // Loader as matmul_forward.wgsl: the quad at k offset lk of tile row lr.
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
    store(lr, lk, a, b);
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }
  let R = params.lora_r;
  for (var k0 = 0u; k0 < R; k0 += BK) {
    var a = vec4(0.0);
    if (a_row < M) { a = lora_xa_quad(a_row * R, k0 + lk, R); }
    var b = vec4(0.0);
    if (b_row < OC) { b = lora_b_quad(params.lora_b_offset + b_row * R, k0 + lk, R); }
    store(lr, lk, a, b);
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

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
