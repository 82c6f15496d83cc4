enable subgroups;
// Block-quantized matmul forward, variant "shuffle" (src/engine/tuning/variants.ts; needs
// subgroups of at least 8 invocations): the product of matmul_nbits_forward.wgsl (same bindings
// and Params: out (M, N) = inp (M, K) · Wᵀ + bias, W dequantized from onnxruntime's MatMulNBits
// layout, accumulate, the LoRA term as extra K steps), laid out as matmul_forward_shuffle.wgsl
// for adapters where every thread's memory read is costly and registers are cheap (CPU adapters
// read storage and workgroup memory one SIMD lane at a time). No workgroup memory, no barriers:
//
// A workgroup of 64 threads computes a 16 x 128 tile of out: thread t owns columns
// col0 + t + 64h (h = 0, 1) of all 16 rows, 32 sums in registers. Per octet of k (one word of
// 4-bit codes, two of 8-bit ones, one (scale, zero) pair per column), each thread decodes its 2
// columns' codes and reads two quads of inp for 2 rows only; the other rows' values come from the
// octet of lanes that read them by subgroupShuffle (as onnxruntime's MatMulNBits shares its inp
// rows). So 2 words of codes and 4 quads of inp per thread feed 256 multiply-adds.

const ROWS: u32 = 16u;   // output rows per workgroup: 2 octets
const COLS: u32 = 128u;  // output columns per workgroup: 2 per thread

#include "lib/matmul_nbits_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (M, N)
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (M, K)
@group(0) @binding(2) var<storage, read> codes: array<u32>;      // (N, n_blocks, blob) bytes
@group(0) @binding(3) var<storage, read> sz: array<vec2<f32>>;   // (N, n_blocks) (scale, zero)
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (N); any tensor when has_bias is 0
@group(0) @binding(5) var<storage, read> lora_xa: array<f32>;    // (M, R); any tensor when lora_r is 0
@group(0) @binding(6) var<storage, read> lora_b: array<f32>;     // (N, R) from lora_b_offset
@group(0) @binding(7) var<uniform> params: Params;

#include "lib/blockq.wgsl"
#include "lib/blockq_octet.wgsl"      // nbits_octet
#include "lib/matmul_lora_io.wgsl"     // lora_xa_quad, lora_b_quad
#include "lib/matmul_shuffle_tile.wgsl"  // Tile, quad_step

// row[k .. k + 3] of inp (row = flat index of the row's first value); past K a clamped index,
// replaced by 0 (a select, not a branch: branches make every lane's work conditional on CPU
// adapters).
fn a_quad(row: u32, k: u32) -> vec4<f32> {
  let K = params.K;
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, inp[row + min(k + i, K - 1u)], k + i < K);
  }
  return v;
}

fn store4(m: mat4x2<f32>, row: u32, col: vec2<u32>) {
  for (var i = 0u; i < 4u; i++) {
    if (row + i >= params.M) { return; }
    for (var h = 0u; h < 2u; h++) {
      if (col[h] >= params.N) { continue; }
      var v = m[i][h];
      if (params.has_bias != 0u) { v += bias[col[h]]; }
      let at = (row + i) * params.N + col[h];
      if (params.accumulate != 0u) { v += out[at]; }
      out[at] = v;
    }
  }
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let M = params.M;
  let K = params.K;
  let N = params.N;
  let row0 = wg.y * ROWS;
  let col = wg.x * COLS + lid + vec2(0u, 64u);  // this thread's columns
  let octet = lane & ~7u;                        // the octet's first lane
  // Rows and columns past the edge read the last one (clamped: no branch in the loop) and are
  // not stored.
  let own = min(row0 + (lane & 7u) + vec2(0u, 8u), vec2(M - 1u));  // rows this lane reads
  let a_row = own * K;
  let cols = min(col, vec2(N - 1u));

  let z = mat4x2<f32>();
  var t = Tile(z, z, z, z);
  // Octets inside K's blocks (a block holds 16 or more codes; past K inp is zero).
  for (var k = 0u; k < K; k += 8u) {
    let w0 = nbits_octet(cols.x, k);
    let w1 = nbits_octet(cols.y, k);
    for (var half = 0u; half < 2u; half++) {
      let kk = k + 4u * half;
      let a = transpose(mat2x4<f32>(a_quad(a_row.x, kk), a_quad(a_row.y, kk)));
      let w = transpose(mat2x4<f32>(w0[half], w1[half]));
      t = quad_step(t, a, w, octet);
    }
  }
  // The LoRA term: K steps over the rank, xa rows against lora_b rows (R any size).
  let R = params.lora_r;
  let xa_row = own * R;
  let b_row = params.lora_b_offset + cols * R;
  for (var k = 0u; k < R; k += 4u) {
    let a = transpose(mat2x4<f32>(lora_xa_quad(xa_row.x, k, R), lora_xa_quad(xa_row.y, k, R)));
    let w = transpose(mat2x4<f32>(lora_b_quad(b_row.x, k, R), lora_b_quad(b_row.y, k, R)));
    t = quad_step(t, a, w, octet);
  }

  store4(t.m0, row0, col);
  store4(t.m1, row0 + 4u, col);
  store4(t.m2, row0 + 8u, col);
  store4(t.m3, row0 + 12u, col);
}
