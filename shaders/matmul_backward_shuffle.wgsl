enable subgroups;
{{ENABLE_F16}}
// Matmul backward, variant "shuffle" (src/engine/tuning/variants.ts; needs subgroups of at least 8
// invocations): the dinp and dweight products of matmul_backward.wgsl (same bindings, Params and
// semantics; dbias stays there), laid out as matmul_forward_shuffle.wgsl for adapters where every
// thread's memory read is costly and registers are cheap (CPU adapters: lavapipe reads storage
// one SIMD lane at a time; BENCHMARKS.md). No workgroup memory, no barriers:
//   dinp     dinp (M, C) = dout (M, OC) · weight (OC, C)  (+= when accumulate), + LoRA:
//            dropout'(lora_g (M, R) · lora_a (R, C)) in its own tile, as matmul_backward.wgsl
//   dweight  dweight (OC, C) += doutᵀ · inp over the M rows of params.nb batches
//
// A workgroup of 32 threads computes a 16 x 128 tile: thread t owns the quad of columns
// col0 + 4t .. + 3 of all 16 rows, 64 sums in registers (lib/matmul_shuffle_quad_tile.wgsl). The
// column operand runs along memory (weight's rows in dinp, inp's rows in dweight): one quad read
// per k. The row operand's 16 values at each k come from the thread's group of 8 lanes (an
// octet), each lane reading 2 quads (8 of the 64 values of 4 k) and passing them on by
// subgroupShuffle:
//   dinp     dout's rows run along K: lane j reads rows j and 8 + j as quads along K
//   dweight  doutᵀ's rows run along dout's rows: lane j reads dout's row k0 + j % 4, the quads of
//            columns 4 (j / 4) and 8 + 4 (j / 4) of the tile's 16
// So 6 quad reads per thread feed 256 multiply-adds per 4 k, done as four 4x4 matrix products
// (quad_tile_k4).
//
// Needs subgroup sizes that are multiples of 8 (every size from 8 up; the variant is applicable
// only where the adapter's smallest subgroup has 8 invocations), each octet whole. Every thread
// of a workgroup has the same rows, so any grouping of invocations into subgroups works.
//
// Placeholders as matmul_backward.wgsl: {{ENABLE_F16}}, {{VEC}}, {{F32_T}}, {{W_KIND}}, {{W_T}}.

const VEC: u32 = {{VEC}}u;
const W_KIND: u32 = {{W_KIND}}u;
const ROWS: u32 = 16u;   // output rows per workgroup: 2 octets' worth
const COLS: u32 = 128u;  // output columns per workgroup: a quad per thread

#include "lib/matmul_backward_params.wgsl"

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;     // (batch, M, C)
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>;  // (OC, C) or (batch, OC, C)
@group(0) @binding(3) var<storage, read> dout: array<{{F32_T}}>;     // (batch, M, OC)
@group(0) @binding(4) var<storage, read> inp: array<{{F32_T}}>;      // (batch, M, C)
@group(0) @binding(5) var<storage, read> weight: array<{{W_T}}>;     // (OC, C) or (batch, OC, C)
@group(0) @binding(6) var<storage, read> lora_g: array<f32>;     // (M, R); any tensor when lora_r is 0
@group(0) @binding(7) var<storage, read> lora_a: array<f32>;     // (R, C)
@group(0) @binding(8) var<uniform> params: Params;

#include "lib/lora_dropout.wgsl"
#include "lib/matmul_io.wgsl"  // weight_word, weight_at
#include "lib/matmul_shuffle_quad_tile.wgsl"  // QuadTile, quad_tile_k4

// Quads row[j .. j + 3] of dout, inp, weight and the LoRA operands (row = flat index of the row's
// first value, len its length). With VEC 4 the quad at min(j, len - 4), wholly inside the row;
// element-wise (VEC 1, LoRA), values past len are 0 and read a clamped index: a select, not a
// branch (branches make every lane's work conditional on CPU adapters). Reads past the tile's
// edge (columns, rows) thus stay in bounds and are never stored.
fn dout_q(row: u32, j: u32, len: u32) -> vec4<f32> {
  if (VEC == 4u) { return vec4<f32>(vec4(dout[(row + min(j, len - 4u)) >> 2u])); }
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, vec4<f32>(vec4(dout[row + min(j + i, len - 1u)])).x, j + i < len);
  }
  return v;
}

fn inp_q(row: u32, j: u32, len: u32) -> vec4<f32> {
  if (VEC == 4u) { return vec4<f32>(vec4(inp[(row + min(j, len - 4u)) >> 2u])); }
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, vec4<f32>(vec4(inp[row + min(j + i, len - 1u)])).x, j + i < len);
  }
  return v;
}

fn weight_q(row: u32, j: u32, len: u32) -> vec4<f32> {
  if (VEC == 4u) {
    let e = row + min(j, len - 4u);
    if (W_KIND == 1u) {
      return vec4(unpack2x16float(weight_word(e >> 1u)), unpack2x16float(weight_word((e >> 1u) + 1u)));
    }
    return vec4<f32>(vec4(weight[e >> 2u]));
  }
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, weight_at(row + min(j + i, len - 1u)), j + i < len);
  }
  return v;
}

fn lora_g_q(row: u32, j: u32, len: u32) -> vec4<f32> {
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, lora_g[row + min(j + i, len - 1u)], j + i < len);
  }
  return v;
}

fn lora_a_q(row: u32, j: u32, len: u32) -> vec4<f32> {
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    v[i] = select(0.0, lora_a[row + min(j + i, len - 1u)], j + i < len);
  }
  return v;
}

// Rows src .. src + 3 of the octet, lane src + i holding row i's values v at 4 k: r[i] = its v.
fn octet_rows(v: vec4<f32>, src: u32) -> mat4x4<f32> {
  return mat4x4<f32>(subgroupShuffle(v, src), subgroupShuffle(v, src + 1u), subgroupShuffle(v, src + 2u), subgroupShuffle(v, src + 3u));
}

// Four k of dinp: ax, ay = this lane's rows j and 8 + j at the 4 k (quads along K), b[kk] = its
// columns' quad at k + kk.
fn dinp_k4(t: QuadTile, ax: vec4<f32>, ay: vec4<f32>, b: mat4x4<f32>, octet: u32) -> QuadTile {
  return quad_tile_k4(t, b, octet_rows(ax, octet), octet_rows(ax, octet + 4u), octet_rows(ay, octet), octet_rows(ay, octet + 4u));
}

// 4 rows of dinp (row .. row + 3, 4 columns from col): the product m plus the LoRA term l under
// the dropout mask; += when accumulating.
fn store_dinp(m: mat4x4<f32>, l: mat4x4<f32>, row: u32, col: u32, inp0: u32) {
  let C = params.C;
  for (var i = 0u; i < 4u; i++) {
    let r = row + i;
    if (r >= params.M) { return; }
    for (var c = 0u; c < 4u; c++) {
      if (col + c >= C) { break; }
      let at = inp0 + r * C + col + c;
      var v = m[i][c];
      if (params.lora_r > 0u) { v += dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, r, col + c) * l[i][c]; }
      if (params.accumulate != 0u) { v += dinp[at]; }
      dinp[at] = v;
    }
  }
}

// The tile's first row and column. The grid is (column tiles, row tiles); consecutive workgroups
// take the row tiles of one column tile, so the column operand's tile (weight's or inp's 128
// columns) stays in cache while each row tile reads it (a CPU adapter runs workgroups in order
// on few threads), as matmul_forward_shuffle.wgsl.
fn tile_origin(wg: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let flat = wg.x + wg.y * nwg.x;
  return vec2((flat % nwg.y) * ROWS, (flat / nwg.y) * COLS);
}

// dinp (M, C) rows row0 .. row0 + 15 of batch wg.z; K = OC.
@compute @workgroup_size(32)
fn dinp_main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let origin = tile_origin(wg, nwg);
  let row0 = origin.x;
  let col = origin.y + 4u * lid;  // this thread's quad of columns
  let octet = lane & ~7u;          // the octet's first lane
  let inp0 = wg.z * params.inp_stride;
  let w0 = wg.z * params.weight_stride;
  let out0 = wg.z * params.out_stride;
  // Rows past M read the last one (clamped: no branch in the loop) and are not stored.
  let own = min(row0 + (lane & 7u) + vec2(0u, 8u), vec2(M - 1u));  // rows this lane reads
  let a_row = out0 + own * OC;

  let z = mat4x4<f32>();
  var t = QuadTile(z, z, z, z);
  let last = OC - 1u;  // weight rows past OC meet dout's zeros: the last row stands in
  for (var k = 0u; k < OC; k += 4u) {
    let ax = dout_q(a_row.x, k, OC);  // rows j and 8 + j at k .. k + 3
    let ay = dout_q(a_row.y, k, OC);
    let w = mat4x4<f32>(
      weight_q(w0 + k * C, col, C), weight_q(w0 + min(k + 1u, last) * C, col, C),
      weight_q(w0 + min(k + 2u, last) * C, col, C), weight_q(w0 + min(k + 3u, last) * C, col, C),
    );
    t = dinp_k4(t, ax, ay, w, octet);
  }

  // LoRA: g (M, R) · A (R, C) into a tile of its own (the dropout mask applies to it alone); g is
  // read like dout, A like weight.
  let R = params.lora_r;
  var l = QuadTile(z, z, z, z);
  let g_row = own * R;
  let r_last = max(R, 1u) - 1u;
  for (var k = 0u; k < R; k += 4u) {
    let w = mat4x4<f32>(
      lora_a_q(k * C, col, C), lora_a_q(min(k + 1u, r_last) * C, col, C),
      lora_a_q(min(k + 2u, r_last) * C, col, C), lora_a_q(min(k + 3u, r_last) * C, col, C),
    );
    l = dinp_k4(l, lora_g_q(g_row.x, k, R), lora_g_q(g_row.y, k, R), w, octet);
  }

  store_dinp(t.m0, l.m0, row0, col, inp0);
  store_dinp(t.m1, l.m1, row0 + 4u, col, inp0);
  store_dinp(t.m2, l.m2, row0 + 8u, col, inp0);
  store_dinp(t.m3, l.m3, row0 + 12u, col, inp0);
}

// Rows 4q .. 4q + 3 of dweight (columns of dout) at 4 k from the octet: lane src + kk read them
// at k + kk as h. r[i][kk] = row 4q + i at k + kk (the transpose only renames registers on a CPU
// adapter, where a lane's vector components are separate SIMD registers).
fn octet_quads(h: vec4<f32>, src: u32) -> mat4x4<f32> {
  return transpose(mat4x4<f32>(subgroupShuffle(h, src), subgroupShuffle(h, src + 1u), subgroupShuffle(h, src + 2u), subgroupShuffle(h, src + 3u)));
}

// Four k of dweight: lane kk + 4 (q % 2) of the octet read quad q of the 16 rows at k + kk as h0
// (q < 2) or h1 (q >= 2); x[kk] = this thread's columns' quad of inp at k + kk.
fn dweight_k4(t: QuadTile, h0: vec4<f32>, h1: vec4<f32>, x: mat4x4<f32>, octet: u32) -> QuadTile {
  return quad_tile_k4(t, x, octet_quads(h0, octet), octet_quads(h0, octet + 4u), octet_quads(h1, octet), octet_quads(h1, octet + 4u));
}

fn store_dweight(m: mat4x4<f32>, row: u32, col: u32, w0: u32) {
  let C = params.C;
  for (var i = 0u; i < 4u; i++) {
    let r = row + i;
    if (r >= params.OC) { return; }
    for (var c = 0u; c < 4u; c++) {
      if (col + c >= C) { break; }
      dweight[w0 + r * C + col + c] += m[i][c];
    }
  }
}

// dweight (OC, C) rows row0 .. row0 + 15; K = the M rows of params.nb batches, starting at batch
// wg.z · nb (per-batch weights: nb = 1, one z per batch; shared weight: nb = batch, one z).
@compute @workgroup_size(32)
fn dweight_main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let M = params.M;
  let C = params.C;
  let OC = params.OC;
  let origin = tile_origin(wg, nwg);
  let row0 = origin.x;  // rows of dweight: columns of dout
  let col = origin.y + 4u * lid;
  let octet = lane & ~7u;
  let j = lane & 7u;
  let o = row0 + 4u * (j / 4u);  // this lane's first quad of dout's columns (the second: o + 8)
  let last = M - 1u;

  let z = mat4x4<f32>();
  var t = QuadTile(z, z, z, z);
  for (var bi = 0u; bi < params.nb; bi++) {
    let b = wg.z * params.nb + bi;
    let inp0 = b * params.inp_stride;
    let out0 = b * params.out_stride;
    for (var k = 0u; k < M; k += 4u) {
      // Rows past M read the last one and count as 0 (this lane's dout values are zeroed).
      let mine = k + j % 4u;
      let d_row = out0 + min(mine, last) * OC;
      let h0 = select(vec4(0.0), dout_q(d_row, o, OC), mine < M);
      let h1 = select(vec4(0.0), dout_q(d_row, o + 8u, OC), mine < M);
      let x = mat4x4<f32>(
        inp_q(inp0 + k * C, col, C), inp_q(inp0 + min(k + 1u, last) * C, col, C),
        inp_q(inp0 + min(k + 2u, last) * C, col, C), inp_q(inp0 + min(k + 3u, last) * C, col, C),
      );
      t = dweight_k4(t, h0, h1, x, octet);
    }
  }

  let w0 = wg.z * params.weight_stride;
  store_dweight(t.m0, row0, col, w0);
  store_dweight(t.m1, row0 + 4u, col, w0);
  store_dweight(t.m2, row0 + 8u, col, w0);
  store_dweight(t.m3, row0 + 12u, col, w0);
}
