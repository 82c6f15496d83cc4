// Matmul forward with a block-quantized weight (QLoRA's frozen base): out (M, N) = inp (M, K) ·
// W (N, K)ᵀ + bias (N), W dequantized inside the tiles from the packed codes
// (src/engine/blockq.ts: onnxruntime's MatMulNBits layout, 4 or 8 bits, blocks of 16-256 along K):
//   W[n, k] = (code(n, k) − zero[n, k / bs]) · scale[n, k / bs]
// Assigns, or accumulates (out +=) when params.accumulate is 1.
//
// LoRA (lora_r > 0): out += lora_xa (M, R) · lora_b (N, R)ᵀ, run through the same tiles after the
// K slices, as in matmul_forward.wgsl (lora_xa = s · dropout(x) · Aᵀ from lora_forward.wgsl).
//
// Tiling as matmul_forward.wgsl: a 16 x 16 workgroup computes a 64 x 64 tile of out, each thread
// 4 x 4 outputs in registers; K walked in slices of 16, each thread loading one quad (4
// consecutive k) of inp and one of W into workgroup memory, k-major. A quad of W is one u32 word
// of codes (8-bit) or half of one (4-bit), with one (scale, zero) pair: k0 + 4j never crosses a
// block, blocks being multiples of 4 long.

const TILE: u32 = 64u;  // output rows and columns per workgroup
const BK: u32 = 16u;    // K slice per barrier

#include "lib/matmul_nbits_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (M, N)
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (M, K)
@group(0) @binding(2) var<storage, read> codes: array<u32>;      // (N, n_blocks, blob) bytes
@group(0) @binding(3) var<storage, read> sz: array<vec2<f32>>;   // (N, n_blocks) (scale, zero)
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (N); any tensor when has_bias is 0
@group(0) @binding(5) var<storage, read> lora_xa: array<f32>;    // (M, R); any tensor when lora_r is 0
@group(0) @binding(6) var<storage, read> lora_b: array<f32>;     // (N, R) from lora_b_offset
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> As: array<f32, 1024>;  // (BK, TILE) inp tile, k-major
var<workgroup> Bs: array<f32, 1024>;  // (BK, TILE) weight tile, k-major
var<private> acc: array<vec4<f32>, 4>;  // acc[i][j]: out row ty + 16i, column tx + 16j

#include "lib/blockq.wgsl"
#include "lib/matmul_lora_io.wgsl"  // lora_xa_quad, lora_b_quad
#include "lib/matmul_nbits_io.wgsl"  // inp_quad, weight_quad

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
  let K = params.K;
  let N = params.N;
  let row0 = wg.y * TILE;  // first row of the tile (M)
  let col0 = wg.x * TILE;  // first column of the tile (N)

  // Loader: thread lid fetches the quad at k offset lk of tile row lr, for inp and for W.
  let lr = lid / 4u;
  let lk = (lid % 4u) * 4u;
  let a_row = row0 + lr;
  let b_row = col0 + lr;

  for (var i = 0u; i < 4u; i++) {
    acc[i] = vec4(0.0);
  }
  for (var k0 = 0u; k0 < K; k0 += BK) {
    var a = vec4(0.0);
    if (a_row < M) { a = inp_quad(a_row * K, k0 + lk, K); }
    var b = vec4(0.0);
    if (b_row < N) { b = weight_quad(b_row, k0 + lk); }
    for (var c = 0u; c < 4u; c++) {
      As[(lk + c) * TILE + lr] = a[c];
      Bs[(lk + c) * TILE + lr] = b[c];
    }
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }
  // The LoRA term: K slices over the rank, xa rows against lora_b rows.
  let R = params.lora_r;
  for (var k0 = 0u; k0 < R; k0 += BK) {
    var a = vec4(0.0);
    if (a_row < M) { a = lora_xa_quad(a_row * R, k0 + lk, R); }
    var b = vec4(0.0);
    if (b_row < N) { b = lora_b_quad(params.lora_b_offset + b_row * R, k0 + lk, R); }
    for (var c = 0u; c < 4u; c++) {
      As[(lk + c) * TILE + lr] = a[c];
      Bs[(lk + c) * TILE + lr] = b[c];
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
      if (col >= N) { break; }
      var v = acc[i][j];
      if (params.has_bias != 0u) { v += bias[col]; }
      let at = row * N + col;
      if (params.accumulate != 0u) { v += out[at]; }
      out[at] = v;
    }
  }
}
