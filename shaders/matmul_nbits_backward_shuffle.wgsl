enable subgroups;
// Input gradient through a block-quantized weight, variant "shuffle" (src/engine/tuning/
// variants.ts; needs subgroups of at least 8 invocations): the product of
// matmul_nbits_backward.wgsl (same bindings and Params: dinp (M, K) = dout (M, N) · W (N, K),
// += when accumulate, plus the dropout-masked LoRA term g (M, R) · A (R, K)), laid out as the
// forward's shuffle variants for adapters where every thread's memory read is costly and
// registers are cheap (CPU adapters read storage one SIMD lane at a time). No workgroup memory,
// no barriers:
//
// A workgroup of 64 threads computes 8 rows x 512 columns of dinp: thread t owns the octet of
// columns col0 + 8t .. + 7 (one word of 4-bit codes per row of W) for all 8 rows, 64 sums in
// registers. Per 8 rows n of W, lane j of each 8-lane group reads dout's 8 rows at n0 + j; each
// thread then decodes its octet of W's rows n0 .. n0 + 7 and takes dout's values at each from
// lane n - n0 of its group by subgroupShuffle: 8 dout reads and 8 code words feed 512
// multiply-adds.

const ROWS: u32 = 8u;    // dinp rows per workgroup
const COLS: u32 = 512u;  // dinp columns per workgroup: an octet per thread

#include "lib/matmul_nbits_backward_params.wgsl"  // struct Params

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;  // (M, K)
@group(0) @binding(1) var<storage, read> dout: array<f32>;        // (M, N)
@group(0) @binding(2) var<storage, read> codes: array<u32>;       // (N, n_blocks, blob) bytes
@group(0) @binding(3) var<storage, read> sz: array<vec2<f32>>;    // (N, n_blocks) (scale, zero)
@group(0) @binding(4) var<storage, read> lora_g: array<f32>;      // (M, R); any tensor when lora_r is 0
@group(0) @binding(5) var<storage, read> lora_a: array<f32>;      // (R, K)
@group(0) @binding(6) var<uniform> params: Params;

#include "lib/lora_dropout.wgsl"
#include "lib/blockq.wgsl"
#include "lib/blockq_octet.wgsl"  // nbits_octet

// The 8 x 8 sums of a thread: lo0 holds rows 0 .. 3 at columns 0 .. 3 of the octet (column r of
// the matrix = row r), hi0 the same rows at columns 4 .. 7; lo1, hi1 rows 4 .. 7. Plain values
// passed and returned, so the compiler keeps them in registers.
struct Acc {
  lo0: mat4x4<f32>, hi0: mat4x4<f32>, lo1: mat4x4<f32>, hi1: mat4x4<f32>,
}

// acc + W's row n at the thread's octet (col) times dout's 8 rows at n, shuffled from lane src
// of the group (d0: rows 0 .. 3, d1: rows 4 .. 7 as that lane read them).
fn n_step(acc: Acc, d0: vec4<f32>, d1: vec4<f32>, src: u32, n: u32, col: u32) -> Acc {
  let w = nbits_octet(n, col);
  let a = subgroupShuffle(d0, src);
  let b = subgroupShuffle(d1, src);
  return Acc(
    acc.lo0 + mat4x4<f32>(w[0] * a.x, w[0] * a.y, w[0] * a.z, w[0] * a.w),
    acc.hi0 + mat4x4<f32>(w[1] * a.x, w[1] * a.y, w[1] * a.z, w[1] * a.w),
    acc.lo1 + mat4x4<f32>(w[0] * b.x, w[0] * b.y, w[0] * b.z, w[0] * b.w),
    acc.hi1 + mat4x4<f32>(w[1] * b.x, w[1] * b.y, w[1] * b.z, w[1] * b.w),
  );
}

// dout's 4 rows `rows` at column n (rows clamped by the caller), 0 past N (a select, not a
// branch: branches make every lane's work conditional on CPU adapters).
fn dout4(rows: vec4<u32>, n: u32) -> vec4<f32> {
  let N = params.N;
  let c = min(n, N - 1u);
  let v = vec4(dout[rows.x * N + c], dout[rows.y * N + c], dout[rows.z * N + c], dout[rows.w * N + c]);
  return select(vec4(0.0), v, n < N);
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let M = params.M;
  let K = params.K;
  let N = params.N;
  let row0 = wg.y * ROWS;
  let col = (wg.x * 64u + lid) * 8u;  // this thread's octet of columns
  let group = lane & ~7u;              // the 8-lane group's first lane
  // Columns past K decode the last octet (in bounds, never stored); rows past M read the last row.
  let kc = min(col, ((K - 1u) / 8u) * 8u);
  let rows0 = min(row0 + vec4(0u, 1u, 2u, 3u), vec4(M - 1u));
  let rows1 = min(row0 + vec4(4u, 5u, 6u, 7u), vec4(M - 1u));

  let z = mat4x4<f32>();
  var acc = Acc(z, z, z, z);
  for (var n0 = 0u; n0 < N; n0 += 8u) {
    let mine = n0 + (lane & 7u);
    let d0 = dout4(rows0, mine);
    let d1 = dout4(rows1, mine);
    // W's rows past N meet dout's zeros: the last row stands in (finite).
    let last = N - 1u;
    acc = n_step(acc, d0, d1, group, min(n0, last), kc);
    acc = n_step(acc, d0, d1, group + 1u, min(n0 + 1u, last), kc);
    acc = n_step(acc, d0, d1, group + 2u, min(n0 + 2u, last), kc);
    acc = n_step(acc, d0, d1, group + 3u, min(n0 + 3u, last), kc);
    acc = n_step(acc, d0, d1, group + 4u, min(n0 + 4u, last), kc);
    acc = n_step(acc, d0, d1, group + 5u, min(n0 + 5u, last), kc);
    acc = n_step(acc, d0, d1, group + 6u, min(n0 + 6u, last), kc);
    acc = n_step(acc, d0, d1, group + 7u, min(n0 + 7u, last), kc);
  }

  let R = params.lora_r;
  for (var r = 0u; r < ROWS; r++) {
    let m = row0 + r;
    if (m >= M) { break; }
    var lo: vec4<f32>;
    var hi: vec4<f32>;
    if (r < 4u) {
      lo = acc.lo0[r];
      hi = acc.hi0[r];
    } else {
      lo = acc.lo1[r - 4u];
      hi = acc.hi1[r - 4u];
    }
    for (var i = 0u; i < 8u; i++) {
      let k = col + i;
      if (k >= K) { break; }
      var v: f32;
      if (i < 4u) { v = lo[i]; } else { v = hi[i - 4u]; }
      if (R > 0u) {
        var l = 0.0;
        for (var j = 0u; j < R; j++) {
          l += lora_g[m * R + j] * lora_a[j * K + k];
        }
        v += dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, m, k) * l;
      }
      let at = m * K + k;
      if (params.accumulate != 0u) { v += dinp[at]; }
      dinp[at] = v;
    }
  }
}
