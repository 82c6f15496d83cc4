// The register tile of the "shuffle" matmul variants (matmul_forward_shuffle.wgsl,
// matmul_nbits_forward_shuffle.wgsl): 16 rows x 2 columns of sums per thread, the rows' inp values
// shared within each octet of subgroup lanes by subgroupShuffle (lane j of an octet reads rows j
// and 8 + j). The including kernel enables subgroups.

// The 16 x 2 sums of a thread: m0 holds rows 0 .. 3, m1 rows 4 .. 7, m2 rows 8 .. 11, m3 rows
// 12 .. 15, each column of a mat4x2 one row (its 2 values: the thread's 2 columns). Plain values
// passed and returned (no array indexed by a loop counter), so the compiler keeps them in
// registers.
struct Tile {
  m0: mat4x2<f32>, m1: mat4x2<f32>, m2: mat4x2<f32>, m3: mat4x2<f32>,
}

// m + the 4 rows first .. first + 3 of the octet (their value a, shuffled from the lanes that
// read them) times this thread's 2 column values w.
fn rows4(m: mat4x2<f32>, a: f32, first: u32, w: vec2<f32>) -> mat4x2<f32> {
  return m + mat4x2<f32>(
    w * subgroupShuffle(a, first),
    w * subgroupShuffle(a, first + 1u),
    w * subgroupShuffle(a, first + 2u),
    w * subgroupShuffle(a, first + 3u),
  );
}

// One k: a[b] = this lane's row of octet b at k, w = this thread's 2 columns at k.
fn k_step(t: Tile, a: vec2<f32>, w: vec2<f32>, octet: u32) -> Tile {
  return Tile(
    rows4(t.m0, a.x, octet, w), rows4(t.m1, a.x, octet + 4u, w),
    rows4(t.m2, a.y, octet, w), rows4(t.m3, a.y, octet + 4u, w),
  );
}

// Four k: a[kk][b], w[kk][h] (quads transposed).
fn quad_step(t: Tile, a: mat4x2<f32>, w: mat4x2<f32>, octet: u32) -> Tile {
  var r = k_step(t, a[0], w[0], octet);
  r = k_step(r, a[1], w[1], octet);
  r = k_step(r, a[2], w[2], octet);
  return k_step(r, a[3], w[3], octet);
}
