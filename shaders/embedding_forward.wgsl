{{ENABLE_F16}}
// Embedding forward (llm.c's encoder_forward): out[n, c] = scale · wte[ids[n], c]
// (+ wpe[positions[n], c] when has_wpe is 1: GPT-2's learned positions). scale is 1, or Gemma's
// normalizer sqrt(hidden) (rounded to the table's dtype by the host, as Hugging Face does). One thread per output value, consecutive
// threads along c (coalesced), a 2-D grid (grid1d) over the N·C values.
// An id outside [0, V) (or a position outside [0, P)) contributes zeros instead of reading out of
// bounds; the host rejects such ids when it has them on the CPU.
//
// Placeholders (src/engine/kernels/embedding.ts fills them):
//   {{ENABLE_F16}}  `enable f16;` for the native f16 table, else empty
//   {{W_KIND}}      wte storage: 0 f32, 1 f16 packed two per u32, 2 native f16
//   {{W_T}}         element type of wte: f32, u32 (packed) or f16

const W_KIND: u32 = {{W_KIND}}u;

struct Params {
  N: u32,
  C: u32,
  V: u32,        // rows of wte
  P: u32,        // rows of wpe
  has_wpe: u32,
  scale: f32,    // multiplies the token row (1, or Gemma's sqrt(hidden))
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (N, C)
@group(0) @binding(1) var<storage, read> ids: array<i32>;        // (N)
@group(0) @binding(2) var<storage, read> positions: array<i32>;  // (N); any tensor when has_wpe is 0
@group(0) @binding(3) var<storage, read> wte: array<{{W_T}}>;    // (V, C)
@group(0) @binding(4) var<storage, read> wpe: array<f32>;        // (P, C); any tensor when has_wpe is 0
@group(0) @binding(5) var<uniform> params: Params;

// Element e of wte as f32. `vec4(x)` lifts every element type (f32, u32, f16) to a vector, so
// each branch type-checks whatever {{W_T}} is; W_KIND is a constant, one branch is compiled.
fn wte_at(e: u32) -> f32 {
  if (W_KIND == 1u) {
    return unpack2x16float(vec4<u32>(vec4(wte[e >> 1u])).x)[e & 1u];
  }
  return vec4<f32>(vec4(wte[e])).x;
}

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
    v = wte_at(u32(id) * C + c) * params.scale;
  }
  if (params.has_wpe != 0u) {
    let p = positions[n];
    if (p >= 0 && u32(p) < params.P) {
      v += wpe[u32(p) * C + c];
    }
  }
  out[i] = v;
}
