// Packs rows of f32 values into f16, two per u32 word, each row at its own word offset of the
// output: the write path of an f16 KV cache (the inverse of f16_unpack_forward), one dispatch for
// every row of a batch (each row writes at its own slot). N and the offsets are whole words.

struct Params {
  N: u32,          // values per row (even)
  rows: u32,
  inpOffset: u32,  // in f32 values: row r is inp[inpOffset + r * N ..]
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;  // packed halves, row r from word dst[r]
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (inpOffset + rows * N)
@group(0) @binding(2) var<storage, read> dst: array<u32>;        // (rows) first word of each row in out
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = gid.x + gid.y * nwg.x * 256u;
  let words = params.N / 2u;
  if (w >= words * params.rows) {
    return;
  }
  let r = w / words;
  let j = w - r * words;
  let i = params.inpOffset + r * params.N + 2u * j;
  out[dst[r] + j] = pack2x16float(vec2<f32>(inp[i], inp[i + 1u]));
}
