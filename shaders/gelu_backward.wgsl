// GELU backward (activation gradient, assigned): dinp = dout · gelu'(x), recomputed from the
// forward's input. TANH: d/dx[x·sigmoid(2u)] = sigmoid(2u) + 2x·sigmoid(2u)·sigmoid(−2u)·u';
// exact: Φ(x) + x·φ(x), φ the standard normal density. Helpers in lib/gelu_math.wgsl.
// `inplace` turns dout into dinp in its own buffer (bound as dinp).

const TANH: bool = {{TANH}};  // true: tanh approximation; false: exact (erf)

#include "lib/gelu_math.wgsl"

struct Params {
  N: u32,
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read> dout: array<f32>;        // (N)
@group(0) @binding(2) var<storage, read> inp: array<f32>;         // (N)
@group(0) @binding(3) var<uniform> params: Params;

fn gelu_grad(x: f32) -> f32 {
  if (TANH) {
    let u = tanh_arg(x);
    let s = sigmoid(2.0 * u);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
    return s + 2.0 * x * s * sigmoid(-2.0 * u) * du;
  }
  // x² capped at 200: exp(-100) is zero in f32, and x·x cannot overflow into inf.
  return normal_cdf(x) + x * INV_SQRT_2PI * exp(-0.5 * min(x * x, 200.0));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  dinp[i] = dout[i] * gelu_grad(inp[i]);
}

@compute @workgroup_size(256)
fn inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  dinp[i] = dinp[i] * gelu_grad(inp[i]);
}
