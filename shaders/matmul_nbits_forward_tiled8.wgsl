// Block-quantized matmul forward, variant "tiled8" (src/engine/tuning/variants.ts): the same
// product, bindings and Params as matmul_nbits_forward.wgsl (out (M, N) = inp (M, K) · Wᵀ + bias,
// W dequantized from onnxruntime's MatMulNBits layout, accumulate, the LoRA term as extra K
// slices) with the register tile of matmul_forward_tiled8.wgsl:
//
// A 16 x 16 workgroup computes a 128 x 128 tile of out, each thread 8 x 8 outputs in registers:
// rows 4·ty .. 4·ty + 3 and 64 + 4·ty .. + 3, columns likewise with tx. K is walked in slices of
// 8: each thread loads one quad along K of the inp tile and one of W (one half-word of 4-bit codes
// or one word of 8-bit codes, decoded once for the workgroup's 128 rows of out) into workgroup
// memory, declared as vec4s so that the inner loop reads 2 + 2 vec4s per 64 fused multiply-adds.
// A thread keeps its row's (scale, zero) pair in registers and reads the next one only when its
// quads enter a new block (every 2^block_shift / 8 slices).

const TILE: u32 = 128u;  // output rows and columns per workgroup
const BK: u32 = 8u;      // K slice per barrier
const Q: u32 = 32u;      // vec4s per k-row of a tile (TILE / 4)

#include "lib/matmul_nbits_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (M, N)
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (M, K)
@group(0) @binding(2) var<storage, read> codes: array<u32>;      // (N, n_blocks, blob) bytes
@group(0) @binding(3) var<storage, read> sz: array<vec2<f32>>;   // (N, n_blocks) (scale, zero)
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (N); any tensor when has_bias is 0
@group(0) @binding(5) var<storage, read> lora_xa: array<f32>;    // (M, R); any tensor when lora_r is 0
@group(0) @binding(6) var<storage, read> lora_b: array<f32>;     // (N, R) from lora_b_offset
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> As: array<vec4<f32>, 256>;  // (BK, TILE) inp tile, k-major, 4 rows per vec4
var<workgroup> Bs: array<vec4<f32>, 256>;  // (BK, TILE) weight tile, k-major, 4 columns per vec4
// acc[2i + h][j]: out row r(i) = 64·(i / 4) + 4·ty + i % 4, column 64·h + 4·tx + j
var<private> acc: array<vec4<f32>, 16>;

#include "lib/blockq.wgsl"
#include "lib/matmul_lora_io.wgsl"  // lora_xa_quad, lora_b_quad
#include "lib/matmul_nbits_io.wgsl"  // inp_quad, weight_quad_codes, mask_quad

#include "lib/matmul_tile8.wgsl"  // store_a, store_b, multiply_tile

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

  // Loader: thread lid fetches the quad at k offset lk of tile row lr (2 threads per row).
  let lr = lid / 2u;
  let lk = (lid % 2u) * 4u;
  let a_row = row0 + lr;
  let b_row = col0 + lr;
  let b_live = b_row < N;

  for (var i = 0u; i < 16u; i++) {
    acc[i] = vec4(0.0);
  }
  var block = 0xffffffffu;  // the block whose (scale, zero) s holds
  var s = vec2(0.0);
  for (var k0 = 0u; k0 < K; k0 += BK) {
    let k = k0 + lk;
    var a = vec4(0.0);
    if (a_row < M) { a = inp_quad(a_row * K, k, K); }
    var b = vec4(0.0);
    if (b_live && k < K) {
      let kb = k >> params.block_shift;
      if (kb != block) {
        block = kb;
        s = sz[b_row * params.n_blocks + kb];
      }
      b = mask_quad((weight_quad_codes(b_row, k) - vec4(s.y)) * s.x, k);
    }
    store_a(lr, lk, a);
    store_b(lr, lk, b);
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
    if (b_live) { b = lora_b_quad(params.lora_b_offset + b_row * R, k0 + lk, R); }
    store_a(lr, lk, a);
    store_b(lr, lk, b);
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

  // Epilogue, one output at a time.
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + 64u * (i / 4u) + 4u * lid3.y + i % 4u;
    if (row >= M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      for (var j = 0u; j < 4u; j++) {
        let col = col0 + 64u * h + 4u * lid3.x + j;
        if (col >= N) { continue; }
        var v = acc[2u * i + h][j];
        if (params.has_bias != 0u) { v += bias[col]; }
        let at = row * N + col;
        if (params.accumulate != 0u) { v += out[at]; }
        out[at] = v;
      }
    }
  }
}
