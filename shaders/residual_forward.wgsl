// Residual add: out = inp1 + inp2, elementwise over N values.

struct Params {
  N: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read> inp1: array<f32>;       // (N)
@group(0) @binding(2) var<storage, read> inp2: array<f32>;       // (N)
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  out[i] = inp1[i] + inp2[i];
}
