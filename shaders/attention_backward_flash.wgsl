// Causal multi-head attention backward (training: Tq = Tk = T), variant "flash" of
// attention_backward.wgsl (same bindings, Params, entry points and result): the FlashAttention-2
// two-pass split with the forward variant's layout for real GPUs. The probabilities are recomputed
// from q, k and the saved logsumexp L, never stored:
//   D_i   = sum_d dout_i[d] out_i[d]               (pass `rowdot`, stored beside L_i)
//   P_ij  = exp(s_ij - L_i),  dS_ij = P_ij (dout_i . v_j - D_i) softcap'(scale * q_i.k_j)
//   dq_i  = scale sum_j dS_ij k_j                   (pass `dq_main`: one workgroup per query block
//                                                    and kv head, all G query heads of the group)
//   dk_j  = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij dout_i
//                                                   (pass `dkdv_main`: one workgroup per key block
//                                                    and kv head, looping over query blocks)
// A workgroup's query tile holds R = BQ * G rows (row rr = position offset rr / G, head
// g * G + rr % G), so a key/value block is staged once for the G heads sharing it, and in dkdv_main
// each query block brings all G heads at once. Rows are vec4s (head dims zero-padded to a multiple
// of 4); the score step computes RPT rows x 1 key per thread with vec4 dot products; key and value
// rows are padded by one vec4. Each output element has exactly one writer: no atomics.

const HS: u32 = {{HS}}u;    // head size
const BQ: u32 = {{BQ}}u;    // query positions per tile
const G: u32 = {{G}}u;      // query heads per kv head (NH / NKV)
const BK: u32 = {{BK}}u;    // keys per tile
const TPQ: u32 = {{TPQ}}u;  // dq_main: threads per query row
const TPK: u32 = {{TPK}}u;  // dkdv_main: threads per key row
const R: u32 = BQ * G;      // query rows per tile
const RPT: u32 = 4u;        // rows per thread in the score step
const NRG: u32 = (R + RPT - 1u) / RPT;
const RP: u32 = NRG * RPT;  // rows padded to whole row groups
const HS4: u32 = (HS + 3u) / 4u;
const KSP: u32 = HS4 + 1u;  // padded key/value row stride (vec4s)
const DPQ: u32 = (HS4 + TPQ - 1u) / TPQ;  // dq vec4s per thread
const DPK: u32 = (HS4 + TPK - 1u) / TPK;  // dk (and dv) vec4s per thread
const WGQ: u32 = R * TPQ;
const WGK: u32 = BK * TPK;

@group(0) @binding(0) var<storage, read_write> dq: array<f32>;     // (B, T, NH, HS)
@group(0) @binding(1) var<storage, read_write> dk: array<f32>;     // (B, T, NKV, HS)
@group(0) @binding(2) var<storage, read_write> dv: array<f32>;     // (B, T, NKV, HS)
@group(0) @binding(3) var<storage, read_write> LD: array<vec2<f32>>;  // (B, NH, T) (L, D) pairs, scratch
@group(0) @binding(4) var<storage, read> dout: array<f32>;         // (B, T, NH, HS)
@group(0) @binding(5) var<storage, read> q: array<f32>;            // (B, T, NH, HS)
@group(0) @binding(6) var<storage, read> k: array<f32>;            // (B, T, NKV, HS)
@group(0) @binding(7) var<storage, read> v: array<f32>;            // (B, T, NKV, HS)
@group(0) @binding(8) var<storage, read> out: array<f32>;          // (B, T, NH, HS)
@group(0) @binding(9) var<storage, read> lse: array<f32>;          // (B, NH, T) from the forward
@group(0) @binding(10) var<storage, read> mask: array<u32>;        // (B, T) 1 = real token, 0 = padding
@group(0) @binding(11) var<uniform> params: Params;

#include "lib/attention_backward_common.wgsl"  // struct Params, visible, softcap_grad, key_blocks, query_blocks, store_rowdot

var<workgroup> qs: array<vec4<f32>, RP * HS4>;   // (RP, HS4) query rows, pre-multiplied by scale
var<workgroup> dos: array<vec4<f32>, RP * HS4>;  // (RP, HS4) dout rows
var<workgroup> Lr: array<f32, RP>;               // (RP) logsumexp of the rows
var<workgroup> Dr: array<f32, RP>;               // (RP) D of the rows
var<workgroup> ks: array<vec4<f32>, BK * KSP>;   // (BK, KSP) key tile
var<workgroup> vs: array<vec4<f32>, BK * KSP>;   // (BK, KSP) value tile
var<workgroup> ps: array<f32, R * BK>;           // (R, BK) P (dkdv_main only)
var<workgroup> ds: array<f32, R * BK>;           // (R, BK) dS

// ---- pass 1: LD = (lse, rowsum(dout * out)), one thread per (b, t, h) row ----

@compute @workgroup_size(256)
fn rowdot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  store_rowdot(gid.x + gid.y * nwg.x * 256u);
}

// ---- shared by the two tiled passes ----

// Rows of positions q0.. x the G heads of kv head g into qs, dos, Lr, Dr (zeros past T and R).
fn stage_queries(b: u32, g: u32, q0: u32, lid: u32, nthreads: u32) {
  let T = params.T;
  let NH = params.NH;
  for (var e = lid; e < RP * HS4 * 4u; e += nthreads) {
    let rr = e / (HS4 * 4u);
    let d = e % (HS4 * 4u);
    let i = q0 + rr / G;
    var qx = 0.0;
    var gx = 0.0;
    if (rr < R && i < T && d < HS) {
      let o = ((b * T + i) * NH + g * G + rr % G) * HS + d;
      qx = q[o] * params.scale;
      gx = dout[o];
    }
    qs[rr * HS4 + d / 4u][d % 4u] = qx;
    dos[rr * HS4 + d / 4u][d % 4u] = gx;
  }
  for (var rr = lid; rr < RP; rr += nthreads) {
    let i = q0 + rr / G;
    var ld = vec2<f32>(0.0, 0.0);
    if (rr < R && i < T) {
      ld = LD[(b * NH + g * G + rr % G) * T + i];
    }
    Lr[rr] = ld.x;
    Dr[rr] = ld.y;
  }
}

// Keys k0.. of kv head g into ks, vs (zeros past T).
fn stage_keys(b: u32, g: u32, k0: u32, lid: u32, nthreads: u32) {
  let T = params.T;
  let NKV = params.NKV;
  for (var e = lid; e < BK * HS4 * 4u; e += nthreads) {
    let jj = e / (HS4 * 4u);
    let d = e % (HS4 * 4u);
    let j = k0 + jj;
    var kx = 0.0;
    var vx = 0.0;
    if (j < T && d < HS) {
      let o = ((b * T + j) * NKV + g) * HS + d;
      kx = k[o];
      vx = v[o];
    }
    ks[jj * KSP + d / 4u][d % 4u] = kx;
    vs[jj * KSP + d / 4u][d % 4u] = vx;
  }
}

// (P, dS) of rows rg * RPT .. + RPT against tile key jj (position k0 + jj); dS is with respect to
// scale * q.k, the softcap's input. Rows past R or not visible give (0, 0).
fn grad_scores(b: u32, q0: u32, k0: u32, rg: u32, jj: u32) -> array<vec2<f32>, RPT> {
  var qk = array<f32, RPT>();
  var dp = array<f32, RPT>();
  for (var d4 = 0u; d4 < HS4; d4++) {
    let k4 = ks[jj * KSP + d4];
    let v4 = vs[jj * KSP + d4];
    for (var x = 0u; x < RPT; x++) {
      let rr = rg * RPT + x;
      qk[x] += dot(qs[rr * HS4 + d4], k4);
      dp[x] += dot(dos[rr * HS4 + d4], v4);
    }
  }
  var res = array<vec2<f32>, RPT>();
  for (var x = 0u; x < RPT; x++) {
    let rr = rg * RPT + x;
    if (rr < R && visible(b, q0 + rr / G, k0 + jj)) {
      let sc = softcap_grad(qk[x]);  // (s, ds / d(scale * q.k))
      let p = exp(sc.x - Lr[rr]);
      res[x] = vec2<f32>(p, p * (dp[x] - Dr[rr]) * sc.y);
    }
  }
  return res;
}

// ---- pass 2: dq, one workgroup per (query block, kv head, batch), one pass over key blocks ----

@compute @workgroup_size(WGQ)
fn dq_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let NH = params.NH;
  let q0 = wid.x * BQ;
  let g = wid.y;
  let b = wid.z;
  let r = lid / TPQ;
  let c = lid % TPQ;
  stage_queries(b, g, q0, lid, WGQ);

  var acc: array<vec4<f32>, DPQ>;
  let kbs = key_blocks(q0, T, T);
  for (var kb = kbs.x; kb < kbs.y; kb++) {
    let k0 = kb * BK;
    stage_keys(b, g, k0, lid, WGQ);
    workgroupBarrier();
    for (var w = lid; w < NRG * BK; w += WGQ) {
      let jj = w % BK;
      let rg = w / BK;
      let pd = grad_scores(b, q0, k0, rg, jj);
      for (var x = 0u; x < RPT; x++) {
        let rr = rg * RPT + x;
        if (rr < R) {
          ds[rr * BK + jj] = pd[x].y;
        }
      }
    }
    workgroupBarrier();
    for (var jj = 0u; jj < BK; jj++) {
      let wgt = ds[r * BK + jj];
      for (var y = 0u; y < DPQ; y++) {
        let d4 = c + y * TPQ;
        if (d4 < HS4) {
          acc[y] += wgt * ks[jj * KSP + d4];
        }
      }
    }
    workgroupBarrier();
  }

  let i = q0 + r / G;
  if (i < T) {
    let o = ((b * T + i) * NH + g * G + r % G) * HS;
    for (var y = 0u; y < DPQ; y++) {
      let d4 = c + y * TPQ;
      for (var x = 0u; x < 4u; x++) {
        let d = d4 * 4u + x;
        if (d4 < HS4 && d < HS) {
          dq[o + d] = acc[y][x] * params.scale;
        }
      }
    }
  }
}

// ---- pass 3: dk and dv, one workgroup per (key block, kv head, batch) ----

@compute @workgroup_size(WGK)
fn dkdv_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let NKV = params.NKV;
  let k0 = wid.x * BK;
  let g = wid.y;
  let b = wid.z;
  let r = lid / TPK;  // key row of the accumulation step
  let c = lid % TPK;
  stage_keys(b, g, k0, lid, WGK);

  var dk_acc: array<vec4<f32>, DPK>;
  var dv_acc: array<vec4<f32>, DPK>;
  let qbs = query_blocks(k0);
  for (var qb = qbs.x; qb < qbs.y; qb++) {
    let q0 = qb * BQ;
    stage_queries(b, g, q0, lid, WGK);
    workgroupBarrier();
    for (var w = lid; w < NRG * BK; w += WGK) {
      let jj = w % BK;
      let rg = w / BK;
      let pd = grad_scores(b, q0, k0, rg, jj);
      for (var x = 0u; x < RPT; x++) {
        let rr = rg * RPT + x;
        if (rr < R) {
          ps[rr * BK + jj] = pd[x].x;
          ds[rr * BK + jj] = pd[x].y;
        }
      }
    }
    workgroupBarrier();
    for (var rr = 0u; rr < R; rr++) {
      let p = ps[rr * BK + r];
      let wgt = ds[rr * BK + r];
      for (var y = 0u; y < DPK; y++) {
        let d4 = c + y * TPK;
        if (d4 < HS4) {
          dv_acc[y] += p * dos[rr * HS4 + d4];
          dk_acc[y] += wgt * qs[rr * HS4 + d4];  // qs holds scale * q
        }
      }
    }
    workgroupBarrier();
  }

  let j = k0 + r;
  if (j < T) {
    let o = ((b * T + j) * NKV + g) * HS;
    for (var y = 0u; y < DPK; y++) {
      let d4 = c + y * TPK;
      for (var x = 0u; x < 4u; x++) {
        let d = d4 * 4u + x;
        if (d4 < HS4 && d < HS) {
          dk[o + d] = dk_acc[y][x];
          dv[o + d] = dv_acc[y][x];
        }
      }
    }
  }
}
