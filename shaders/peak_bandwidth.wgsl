// The adapter's ceiling, memory (bench/peak.ts; not used by the engine): a grid-stride copy of
// vec4s, dst = src, so every byte is read once and written once. Bytes moved = 2 · 16 · n.

struct Params {
  n: u32,  // vec4s to copy
}

@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>;  // (n)
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;        // (n)
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < params.n; i += stride) {
    dst[i] = src[i];
  }
}
