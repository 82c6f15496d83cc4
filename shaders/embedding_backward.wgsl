// Embedding backward without atomics (llm.c's encoder_backward): dweight[id] += scale · Σ dout[n]
// over the rows n whose id it is (scale: the forward's token-row factor; 1 for positions). The host groups rows by id on the CPU (it knows the ids) into CSR
// form: uniq[u] is the u-th id that occurs, rows[offsets[u] .. offsets[u + 1]) its rows in
// ascending order. Workgroup g handles id u = g / chunks and 64 columns (chunk g % chunks), one
// thread per column summing its rows in that fixed order (deterministic), then adding once into
// dweight. Ids that never occur are not touched. The same kernel serves GPT-2's position
// table (ids = positions). Workgroups are a 2-D grid (grid1d) over U · chunks.

struct Params {
  C: u32,
  U: u32,       // ids that occur
  chunks: u32,  // ceil(C / 64)
  scale: f32,   // the forward's factor on these rows
}

@group(0) @binding(0) var<storage, read_write> dweight: array<f32>;  // (V, C)
@group(0) @binding(1) var<storage, read> dout: array<f32>;           // (N, C)
@group(0) @binding(2) var<storage, read> uniq: array<u32>;           // (U) ascending
@group(0) @binding(3) var<storage, read> offsets: array<u32>;        // (U + 1)
@group(0) @binding(4) var<storage, read> rows: array<u32>;           // (N) grouped by id
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let u = g / params.chunks;
  let c = (g - u * params.chunks) * 64u + lid;
  let C = params.C;
  if (u >= params.U || c >= C) {
    return;
  }
  var s = 0.0;
  let end = offsets[u + 1u];
  for (var k = offsets[u]; k < end; k++) {
    s += dout[rows[k] * C + c];
  }
  dweight[uniq[u] * C + c] += s * params.scale;
}
