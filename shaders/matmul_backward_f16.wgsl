enable f16;
// Matmul backward, variant "f16" (src/engine/tuning/variants.ts; needs shader-f16): the dinp and
// dweight products of matmul_backward.wgsl (same bindings, Params and semantics; dbias stays
// there) with f16 arithmetic and f32 accumulation, in the tiling of matmul_forward_f16.wgsl: 16 x
// 16 threads, a 64 x 64 output tile, 4 x 4 outputs per thread, K slices of 16 in workgroup memory
// as f16 (half the safe kernel's bytes), each slice's 16 products per output fused-multiply-added
// in vec4<f16> and added to f32 accumulators (rounding does not grow with K).
//   dinp     dinp (M, C) = dout (M, OC) · weight (OC, C)  (+= when accumulate), + LoRA:
//            dropout'(lora_g (M, R) · lora_a (R, C)) in its own accumulator, as matmul_backward.wgsl
//   dweight  dweight (OC, C) += doutᵀ · inp over the M rows of params.nb batches
//
// Gradients are far below f16's range (dout ~1e-6 .. 1e-9 in training; f16's smallest normal is
// 6.1e-5, its smallest subnormal 6e-8): rounded as they are, they would lose most of their bits or
// become 0. So each operand's run of a K slice (one tile row of A, one tile column of B: 16
// values) is scaled by a power of two that brings its largest magnitude into [0.5, 1) before it
// is rounded to f16 (block floating point), and the slice's f16 sum is multiplied back by the two
// runs' inverse scales as it joins the f32 accumulator. Every product is then < 1 in magnitude and
// a slice's sum < 16 (no overflow, whatever the values' range), and each value keeps f16's 11
// bits relative to the largest of its run. Powers of two scale exactly.
//
// Loading: one thread per run (64 threads the rows of A, 64 the columns of B) reads its 16
// values, finds their largest magnitude and writes them scaled; the other 128 threads wait at
// the barrier. Same number of barriers as the safe kernel (two per slice).
//
// Placeholders as matmul_backward.wgsl except {{ENABLE_F16}} (f16 is always enabled here):
// {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const TILE: u32 = 64u;
const BK: u32 = 16u;

#include "lib/matmul_backward_params.wgsl"

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;     // (batch, M, C)
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;  // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> dout: array<{{F32_T}}>;     // (batch, M, OC)
@group(0) @binding(4) var<storage, read> inp: array<{{F32_T}}>;      // (batch, M, C)
@group(0) @binding(5) var<storage, read> weight: array<{{W_T}}>;     // (OC, C) or (batch, OC, C)
@group(0) @binding(6) var<storage, read> lora_g: array<f32>;     // (M, R); any tensor when lora_r is 0
@group(0) @binding(7) var<storage, read> lora_a: array<f32>;     // (R, C)
@group(0) @binding(8) var<uniform> params: Params;

// A run's values past the operand's edge are 0. Each loop iteration assigns this explicitly: a
// `var` declared without initializer inside the loop kept the previous slice's values on lavapipe.
const ZERO_RUN = array<vec4<f32>, 4>(vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));

// A (BK, TILE) k-major, each tile row scaled, then B (BK, TILE) k-major, each tile column scaled:
// one array, so that a run is stored without a branch on which operand it belongs to.
var<workgroup> tiles: array<f16, 2048>;
var<workgroup> unscale: array<f32, 128>;  // per run: A's 64 tile rows, then B's 64 tile columns
const B_AT: u32 = 1024u;  // B's first element in tiles
var<private> acc: array<vec4<f32>, 4>;  // acc[i][j]: output row ty + 16i, column tx + 16j

#include "lib/lora_dropout.wgsl"
#include "lib/matmul_io.wgsl"
#include "lib/matmul_backward_io.wgsl"

fn clear_acc() {
  for (var i = 0u; i < 4u; i++) {
    acc[i] = vec4(0.0);
  }
}

// Run `lid` (thread lid < 64: tile row lid of A; 64 <= lid < 128: tile column lid - 64 of B), its 16 values
// of the slice in k order, scaled into f16 (see the top).
fn store_run(lid: u32, run: array<vec4<f32>, 4>) {
  var v = run;
  let m4 = max(max(abs(v[0]), abs(v[1])), max(abs(v[2]), abs(v[3])));
  let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
  var scale = 1.0;
  var inv = 1.0;
  if (m > 0.0 && m <= 3.4e38) {
    let e = clamp(frexp(m).exp, -125, 125);  // m = f · 2^e, f in [0.5, 1)
    scale = ldexp(1.0, -e);
    inv = ldexp(1.0, e);
  }
  let at = select(B_AT, 0u, lid < 64u) + lid % 64u;
  for (var q = 0u; q < 4u; q++) {
    let h = vec4<f16>(v[q] * scale);
    tiles[at + (4u * q) * TILE] = h.x;
    tiles[at + (4u * q + 1u) * TILE] = h.y;
    tiles[at + (4u * q + 2u) * TILE] = h.z;
    tiles[at + (4u * q + 3u) * TILE] = h.w;
  }
  unscale[lid] = inv;
}

// acc += A slice ᵀ · B slice: 16 products per output in f16, unscaled into f32.
fn multiply_tile(tx: u32, ty: u32) {
  var part: array<vec4<f16>, 4>;
  for (var k = 0u; k < BK; k++) {
    let a = k * TILE + ty;
    let b = k * TILE + tx;
    let bv = vec4<f16>(tiles[B_AT + b], tiles[B_AT + b + 16u], tiles[B_AT + b + 32u], tiles[B_AT + b + 48u]);
    part[0] = fma(vec4<f16>(tiles[a]), bv, part[0]);
    part[1] = fma(vec4<f16>(tiles[a + 16u]), bv, part[1]);
    part[2] = fma(vec4<f16>(tiles[a + 32u]), bv, part[2]);
    part[3] = fma(vec4<f16>(tiles[a + 48u]), bv, part[3]);
  }
  let bu = vec4(unscale[64u + tx], unscale[64u + tx + 16u], unscale[64u + tx + 32u], unscale[64u + tx + 48u]);
  for (var i = 0u; i < 4u; i++) {
    acc[i] += vec4<f32>(part[i]) * (unscale[ty + 16u * i] * bu);
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
  let row = row0 + lid;        // lid < 64: this row of dout (A: 16 consecutive k)
  let col = col0 + lid - 64u;  // 64 <= lid < 128: this column of weight (B: 16 rows k)

  // The OC slices, then the LoRA rank slices (g (M, R) · A (R, C), g read like dout, A like
  // weight) into a fresh accumulator, in one loop: one copy of the loader and of the product for
  // the shader compiler (lavapipe takes seconds per copy of f16 code on a cold shader cache).
  let R = params.lora_r;
  let n_main = (OC + BK - 1u) / BK;
  let n_all = n_main + (R + BK - 1u) / BK;
  var base = acc;
  clear_acc();
  for (var s = 0u; s < n_all; s++) {
    if (s == n_main) {
      base = acc;
      clear_acc();
    }
    var run = ZERO_RUN;
    if (s < n_main) {
      let k0 = s * BK;
      if (lid < 64u && row < M) {
        for (var q = 0u; q < 4u; q++) { run[q] = dout_quad(out0 + row * OC, k0 + 4u * q, OC); }
      }
      if (lid >= 64u && lid < 128u && col < C) {
        // Branch-free: clamped indices, zeros selected past OC (fewer blocks for the compiler).
        for (var k = 0u; k < BK; k++) {
          let v = weight_elem(w0 + min(k0 + k, OC - 1u) * C + col);
          run[k / 4u][k % 4u] = select(0.0, v, k0 + k < OC);
        }
      }
    } else {
      let k0 = (s - n_main) * BK;
      // Branch-free as above: clamped indices (R >= 1 here), zeros selected past the edges.
      let a_ok = lid < 64u && row < M;
      let b_ok = lid >= 64u && lid < 128u && col < C;
      let g0 = min(row, M - 1u) * R;
      let c = min(col, C - 1u);
      for (var k = 0u; k < BK; k++) {
        let kk = min(k0 + k, R - 1u);
        let v = select(lora_a[kk * C + c], lora_g[g0 + kk], lid < 64u);
        run[k / 4u][k % 4u] = select(0.0, v, (a_ok || b_ok) && k0 + k < R);
      }
    }
    if (lid < 128u) { store_run(lid, run); }
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }
  if (R == 0u) { base = acc; }

  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid3.y + 16u * i;
    if (r >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid3.x + 16u * j;
      if (c >= C) { break; }
      let at = inp0 + r * C + c;
      var v = base[i][j];
      if (R > 0u) { v += dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, r, c) * acc[i][j]; }
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
  let o = row0 + lid;        // lid < 64: this column of dout (A = doutᵀ: 16 rows k)
  let col = col0 + lid - 64u;  // 64 <= lid < 128: this column of inp (B: 16 rows k)

  clear_acc();
  for (var bi = 0u; bi < params.nb; bi++) {
    let b = wg.z * params.nb + bi;
    let inp0 = b * params.inp_stride;
    let out0 = b * params.out_stride;
    for (var k0 = 0u; k0 < M; k0 += BK) {
      var run = ZERO_RUN;
      if (lid < 128u) {
        for (var k = 0u; k < BK; k++) {
          if (k0 + k < M) {
            if (lid < 64u && o < OC) { run[k / 4u][k % 4u] = dout_at(out0 + (k0 + k) * OC + o); }
            if (lid >= 64u && col < C) { run[k / 4u][k % 4u] = inp_at(inp0 + (k0 + k) * C + col); }
          }
        }
        store_run(lid, run);
      }
      workgroupBarrier();
      multiply_tile(lid3.x, lid3.y);
      workgroupBarrier();
    }
  }

  let w0 = wg.z * params.weight_stride;
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid3.y + 16u * i;
    if (r >= OC) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid3.x + 16u * j;
      if (c >= C) { break; }
      dweight[w0 + r * C + c] += acc[i][j];
    }
  }
}
