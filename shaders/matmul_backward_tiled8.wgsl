{{ENABLE_F16}}
// Matmul backward, variant "tiled8" (src/engine/tuning/variants.ts): the dinp and dweight
// products of matmul_backward.wgsl (same bindings, Params and semantics; dbias stays there) with
// the register tile of matmul_forward_tiled8.wgsl: a 16 x 16 workgroup computes a 128 x 128
// output tile, each thread 8 x 8 outputs (rows 4·ty + i and 64 + 4·ty + i, columns likewise with
// tx), K walked in slices of 8 staged k-major in workgroup memory declared as vec4s.
//   dinp     dinp (M, C) = dout (M, OC) · weight (OC, C)  (+= when accumulate), + LoRA:
//            dropout'(lora_g (M, R) · lora_a (R, C)) in its own accumulator, as matmul_backward.wgsl
//   dweight  dweight (OC, C) += doutᵀ · inp over the M rows of params.nb batches
// Operands whose K runs along memory (dout in dinp) are loaded as quads along K (2 threads per
// tile row); operands whose output dimension runs along memory (weight in dinp, dout and inp in
// dweight) as quads along it (32 threads per K row), stored as whole vec4s.
//
// Placeholders as matmul_backward.wgsl: {{ENABLE_F16}}, {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const TILE: u32 = 128u;
const BK: u32 = 8u;
const Q: u32 = 32u;  // vec4s per k-row of a tile

#include "lib/matmul_backward_params.wgsl"

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;     // (batch, M, C)
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;  // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> dout: array<{{F32_T}}>;     // (batch, M, OC)
@group(0) @binding(4) var<storage, read> inp: array<{{F32_T}}>;      // (batch, M, C)
@group(0) @binding(5) var<storage, read> weight: array<{{W_T}}>;     // (OC, C) or (batch, OC, C)
@group(0) @binding(6) var<storage, read> lora_g: array<f32>;     // (M, R); any tensor when lora_r is 0
@group(0) @binding(7) var<storage, read> lora_a: array<f32>;     // (R, C)
@group(0) @binding(8) var<uniform> params: Params;

var<workgroup> As: array<vec4<f32>, 256>;  // (BK, TILE) k-major, 4 output rows per vec4
var<workgroup> Bs: array<vec4<f32>, 256>;  // (BK, TILE) k-major, 4 output columns per vec4
// acc[2i + h][j]: output row 64·(i / 4) + 4·ty + i % 4, column 64·h + 4·tx + j
var<private> acc: array<vec4<f32>, 16>;

#include "lib/lora_dropout.wgsl"
#include "lib/matmul_io.wgsl"
#include "lib/matmul_backward_io.wgsl"  // dout_quad

fn clear_acc() {
  for (var i = 0u; i < 16u; i++) {
    acc[i] = vec4(0.0);
  }
}

#include "lib/matmul_tile8.wgsl"  // store_a (a quad along K into As), multiply_tile

// dinp (M, C) tile at (row0, col0) of batch wg.z; K = OC.
@compute @workgroup_size(16, 16)
fn dinp_main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let row0 = wg.y * TILE;  // rows of dinp (M)
  let col0 = wg.x * TILE;  // columns of dinp (C)
  let inp0 = wg.z * params.inp_stride;
  let w0 = wg.z * params.weight_stride;
  let out0 = wg.z * params.out_stride;

  // A = dout (M, OC), contiguous along K: the quad at k offset ak of tile row ar.
  let ar = lid / 2u;
  let ak = (lid % 2u) * 4u;
  // B = weight (OC, C), contiguous along the output columns: the quad at column bn of slice row bk.
  let bk = lid / Q;
  let bn = (lid % Q) * 4u;

  clear_acc();
  for (var k0 = 0u; k0 < OC; k0 += BK) {
    var a = vec4(0.0);
    if (row0 + ar < M) { a = dout_quad(out0 + (row0 + ar) * OC, k0 + ak, OC); }
    var b = vec4(0.0);
    if (k0 + bk < OC) { b = weight_quad(w0 + (k0 + bk) * C, col0 + bn, C); }
    store_a(ar, ak, a);
    Bs[bk * Q + bn / 4u] = b;
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

  // LoRA: g (M, R) · A (R, C) into a fresh accumulator; g is read like dout, A like weight.
  let base = acc;
  clear_acc();
  let R = params.lora_r;
  for (var k0 = 0u; k0 < R; k0 += BK) {
    var a = vec4(0.0);
    var b = vec4(0.0);
    for (var c = 0u; c < 4u; c++) {
      if (row0 + ar < M && k0 + ak + c < R) { a[c] = lora_g[(row0 + ar) * R + k0 + ak + c]; }
      if (k0 + bk < R && col0 + bn + c < C) { b[c] = lora_a[(k0 + bk) * C + col0 + bn + c]; }
    }
    store_a(ar, ak, a);
    Bs[bk * Q + bn / 4u] = b;
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

  for (var i = 0u; i < 8u; i++) {
    let row = row0 + 64u * (i / 4u) + 4u * lid3.y + i % 4u;
    if (row >= M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      for (var j = 0u; j < 4u; j++) {
        let col = col0 + 64u * h + 4u * lid3.x + j;
        if (col >= C) { continue; }
        let at = inp0 + row * C + col;
        var v = base[2u * i + h][j];
        if (R > 0u) { v += dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, row, col) * acc[2u * i + h][j]; }
        if (params.accumulate != 0u) { v += dinp[at]; }
        dinp[at] = v;
      }
    }
  }
}

// dweight (OC, C) tile at (row0, col0); K = the M rows of params.nb batches, starting at batch
// wg.z · nb (per-batch weights: nb = 1, one z per batch; shared weight: nb = batch, one z).
@compute @workgroup_size(16, 16)
fn dweight_main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let row0 = wg.y * TILE;  // rows of dweight (OC)
  let col0 = wg.x * TILE;  // columns of dweight (C)

  // Both operands are contiguous along their output dimension: the quad at bn of slice row bk.
  let bk = lid / Q;
  let bn = (lid % Q) * 4u;

  clear_acc();
  for (var bi = 0u; bi < params.nb; bi++) {
    let b = wg.z * params.nb + bi;
    let inp0 = b * params.inp_stride;
    let out0 = b * params.out_stride;
    for (var k0 = 0u; k0 < M; k0 += BK) {
      var a = vec4(0.0);
      var x = vec4(0.0);
      if (k0 + bk < M) {
        a = dout_quad(out0 + (k0 + bk) * OC, row0 + bn, OC);  // doutᵀ (OC, M)
        x = inp_quad(inp0 + (k0 + bk) * C, col0 + bn, C);     // inp (M, C)
      }
      As[bk * Q + bn / 4u] = a;
      Bs[bk * Q + bn / 4u] = x;
      workgroupBarrier();
      multiply_tile(lid3.x, lid3.y);
      workgroupBarrier();
    }
  }

  let w0 = wg.z * params.weight_stride;
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + 64u * (i / 4u) + 4u * lid3.y + i % 4u;
    if (row >= OC) { continue; }
    for (var h = 0u; h < 2u; h++) {
      for (var j = 0u; j < 4u; j++) {
        let col = col0 + 64u * h + 4u * lid3.x + j;
        if (col >= C) { continue; }
        dweight[w0 + row * C + col] += acc[2u * i + h][j];
      }
    }
  }
}
