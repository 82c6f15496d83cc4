// Packs f32 values into f16 two per u32 word, at a word offset of the output: the write path of
// an f16 KV cache (the inverse of f16_unpack_forward). N and inpOffset are even.

struct Params {
  N: u32,          // values to pack
  outOffset: u32,  // in u32 words
  inpOffset: u32,  // in f32 values
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;  // (outOffset + N / 2) packed halves
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (inpOffset + N)
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = gid.x + gid.y * nwg.x * 256u;
  if (2u * w >= params.N) {
    return;
  }
  let i = params.inpOffset + 2u * w;
  out[params.outOffset + w] = pack2x16float(vec2<f32>(inp[i], inp[i + 1u]));
}
