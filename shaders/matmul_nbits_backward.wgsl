// Matmul backward with a block-quantized weight (QLoRA's frozen base): the input gradient only,
//   dinp (M, K) = dout (M, N) · W (N, K)        (+= when params.accumulate is 1)
// with W dequantized inside the tiles (src/engine/blockq.ts; see matmul_nbits_forward.wgsl). The
// base is frozen: no dW, no dbias (a bias gradient, if ever wanted, is matmul_backward.wgsl's
// dbias_main, which does not read W).
//
// LoRA (lora_r > 0): dinp += dropout'(lora_g (M, R) · lora_a (R, K)), lora_g = s · dY · B from
// lora_backward.wgsl (dyb_main), masked by the forward's dropout (lib/lora_dropout.wgsl), as in
// matmul_backward.wgsl's dinp_main.
//
// Tiling as matmul_backward.wgsl's dinp_main: 16 x 16 threads, a 64 x 64 tile of dinp, 4 x 4
// outputs per thread, N slices of 16 staged k-major; dout quads run along N, W quads along K.

const TILE: u32 = 64u;
const BK: u32 = 16u;

#include "lib/matmul_nbits_backward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;  // (M, K)
@group(0) @binding(1) var<storage, read> dout: array<f32>;        // (M, N)
@group(0) @binding(2) var<storage, read> codes: array<u32>;       // (N, n_blocks, blob) bytes
@group(0) @binding(3) var<storage, read> sz: array<vec2<f32>>;    // (N, n_blocks) (scale, zero)
@group(0) @binding(4) var<storage, read> lora_g: array<f32>;      // (M, R); any tensor when lora_r is 0
@group(0) @binding(5) var<storage, read> lora_a: array<f32>;      // (R, K)
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> As: array<f32, 1024>;  // (BK, TILE) k-major
var<workgroup> Bs: array<f32, 1024>;  // (BK, TILE) k-major
var<private> acc: array<vec4<f32>, 4>;  // acc[i][j]: output row ty + 16i, column tx + 16j

#include "lib/lora_dropout.wgsl"
#include "lib/blockq.wgsl"

fn dout_quad(row: u32, j: u32, len: u32) -> vec4<f32> {
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (j + i < len) { v[i] = dout[row + j + i]; }
  }
  return v;
}

// W[n, k .. k + 3] dequantized (k a multiple of 4); 0 at k + i >= K.
fn weight_quad(n: u32, k: u32) -> vec4<f32> {
  let K = params.K;
  if (k >= K) { return vec4(0.0); }
  let byte_at = blockq_code_byte(n, k, params.n_blocks, params.block_shift, params.blob, params.bits);
  let c = blockq_quad_codes(codes[byte_at >> 2u], byte_at, params.bits);
  let s = sz[n * params.n_blocks + (k >> params.block_shift)];
  var v = (c - vec4(s.y)) * s.x;
  for (var i = 1u; i < 4u; i++) {
    if (k + i >= K) { v[i] = 0.0; }
  }
  return v;
}

fn clear_acc() {
  for (var i = 0u; i < 4u; i++) {
    acc[i] = vec4(0.0);
  }
}

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

// dinp (M, K) tile at (row0, col0); reduction over N.
@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let M = params.M;
  let K = params.K;
  let N = params.N;
  let row0 = wg.y * TILE;  // rows of dinp (M)
  let col0 = wg.x * TILE;  // columns of dinp (K)

  // A = dout (M, N), contiguous along the reduction: the quad at offset ak of tile row ar.
  let ar = lid / 4u;
  let ak = (lid % 4u) * 4u;
  // B = W (N, K), contiguous along the output columns: the quad at column bn of slice row bk.
  let bk = lid / 16u;
  let bn = (lid % 16u) * 4u;

  clear_acc();
  for (var k0 = 0u; k0 < N; k0 += BK) {
    var a = vec4(0.0);
    if (row0 + ar < M) { a = dout_quad((row0 + ar) * N, k0 + ak, N); }
    var b = vec4(0.0);
    if (k0 + bk < N) { b = weight_quad(k0 + bk, col0 + bn); }
    for (var c = 0u; c < 4u; c++) {
      As[(ak + c) * TILE + ar] = a[c];
      Bs[bk * TILE + bn + c] = b[c];
    }
    workgroupBarrier();
    multiply_tile(lid3.x, lid3.y);
    workgroupBarrier();
  }

  // LoRA: g (M, R) · A (R, K) into a fresh accumulator, masked by the forward's dropout.
  let base = acc;
  clear_acc();
  let R = params.lora_r;
  for (var k0 = 0u; k0 < R; k0 += BK) {
    var a = vec4(0.0);
    var b = vec4(0.0);
    for (var c = 0u; c < 4u; c++) {
      if (row0 + ar < M && k0 + ak + c < R) { a[c] = lora_g[(row0 + ar) * R + k0 + ak + c]; }
      if (k0 + bk < R && col0 + bn + c < K) { b[c] = lora_a[(k0 + bk) * K + col0 + bn + c]; }
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
      if (col >= K) { break; }
      let at = row * K + col;
      var v = base[i][j];
      if (R > 0u) { v += dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, row, col) * acc[i][j]; }
      if (params.accumulate != 0u) { v += dinp[at]; }
      dinp[at] = v;
    }
  }
}
