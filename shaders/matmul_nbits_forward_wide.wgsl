// Block-quantized matmul forward, variant "wide" (src/engine/tuning/variants.ts): the same
// product, bindings and Params as matmul_nbits_forward.wgsl (out (M, N) = inp (M, K) · Wᵀ + bias,
// W dequantized from onnxruntime's MatMulNBits layout, accumulate, the LoRA term), laid out with
// whole columns of out per thread and no weight tile in workgroup memory:
//
// A workgroup of 64 threads computes 16 rows x 256 columns of out: thread t owns the 4 columns
// col0 + t + 64c (c < 4), all 16 rows, in registers. K is walked in slices of 32: the threads load
// the 16 x 32 slice of inp into workgroup memory (two quads each), then each thread decodes its
// columns' codes octet by octet (8 k: one word of 4-bit codes or two of 8-bit codes, one (scale,
// zero) pair) straight into registers and multiplies them with the 16 rows of the slice. Every
// thread reads the same inp value at the same time (a broadcast), and each value read feeds 4
// fused multiply-adds. Rows past 16 take more workgroups (workgroup_id.y), which decode again.

const TM: u32 = 16u;   // rows of out per workgroup
const TC: u32 = 64u;   // threads; each owns columns t + TC·c, c < 4
const TN: u32 = 256u;  // columns of out per workgroup
const BK: u32 = 32u;   // K slice per barrier
const QK: u32 = 8u;    // quads per row of the inp slice (BK / 4)

#include "lib/matmul_nbits_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (M, N)
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (M, K)
@group(0) @binding(2) var<storage, read> codes: array<u32>;      // (N, n_blocks, blob) bytes
@group(0) @binding(3) var<storage, read> sz: array<vec2<f32>>;   // (N, n_blocks) (scale, zero)
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (N); any tensor when has_bias is 0
@group(0) @binding(5) var<storage, read> lora_xa: array<f32>;    // (M, R); any tensor when lora_r is 0
@group(0) @binding(6) var<storage, read> lora_b: array<f32>;     // (N, R) from lora_b_offset
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> a_tile: array<vec4<f32>, 128>;  // (TM, QK) quads of the inp slice, row-major

#include "lib/blockq.wgsl"
#include "lib/matmul_nbits_io.wgsl"  // inp_quad
#include "lib/blockq_octet.wgsl"     // nbits_octet

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let M = params.M;
  let K = params.K;
  let N = params.N;
  let row0 = wg.y * TM;
  let col0 = wg.x * TN + lid;  // this thread's first column; then + TC, + 2·TC, + 3·TC
  // Columns past N decode the last column (in bounds, never written): no divergence in the loop.
  var cols: vec4<u32>;
  for (var c = 0u; c < 4u; c++) {
    cols[c] = min(col0 + TC * c, N - 1u);
  }

  // acc[i][c]: out row row0 + i, column col0 + TC·c
  var acc: array<vec4<f32>, 16>;
  for (var i = 0u; i < TM; i++) {
    acc[i] = vec4(0.0);
  }
  for (var k0 = 0u; k0 < K; k0 += BK) {
    // Loader: thread lid fetches quads lid and lid + 64 of the slice (row q / QK, quad q % QK).
    for (var h = 0u; h < 2u; h++) {
      let q = lid + TC * h;
      let a_row = row0 + q / QK;
      var a = vec4(0.0);
      if (a_row < M) { a = inp_quad(a_row * K, k0 + (q % QK) * 4u, K); }
      a_tile[q] = a;
    }
    workgroupBarrier();
    // Octets of this slice inside K (past K inp is zero, and a column may have no such block).
    let octets = min(BK / 8u, (K - k0 + 7u) / 8u);
    for (var j = 0u; j < octets; j++) {
      let k = k0 + 8u * j;
      let o0 = nbits_octet(cols[0], k);
      let o1 = nbits_octet(cols[1], k);
      let o2 = nbits_octet(cols[2], k);
      let o3 = nbits_octet(cols[3], k);
      // w[e]: the 4 columns' weights at k + e.
      var w: array<vec4<f32>, 8>;
      for (var e = 0u; e < 4u; e++) {
        w[e] = vec4(o0[0][e], o1[0][e], o2[0][e], o3[0][e]);
        w[e + 4u] = vec4(o0[1][e], o1[1][e], o2[1][e], o3[1][e]);
      }
      for (var i = 0u; i < TM; i++) {
        let a0 = a_tile[i * QK + 2u * j];
        let a1 = a_tile[i * QK + 2u * j + 1u];
        acc[i] += a0.x * w[0] + a0.y * w[1] + a0.z * w[2] + a0.w * w[3]
                + a1.x * w[4] + a1.y * w[5] + a1.z * w[6] + a1.w * w[7];
      }
    }
    workgroupBarrier();
  }

  let R = params.lora_r;
  for (var c = 0u; c < 4u; c++) {
    let n = col0 + TC * c;
    if (n >= N) { break; }
    let lb = params.lora_b_offset + n * R;
    for (var i = 0u; i < TM; i++) {
      let m = row0 + i;
      if (m >= M) { break; }
      var v = acc[i][c];
      for (var j = 0u; j < R; j++) {
        v += lora_xa[m * R + j] * lora_b[lb + j];
      }
      if (params.has_bias != 0u) { v += bias[n]; }
      let at = m * N + n;
      if (params.accumulate != 0u) { v += out[at]; }
      out[at] = v;
    }
  }
}
