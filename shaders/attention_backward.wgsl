// Causal multi-head attention backward (training: Tq = Tk = T), flash-attention style: the
// probabilities are recomputed block by block from q, k and the saved logsumexp L, never stored.
// With s = softcap(scale * q.k), P = exp(s - L) on visible (query, key) pairs, and
//   D_i   = sum_d dout_i[d] out_i[d]               (pass `rowdot`, stored beside L_i)
//   dP_ij = dout_i . v_j,   dS_ij = P_ij (dP_ij - D_i) softcap'(scale * q_i.k_j)
//   dq_i  = scale sum_j dS_ij k_j                   (pass `dq_main`, one workgroup per query block)
//   dk_j  = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij dout_i
//                                                   (pass `dkdv_main`, one workgroup per key block)
// The dk/dv workgroup loops over every query block AND every query head sharing its kv head, so
// each output element has exactly one writer and no atomics are needed. Gradients are assigned.
// L and D share one scratch buffer so that dkdv_main stays within 8 storage bindings.
// Thread (r, t) owns tile row r and the head dims t, t + TPR, ... (consecutive addresses per row).

const HS: u32 = {{HS}}u;    // head size
const BQ: u32 = {{BQ}}u;    // query rows per tile
const BK: u32 = {{BK}}u;    // key rows per tile
const TPR: u32 = {{TPR}}u;  // threads per tile row (divides HS)
const DPT: u32 = HS / TPR;  // head dims per thread
const HSP: u32 = HS + 1u;   // padded row stride in workgroup memory: rows start in different banks

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

var<workgroup> qs: array<f32, BQ * HSP>;   // (BQ, HS) query tile, pre-multiplied by scale
var<workgroup> dos: array<f32, BQ * HSP>;  // (BQ, HS) dout tile
var<workgroup> Lr: array<f32, BQ>;         // (BQ) logsumexp of the tile's rows
var<workgroup> Dr: array<f32, BQ>;         // (BQ) D of the tile's rows
var<workgroup> ks: array<f32, BK * HSP>;   // (BK, HS) key tile
var<workgroup> vs: array<f32, BK * HSP>;   // (BK, HS) value tile
var<workgroup> ps: array<f32, BQ * BK>;    // P of the tile pairs (dkdv_main only)
var<workgroup> ds: array<f32, BQ * BK>;    // dS of the tile pairs

// ---- pass 1: LD = (lse, rowsum(dout * out)), one thread per (b, t, h) row ----

@compute @workgroup_size(256)
fn rowdot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  store_rowdot(gid.x + gid.y * nwg.x * 256u);
}

// ---- shared by the two tiled passes ----

// Rows q0.. of query head h into qs, dos, Lr, Dr (zeros past T); nthreads = the workgroup size.
fn stage_queries(b: u32, h: u32, q0: u32, lid: u32, nthreads: u32) {
  let T = params.T;
  let NH = params.NH;
  for (var e = lid; e < BQ * HS; e += nthreads) {
    let i = q0 + e / HS;
    let d = e % HS;
    var qx = 0.0;
    var gx = 0.0;
    if (i < T) {
      let o = ((b * T + i) * NH + h) * HS + d;
      qx = q[o] * params.scale;
      gx = dout[o];
    }
    qs[(e / HS) * HSP + d] = qx;
    dos[(e / HS) * HSP + d] = gx;
  }
  for (var e = lid; e < BQ; e += nthreads) {
    let i = q0 + e;
    var ld = vec2<f32>(0.0, 0.0);
    if (i < T) {
      ld = LD[(b * NH + h) * T + i];
    }
    Lr[e] = ld.x;
    Dr[e] = ld.y;
  }
}

// Rows k0.. of kv head g into ks, vs (zeros past T).
fn stage_keys(b: u32, g: u32, k0: u32, lid: u32, nthreads: u32) {
  let T = params.T;
  let NKV = params.NKV;
  for (var e = lid; e < BK * HS; e += nthreads) {
    let j = k0 + e / HS;
    let d = e % HS;
    var kx = 0.0;
    var vx = 0.0;
    if (j < T) {
      let o = ((b * T + j) * NKV + g) * HS + d;
      kx = k[o];
      vx = v[o];
    }
    ks[(e / HS) * HSP + d] = kx;
    vs[(e / HS) * HSP + d] = vx;
  }
}

// (P, dS) of tile query row ii (sequence position i) and tile key row jj (position j); dS is
// with respect to scale * q.k, the softcap's input.
fn grad_score(b: u32, ii: u32, jj: u32, i: u32, j: u32) -> vec2<f32> {
  if (!visible(b, i, j)) {
    return vec2<f32>(0.0, 0.0);
  }
  var qk = 0.0;
  var dp = 0.0;
  for (var d = 0u; d < HS; d++) {
    qk += qs[ii * HSP + d] * ks[jj * HSP + d];
    dp += dos[ii * HSP + d] * vs[jj * HSP + d];
  }
  let sc = softcap_grad(qk);  // (s, ds / d(scale * q.k))
  let p = exp(sc.x - Lr[ii]);
  return vec2<f32>(p, p * (dp - Dr[ii]) * sc.y);
}

// ---- pass 2: dq, one workgroup per (query block, head, batch), one pass over key blocks ----

@compute @workgroup_size(BQ * TPR)
fn dq_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let NH = params.NH;
  let q0 = wid.x * BQ;
  let h = wid.y;
  let b = wid.z;
  let g = h / (NH / params.NKV);
  let r = lid / TPR;
  let t = lid % TPR;
  stage_queries(b, h, q0, lid, BQ * TPR);

  var acc: array<f32, DPT>;
  let kbs = key_blocks(q0, T, T);
  for (var kb = kbs.x; kb < kbs.y; kb++) {
    let k0 = kb * BK;
    stage_keys(b, g, k0, lid, BQ * TPR);
    workgroupBarrier();
    for (var e = lid; e < BQ * BK; e += BQ * TPR) {
      ds[e] = grad_score(b, e / BK, e % BK, q0 + e / BK, k0 + e % BK).y;  // (BQ, BK)
    }
    workgroupBarrier();
    for (var jj = 0u; jj < BK; jj++) {
      let w = ds[r * BK + jj];
      for (var dd = 0u; dd < DPT; dd++) {
        acc[dd] += w * ks[jj * HSP + t + dd * TPR];
      }
    }
    workgroupBarrier();
  }

  let i = q0 + r;
  if (i < T) {
    let o = ((b * T + i) * NH + h) * HS + t;
    for (var dd = 0u; dd < DPT; dd++) {
      dq[o + dd * TPR] = acc[dd] * params.scale;
    }
  }
}

// ---- pass 3: dk and dv, one workgroup per (key block, kv head, batch) ----

@compute @workgroup_size(BK * TPR)
fn dkdv_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let NKV = params.NKV;
  let G = params.NH / NKV;  // query heads per kv head
  let k0 = wid.x * BK;
  let g = wid.y;
  let b = wid.z;
  let r = lid / TPR;
  let t = lid % TPR;
  stage_keys(b, g, k0, lid, BK * TPR);

  var dk_acc: array<f32, DPT>;
  var dv_acc: array<f32, DPT>;
  let qbs = query_blocks(k0);
  for (var hh = 0u; hh < G; hh++) {
    let h = g * G + hh;
    for (var qb = qbs.x; qb < qbs.y; qb++) {
      let q0 = qb * BQ;
      stage_queries(b, h, q0, lid, BK * TPR);
      workgroupBarrier();
      for (var e = lid; e < BQ * BK; e += BK * TPR) {
        let pd = grad_score(b, e % BQ, e / BQ, q0 + e % BQ, k0 + e / BQ);
        ps[e] = pd.x;  // (BK, BQ)
        ds[e] = pd.y;
      }
      workgroupBarrier();
      for (var ii = 0u; ii < BQ; ii++) {
        let p = ps[r * BQ + ii];
        let w = ds[r * BQ + ii];
        for (var dd = 0u; dd < DPT; dd++) {
          let d = t + dd * TPR;
          dv_acc[dd] += p * dos[ii * HSP + d];
          dk_acc[dd] += w * qs[ii * HSP + d];  // qs holds scale * q
        }
      }
      workgroupBarrier();
    }
  }

  let j = k0 + r;
  if (j < T) {
    let o = ((b * T + j) * NKV + g) * HS + t;
    for (var dd = 0u; dd < DPT; dd++) {
      dk[o + dd * TPR] = dk_acc[dd];
      dv[o + dd * TPR] = dv_acc[dd];
    }
  }
}
