// Block-quantized matmul forward, variant "gemv" (src/engine/tuning/variants.ts): the same
// product, bindings and Params as matmul_nbits_forward.wgsl (out (M, N) = inp (M, K) · Wᵀ + bias,
// W dequantized from onnxruntime's MatMulNBits layout, accumulate, the LoRA term), laid out for
// few rows M (decoding), where the tiled kernels leave most of their 64 or 128 rows idle and the
// work is a matrix-vector product over the packed codes:
//
// A workgroup of 32 x 8 threads owns 8 columns n of out (one per ty) and 4 rows. The 32 threads
// of a column split K in octets (8 consecutive k: one word of 4-bit codes or two of 8-bit codes,
// one (scale, zero) pair, never across a block, blocks being 16 to 256 long), interleaved so that
// neighbouring threads read neighbouring words; each octet is decoded once and multiplied with up
// to 4 rows of inp. The 32 partial sums per (row, column) meet in workgroup memory, where one
// thread per row adds them, the LoRA term (a length-R dot product), the bias and what out held.
// Rows go 4 per workgroup (workgroup_id.y): M > 4 decodes the weights again per 4 rows.

const COLS: u32 = 8u;  // columns of out per workgroup (workgroup_size y)
const TK: u32 = 32u;   // threads along K per column (workgroup_size x)
const MR: u32 = 4u;    // rows of out per workgroup

#include "lib/matmul_nbits_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (M, N)
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (M, K)
@group(0) @binding(2) var<storage, read> codes: array<u32>;      // (N, n_blocks, blob) bytes
@group(0) @binding(3) var<storage, read> sz: array<vec2<f32>>;   // (N, n_blocks) (scale, zero)
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (N); any tensor when has_bias is 0
@group(0) @binding(5) var<storage, read> lora_xa: array<f32>;    // (M, R); any tensor when lora_r is 0
@group(0) @binding(6) var<storage, read> lora_b: array<f32>;     // (N, R) from lora_b_offset
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> partial: array<vec4<f32>, 256>;  // [ty · TK + tx][r]: thread's sum for row m0 + r

#include "lib/blockq.wgsl"
#include "lib/matmul_nbits_io.wgsl"  // inp_quad
#include "lib/blockq_octet.wgsl"     // nbits_octet

@compute @workgroup_size(32, 8)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let M = params.M;
  let K = params.K;
  let N = params.N;
  let n = wg.x * COLS + lid3.y;  // this thread's column of out
  let live = n < N;
  let octets = (K + 7u) / 8u;

  let m0 = wg.y * MR;  // first row of this workgroup
  var acc = vec4(0.0);
  if (live) {
    for (var o = lid3.x; o < octets; o += TK) {
      let k = o * 8u;
      let w = nbits_octet(n, k);
      let w0 = w[0];
      let w1 = w[1];
      // Codes past K (the padded last block) meet zeros of inp: they are finite, so add nothing.
      let whole = k + 8u <= K;
      for (var r = 0u; r < MR; r++) {
        let m = m0 + r;
        if (m >= M) { break; }
        let at = m * K + k;
        var a0: vec4<f32>;
        var a1: vec4<f32>;
        if (whole) {
          a0 = vec4(inp[at], inp[at + 1u], inp[at + 2u], inp[at + 3u]);
          a1 = vec4(inp[at + 4u], inp[at + 5u], inp[at + 6u], inp[at + 7u]);
        } else {
          a0 = inp_quad(m * K, k, K);
          a1 = inp_quad(m * K, k + 4u, K);
        }
        acc[r] += dot(a0, w0) + dot(a1, w1);
      }
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  let m = m0 + lid3.x;
  if (live && lid3.x < MR && m < M) {
    var v = 0.0;
    for (var t = 0u; t < TK; t++) {
      v += partial[lid3.y * TK + t][lid3.x];
    }
    let R = params.lora_r;
    let lb = params.lora_b_offset + n * R;
    for (var j = 0u; j < R; j++) {
      v += lora_xa[m * R + j] * lora_b[lb + j];
    }
    if (params.has_bias != 0u) { v += bias[n]; }
    let at = m * N + n;
    if (params.accumulate != 0u) { v += out[at]; }
    out[at] = v;
  }
}
