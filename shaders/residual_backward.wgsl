// Residual backward: both inputs receive the output gradient, accumulated (+=) because the
// residual stream's gradient is summed over every branch that reads it.

struct Params {
  N: u32,
}

@group(0) @binding(0) var<storage, read_write> dinp1: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read_write> dinp2: array<f32>;  // (N)
@group(0) @binding(2) var<storage, read> dout: array<f32>;         // (N)
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  let d = dout[i];
  dinp1[i] += d;
  dinp2[i] += d;
}
