// Rotary position embedding backward: the rotation is orthogonal (times the attention factor
// f), so dinp = Rᵀ·dout is the rotation by -angle: dinp[a] = f·(d[a]·cos + d[b]·sin),
// dinp[b] = f·(d[b]·cos − d[a]·sin); pass-through dims copy dout. Activation gradient: assigned.
// Same threads and helpers as rope_forward.wgsl. `main` writes dinp from dout; `inplace` turns
// dout into dinp in its own buffer (bound as dinp).

const INTERLEAVED: bool = {{INTERLEAVED}};

struct Params {
  BT: u32,           // B * T tokens
  NH: u32,           // heads
  HS: u32,           // head size (even)
  R: u32,            // rotary dims (even, <= HS)
  attn_factor: f32,  // multiplies the rotated dims
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;  // (B, T, NH, HS)
@group(0) @binding(1) var<storage, read> dout: array<f32>;         // (B, T, NH, HS)
@group(0) @binding(2) var<storage, read> positions: array<i32>;   // (B, T)
@group(0) @binding(3) var<storage, read> inv_freq: array<f32>;    // (R / 2)
@group(0) @binding(4) var<uniform> params: Params;

#include "lib/rope_rotation.wgsl"

// (cos, -sin) of token bt's pair i, times the attention factor: the transposed rotation.
fn rotation(bt: u32, i: u32) -> vec2<f32> {
  let sc = sincos(f32(positions[bt]) * inv_freq[i]);
  return params.attn_factor * vec2<f32>(sc.y, -sc.x);
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
      dinp[o] = dout[o];
      dinp[o + 1u] = dout[o + 1u];
    }
    return;
  }
  let cs = rotation(bt, i);
  let ab = rope_pair(i, params.R / 2u, INTERLEAVED);
  for (var h = 0u; h < NH; h++) {
    let o = (bt * NH + h) * HS;
    let x = dout[o + ab.x];
    let y = dout[o + ab.y];
    dinp[o + ab.x] = x * cs.x - y * cs.y;
    dinp[o + ab.y] = y * cs.x + x * cs.y;
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
    let x = dinp[o + ab.x];
    let y = dinp[o + ab.y];
    dinp[o + ab.x] = x * cs.x - y * cs.y;
    dinp[o + ab.y] = y * cs.x + x * cs.y;
  }
}
