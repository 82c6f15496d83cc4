// Unpacks f16 values stored two per u32 word into f32: the GPU's reference for the host-side
// f16 conversion, and the read path every kernel with f16 weights uses.

struct Params {
  N: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read> inp: array<u32>;        // (ceil(N / 2)) packed halves
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  out[i] = unpack2x16float(inp[i >> 1u])[i & 1u];
}
