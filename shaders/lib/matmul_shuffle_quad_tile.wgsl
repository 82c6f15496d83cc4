// The register tile of matmul_backward_shuffle.wgsl (dinp and dweight): 16 rows x a quad of 4
// consecutive columns of sums per thread, for products whose column operand runs along memory
// (weight (OC, C) in dinp, inp (M, C) in dweight: one quad read per k). The rows' values come
// from the thread's 8-lane group by subgroupShuffle (the including kernel gathers them).

// The 16 x 4 sums of a thread: m0 holds rows 0 .. 3, m1 rows 4 .. 7, m2 rows 8 .. 11, m3 rows
// 12 .. 15, each column of a mat4x4 one row (its 4 values: the thread's 4 columns). Plain values
// passed and returned (no array indexed by a loop counter), so the compiler keeps them in
// registers.
struct QuadTile {
  m0: mat4x4<f32>, m1: mat4x4<f32>, m2: mat4x4<f32>, m3: mat4x4<f32>,
}

// Four k at once: b[kk] = the thread's 4 column values at k + kk; rq[i][kk] = row 4q + i's value
// at k + kk. Each m_q takes b · r_q (a 4x4 matrix product: column i += Σ_kk b[kk] · r_q[i][kk]),
// so one quad of sums stays in registers through all 4 k (on lavapipe 1.1-1.2x faster, in one
// run, than updating all 16 x 4 sums once per k: BENCHMARKS.md).
fn quad_tile_k4(t: QuadTile, b: mat4x4<f32>, r0: mat4x4<f32>, r1: mat4x4<f32>, r2: mat4x4<f32>, r3: mat4x4<f32>) -> QuadTile {
  return QuadTile(t.m0 + b * r0, t.m1 + b * r1, t.m2 + b * r2, t.m3 + b * r3);
}
