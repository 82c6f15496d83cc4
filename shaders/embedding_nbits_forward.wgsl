// Embedding forward with a block-quantized table (GatherBlockQuantized; src/engine/blockq.ts):
// out[n, c] = scale · W[ids[n], c] (+ wpe[positions[n], c] when has_wpe is 1), W[v, c] =
// (code(v, c) − zero) · scale of its block along c. One thread per output value, consecutive
// threads along c, a 2-D grid (grid1d) over the N·C values; an id outside [0, V) (or a position
// outside [0, P)) contributes zeros, as in embedding_forward.wgsl.

struct Params {
  N: u32,
  C: u32,
  V: u32,            // rows of the table
  P: u32,            // rows of wpe
  has_wpe: u32,
  scale: f32,        // multiplies the token row (1, or Gemma's sqrt(hidden))
  n_blocks: u32,     // ceil(C / block size)
  block_shift: u32,  // log2(block size)
  blob: u32,         // bytes per block
  bits: u32,         // 4 or 8
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (N, C)
@group(0) @binding(1) var<storage, read> ids: array<i32>;        // (N)
@group(0) @binding(2) var<storage, read> positions: array<i32>;  // (N); any tensor when has_wpe is 0
@group(0) @binding(3) var<storage, read> codes: array<u32>;      // (V, n_blocks, blob) bytes
@group(0) @binding(4) var<storage, read> sz: array<vec2<f32>>;   // (V, n_blocks) (scale, zero)
@group(0) @binding(5) var<storage, read> wpe: array<f32>;        // (P, C); any tensor when has_wpe is 0
@group(0) @binding(6) var<uniform> params: Params;

#include "lib/blockq.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let C = params.C;
  if (i >= params.N * C) {
    return;
  }
  let n = i / C;
  let c = i - n * C;
  var v = 0.0;
  let id = ids[n];
  if (id >= 0 && u32(id) < params.V) {
    let row = u32(id);
    let byte_at = blockq_code_byte(row, c, params.n_blocks, params.block_shift, params.blob, params.bits);
    let code = blockq_code(codes[byte_at >> 2u], byte_at, c, params.bits);
    let s = sz[row * params.n_blocks + (c >> params.block_shift)];
    v = (code - s.y) * s.x * params.scale;
  }
  if (params.has_wpe != 0u) {
    let p = positions[n];
    if (p >= 0 && u32(p) < params.P) {
      v += wpe[u32(p) * C + c];
    }
  }
  out[i] = v;
}
