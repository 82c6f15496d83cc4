// Rotary position embedding forward on a (B, T, NH, HS) tensor (queries; keys use the same
// kernel with NKV heads). The first R dims of each head rotate in pairs (a, b) by the angle
// pos · inv_freq[i]: out[a] = f·(x[a]·cos − x[b]·sin), out[b] = f·(x[b]·cos + x[a]·sin), with
// f = attn_factor (YaRN; 1 otherwise). Pair i is (i, i + R/2) for rotate_half (Llama / HF) and
// (2i, 2i + 1) when INTERLEAVED (GPT-J, onnxruntime interleaved=1). Dims >= R pass through.
//
// Thread (bt, i) computes one angle and applies it to pair i of every head of token bt, so the
// trig is paid once per (token, pair), not per head; the threads of a head touch consecutive
// addresses. `main` writes out from inp (threads i >= R/2 copy the pass-through dims 2i, 2i + 1);
// `inplace` rotates `out` in place (WebGPU forbids a writable binding aliasing another one).

const INTERLEAVED: bool = {{INTERLEAVED}};

struct Params {
  BT: u32,           // B * T tokens
  NH: u32,           // heads
  HS: u32,           // head size (even)
  R: u32,            // rotary dims (even, <= HS)
  attn_factor: f32,  // multiplies the rotated dims
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;    // (B, T, NH, HS)
@group(0) @binding(1) var<storage, read> inp: array<f32>;          // (B, T, NH, HS)
@group(0) @binding(2) var<storage, read> positions: array<i32>;    // (B, T)
@group(0) @binding(3) var<storage, read> inv_freq: array<f32>;     // (R / 2)
@group(0) @binding(4) var<uniform> params: Params;

#include "lib/rope_rotation.wgsl"

// (cos, sin) of token bt's pair i, times the attention factor.
fn rotation(bt: u32, i: u32) -> vec2<f32> {
  let sc = sincos(f32(positions[bt]) * inv_freq[i]);
  return params.attn_factor * vec2<f32>(sc.y, sc.x);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let per_token = params.HS / 2u;
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= params.BT * per_token) {
    return;
  }
  let bt = idx / per_token;
  let i = idx % per_token;
  let NH = params.NH;
  let HS = params.HS;
  if (i >= params.R / 2u) {
    // Pass-through dims R.. come two per thread: R + 2(i - R/2) = 2i.
    for (var h = 0u; h < NH; h++) {
      let o = (bt * NH + h) * HS + 2u * i;
      out[o] = inp[o];
      out[o + 1u] = inp[o + 1u];
    }
    return;
  }
  let cs = rotation(bt, i);
  let ab = rope_pair(i, params.R / 2u, INTERLEAVED);
  for (var h = 0u; h < NH; h++) {
    let o = (bt * NH + h) * HS;
    let x = inp[o + ab.x];
    let y = inp[o + ab.y];
    out[o + ab.x] = x * cs.x - y * cs.y;
    out[o + ab.y] = y * cs.x + x * cs.y;
  }
}

@compute @workgroup_size(256)
fn inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pairs = params.R / 2u;
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= params.BT * pairs) {
    return;
  }
  let bt = idx / pairs;
  let i = idx % pairs;
  let NH = params.NH;
  let HS = params.HS;
  let cs = rotation(bt, i);
  let ab = rope_pair(i, params.R / 2u, INTERLEAVED);
  for (var h = 0u; h < NH; h++) {
    let o = (bt * NH + h) * HS;
    let x = out[o + ab.x];
    let y = out[o + ab.y];
    out[o + ab.x] = x * cs.x - y * cs.y;
    out[o + ab.y] = y * cs.x + x * cs.y;
  }
}
