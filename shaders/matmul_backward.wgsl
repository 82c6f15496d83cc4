{{ENABLE_F16}}
// Matmul backward, three entry points (forward: out (M, OC) = inp (M, C) · weight (OC, C)ᵀ + bias):
//   dinp     dinp (M, C) = dout (M, OC) · weight (OC, C); assigns, or accumulates (+=) when
//            params.accumulate is 1 (several projections read the same input)
//   dweight  dweight (OC, C) += doutᵀ · inp, each output reducing over all M rows (a GEMM with
//            K = M; no atomics); with a shared weight it also reduces over the batches
//   dbias    dbias (OC) += Σ over batches and rows of dout
// Batches as in the forward: workgroup_id.z, element strides; weight_stride 0 = shared weight.
//
// LoRA in dinp (lora_r > 0, one batch): dinp += dropout'(lora_g (M, R) · lora_a (R, C)), where
// lora_g = s · dY · B comes from lora_backward.wgsl (dyb_main). The rank slices run through the
// tiles after the OC slices, into their own accumulator, because inverted dropout masks only the
// LoRA path: element (row, col) is scaled by the forward's mask factor (lib/lora_dropout.wgsl, as
// lora_forward.wgsl) before it joins dY · W.
//
// dinp and dweight use the forward's tiling: 16 x 16 threads, a 64 x 64 output tile, 4 x 4
// outputs per thread in registers, K slices of 16 staged k-major in workgroup memory. Operands
// whose K runs along memory (dout rows in dinp) are fetched as quads along K; operands whose
// output dimension runs along memory (weight in dinp, dout and inp in dweight) as quads along it.
//
// Placeholders, as in matmul_forward.wgsl:
//   {{ENABLE_F16}}  `enable f16;` for the native f16 weight path, else empty
//   {{VEC}}         4: C, OC and the batch strides are multiples of 4 (vec4 loads); 1: scalar
//   {{F32_T}}       element type of dout and inp: vec4<f32> when VEC is 4, else f32
//   {{W_KIND}}      weight storage: 0 f32, 1 f16 packed two per u32, 2 native f16
//   {{W_T}}         element type of weight: f32 / vec4<f32>, u32 (packed), f16 / vec4<f16>

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const TILE: u32 = 64u;
const BK: u32 = 16u;

#include "lib/matmul_backward_params.wgsl"

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;     // (batch, M, C)
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;  // (OC, C) or (batch, OC, C)
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;    // (OC)
@group(0) @binding(3) var<storage, read> dout: array<{{F32_T}}>;     // (batch, M, OC)
@group(0) @binding(4) var<storage, read> inp: array<{{F32_T}}>;      // (batch, M, C)
@group(0) @binding(5) var<storage, read> weight: array<{{W_T}}>;     // (OC, C) or (batch, OC, C)
@group(0) @binding(6) var<storage, read> lora_g: array<f32>;     // (M, R); any tensor when lora_r is 0
@group(0) @binding(7) var<storage, read> lora_a: array<f32>;     // (R, C)
@group(0) @binding(8) var<uniform> params: Params;

var<workgroup> As: array<f32, 1024>;  // (BK, TILE) k-major
var<workgroup> Bs: array<f32, 1024>;  // (BK, TILE) k-major
var<workgroup> partial: array<f32, 256>;  // dbias: (4, 64) row-group sums
var<private> acc: array<vec4<f32>, 4>;  // acc[i][j]: output row ty + 16i, column tx + 16j

#include "lib/lora_dropout.wgsl"

#include "lib/matmul_io.wgsl"  // inp_quad, weight_at, weight_quad: storage reads for any VEC, W_KIND
#include "lib/matmul_backward_io.wgsl"  // dout_quad, dout_at

fn clear_acc() {
  for (var i = 0u; i < 4u; i++) {
    acc[i] = vec4(0.0);
  }
}

// acc += As slice ᵀ · Bs slice for this thread's 4 x 4 outputs.
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

  // A = dout (M, OC), contiguous along K: thread fetches the quad at k offset ak of tile row ar.
  let ar = lid / 4u;
  let ak = (lid % 4u) * 4u;
  // B = weight (OC, C), contiguous along the output columns: the quad at column bn of slice row bk.
  let bk = lid / 16u;
  let bn = (lid % 16u) * 4u;

  clear_acc();
  for (var k0 = 0u; k0 < OC; k0 += BK) {
    var a = vec4(0.0);
    if (row0 + ar < M) { a = dout_quad(out0 + (row0 + ar) * OC, k0 + ak, OC); }
    var b = vec4(0.0);
    if (k0 + bk < OC) { b = weight_quad(w0 + (k0 + bk) * C, col0 + bn, C); }
    for (var c = 0u; c < 4u; c++) {
      As[(ak + c) * TILE + ar] = a[c];
      Bs[bk * TILE + bn + c] = b[c];
    }
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
    for (var c = 0u; c < 4u; c++) {
      As[(ak + c) * TILE + ar] = a[c];
      Bs[bk * TILE + bn + c] = b[c];
    }
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid3.y + 16u * i;
    if (row >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid3.x + 16u * j;
      if (col >= C) { break; }
      let at = inp0 + row * C + col;
      var v = base[i][j];
      if (R > 0u) { v += dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, row, col) * acc[i][j]; }
      if (params.accumulate != 0u) { v += dinp[at]; }
      dinp[at] = v;
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
  let bk = lid / 16u;
  let bn = (lid % 16u) * 4u;

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
      for (var c = 0u; c < 4u; c++) {
        As[bk * TILE + bn + c] = a[c];
        Bs[bk * TILE + bn + c] = x[c];
      }
      workgroupBarrier();
      multiply_tile(lid3.x, lid3.y);
      workgroupBarrier();
    }
  }

  let w0 = wg.z * params.weight_stride;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid3.y + 16u * i;
    if (row >= OC) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid3.x + 16u * j;
      if (col >= C) { break; }
      dweight[w0 + row * C + col] += acc[i][j];
    }
  }
}

// dbias: a 64 x 4 workgroup owns 64 columns; each of its 4 row groups sums every 4th row of
// every batch (coalesced reads along OC), then the 4 partial sums are added in order.
@compute @workgroup_size(64, 4)
fn dbias_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let M = params.M;
  let OC = params.OC;
  let col = wg.x * 64u + lid3.x;
  var sum = 0.0;
  if (col < OC) {
    for (var b = 0u; b < params.nb; b++) {
      let out0 = b * params.out_stride;
      for (var m = lid3.y; m < M; m += 4u) {
        sum += dout_at(out0 + m * OC + col);
      }
    }
  }
  partial[lid3.y * 64u + lid3.x] = sum;
  workgroupBarrier();
  if (lid3.y == 0u && col < OC) {
    dbias[col] += partial[lid3.x] + partial[64u + lid3.x] + partial[128u + lid3.x] + partial[192u + lid3.x];
  }
}
