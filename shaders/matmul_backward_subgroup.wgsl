enable subgroups;
{{ENABLE_F16}}
// Matmul backward, variant "subgroup" (src/engine/tuning/variants.ts; needs subgroups): the dinp
// and dweight products of matmul_backward.wgsl (same bindings, Params and semantics; dbias stays
// there) with no workgroup memory and no barriers, for training shapes (M = B·T rows, hundreds).
//   dinp     dinp (M, C) = dout (M, OC) · weight (OC, C)  (+= when accumulate), + LoRA:
//            dropout'(lora_g (M, R) · lora_a (R, C)) in its own accumulator, as matmul_backward.wgsl
//   dweight  dweight (OC, C) += doutᵀ · inp over the M rows of params.nb batches
//
// A workgroup of 64 threads computes ROWS (8) output rows x 256 columns: thread t holds the 8 x 4
// outputs of columns 4t .. 4t + 3 in registers. Per k, each thread reads its own quad of B (the
// operand that runs along the output columns: weight in dinp, inp in dweight; vec4 loads where
// VEC is 4, coalesced) and needs the 8 values of A (dout's rows in dinp, dout's columns in
// dweight) at k, which every thread of the workgroup shares: instead of staging them in workgroup
// memory behind barriers, each subgroup reads a chunk of S consecutive k (S = subgroup size), lane
// l the 8 values at k0 + l, and walks the chunk taking lane j's values with subgroupShuffle.
// Every thread of the workgroup works on the same rows, so this holds whatever the subgroup size
// is and whichever invocations share a subgroup; a subgroup larger than the workgroup (more than
// 64 lanes) walks chunks of 64. Shuffles stay in uniform control flow: the chunk loop's trip
// count is uniform, and lanes past K, M, or the columns read zeros and write nothing.
//
// On lavapipe a workgroup runs as one CPU thread and a barrier splits the shader into pieces run
// for every invocation in turn; here there is none, and a subgroup is one SIMD register of lanes.
//
// Placeholders as matmul_backward.wgsl: {{ENABLE_F16}}, {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const THREADS: u32 = 64u;
const RQ: u32 = 2u;         // quads of output rows per workgroup
const ROWS: u32 = 4u * RQ;  // output rows per workgroup (8; 16 measured no better on lavapipe); columns: 4 per thread, 256

#include "lib/matmul_backward_params.wgsl"

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;     // (batch, M, C)
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;  // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> dout: array<{{F32_T}}>;     // (batch, M, OC)
@group(0) @binding(4) var<storage, read> inp: array<{{F32_T}}>;      // (batch, M, C)
@group(0) @binding(5) var<storage, read> weight: array<{{W_T}}>;     // (OC, C) or (batch, OC, C)
@group(0) @binding(6) var<storage, read> lora_g: array<f32>;     // (M, R); any tensor when lora_r is 0
@group(0) @binding(7) var<storage, read> lora_a: array<f32>;     // (R, C)
@group(0) @binding(8) var<uniform> params: Params;

var<private> acc: array<vec4<f32>, ROWS>;
// A's values at a lane's k, 4 rows per vec4; assigned afresh each chunk (zeros past the edges).
const ZERO_A = array<vec4<f32>, RQ>();  // acc[r]: output row row0 + r, columns 4t .. 4t + 3

#include "lib/lora_dropout.wgsl"
#include "lib/matmul_io.wgsl"
#include "lib/matmul_backward_io.wgsl"

fn clear_acc() {
  for (var r = 0u; r < ROWS; r++) {
    acc[r] = vec4(0.0);
  }
}

// acc += A's ROWS values at k (lane j's `a`, taken by subgroupShuffle) times this thread's quad
// `b` of B at k. Called with the same j by every invocation (uniform control flow).
fn fma_rows(a: array<vec4<f32>, RQ>, j: u32, b: vec4<f32>) {
  for (var h = 0u; h < RQ; h++) {
    let x = subgroupShuffle(a[h], j);
    acc[4u * h] += x.x * b;
    acc[4u * h + 1u] += x.y * b;
    acc[4u * h + 2u] += x.z * b;
    acc[4u * h + 3u] += x.w * b;
  }
}

// The chunk length: the subgroup size, at most the workgroup (inactive lanes hold nothing).
fn chunk(sg_size: u32) -> u32 {
  return min(sg_size, THREADS);
}

// dinp (M, C) rows row0 .. row0 + 7, columns col0 + 4t .. of batch wg.z; K = OC.
@compute @workgroup_size(64)
fn dinp_main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let row0 = wg.y * ROWS;
  let col = wg.x * 4u * THREADS + 4u * t;  // this thread's first column
  let inp0 = wg.z * params.inp_stride;
  let w0 = wg.z * params.weight_stride;
  let out0 = wg.z * params.out_stride;
  let S = chunk(sg_size);

  clear_acc();
  for (var k0 = 0u; k0 < OC; k0 += S) {
    // Lane l: dout[row0 + r][k0 + l] for the ROWS rows (0 past M or OC).
    var a = ZERO_A;
    let k = k0 + lane;
    if (lane < S && k < OC) {
      for (var r = 0u; r < ROWS; r++) {
        if (row0 + r < M) { a[r / 4u][r % 4u] = dout_at(out0 + (row0 + r) * OC + k); }
      }
    }
    let n = min(S, OC - k0);
    for (var j = 0u; j < n; j++) {
      fma_rows(a, j, weight_quad(w0 + (k0 + j) * C, col, C));
    }
  }

  // LoRA: g (M, R) · A (R, C) into a fresh accumulator; g is read like dout, A like weight.
  let base = acc;
  clear_acc();
  let R = params.lora_r;
  for (var k0 = 0u; k0 < R; k0 += S) {
    var a = ZERO_A;
    let k = k0 + lane;
    if (lane < S && k < R) {
      for (var r = 0u; r < ROWS; r++) {
        if (row0 + r < M) { a[r / 4u][r % 4u] = lora_g[(row0 + r) * R + k]; }
      }
    }
    let n = min(S, R - k0);
    for (var j = 0u; j < n; j++) {
      var b = vec4(0.0);
      for (var c = 0u; c < 4u; c++) {
        if (col + c < C) { b[c] = lora_a[(k0 + j) * C + col + c]; }
      }
      fma_rows(a, j, b);
    }
  }

  for (var r = 0u; r < ROWS; r++) {
    let row = row0 + r;
    if (row >= M) { break; }
    for (var c = 0u; c < 4u; c++) {
      if (col + c >= C) { break; }
      let at = inp0 + row * C + col + c;
      var v = base[r][c];
      if (R > 0u) { v += dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, row, col + c) * acc[r][c]; }
      if (params.accumulate != 0u) { v += dinp[at]; }
      dinp[at] = v;
    }
  }
}

// dweight (OC, C) rows row0 .. row0 + 7, columns col0 + 4t ..; K = the M rows of params.nb
// batches, starting at batch wg.z · nb (per-batch weights: nb = 1, one z per batch; shared
// weight: nb = batch, one z).
@compute @workgroup_size(64)
fn dweight_main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let row0 = wg.y * ROWS;  // rows of dweight (OC): columns of dout
  let col = wg.x * 4u * THREADS + 4u * t;
  let S = chunk(sg_size);

  clear_acc();
  for (var bi = 0u; bi < params.nb; bi++) {
    let b = wg.z * params.nb + bi;
    let inp0 = b * params.inp_stride;
    let out0 = b * params.out_stride;
    for (var k0 = 0u; k0 < M; k0 += S) {
      // Lane l: dout[k0 + l][row0 .. row0 + ROWS - 1] (doutᵀ's rows at k), quads along OC.
      var a = ZERO_A;
      let k = k0 + lane;
      if (lane < S && k < M) {
        for (var h = 0u; h < RQ; h++) { a[h] = dout_quad(out0 + k * OC, row0 + 4u * h, OC); }
      }
      let n = min(S, M - k0);
      for (var j = 0u; j < n; j++) {
        fma_rows(a, j, inp_quad(inp0 + (k0 + j) * C, col, C));
      }
    }
  }

  let w0 = wg.z * params.weight_stride;
  for (var r = 0u; r < ROWS; r++) {
    let row = row0 + r;
    if (row >= OC) { break; }
    for (var c = 0u; c < 4u; c++) {
      if (col + c >= C) { break; }
      dweight[w0 + row * C + col + c] += acc[r][c];
    }
  }
}
