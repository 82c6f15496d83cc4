// GELU forward: out = x · Φ(x) elementwise over N values. TANH: Φ(x) ≈ ½(1 + tanh(u)),
// u = √(2/π)(x + 0.044715 x³) (GPT-2 gelu_new, onnxruntime FastGelu); otherwise the exact
// Φ(x) = ½(1 + erf(x/√2)) with an f32 erf (WGSL has none) that the CPU twin
// (src/engine/cpu/gelu.ts) mirrors. `inplace` overwrites out (a writable binding may not alias).

const TANH: bool = {{TANH}};  // true: tanh approximation; false: exact (erf)

#include "lib/gelu_math.wgsl"

struct Params {
  N: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (N)
@group(0) @binding(2) var<uniform> params: Params;

fn gelu(x: f32) -> f32 {
  if (TANH) {
    return x * sigmoid(2.0 * tanh_arg(x));
  }
  return x * normal_cdf(x);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  out[i] = gelu(inp[i]);
}

@compute @workgroup_size(256)
fn inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  out[i] = gelu(out[i]);
}
