{{ENABLE_F16}}
// Causal multi-head attention forward, flash-attention style, with grouped-query heads (query
// head h reads kv head h / (NH / NKV)) and a key padding mask.
//
// One workgroup per (query block, head, batch). The query block is staged once in workgroup
// memory; key and value blocks stream through it, and an online softmax keeps each row's running
// max m, sum l and output accumulator in registers, so no (T, T) matrix reaches global memory.
// Query i is the sequence position Tk - Tq + i (Tq < Tk when sampling with a KV cache) and sees
// keys j <= that position whose mask is non-zero, and with a sliding window W > 0 only the keys
// with position - j < W (Hugging Face's sliding_window_overlay: kv_idx > q_idx - W). A row that
// sees no key writes out = 0 and lse = NEG. Thread (r, t) of the workgroup owns query row r and
// the head dims t, t + TPR, ..., so the threads of a row touch consecutive addresses.

const HS: u32 = {{HS}}u;    // head size
const BQ: u32 = {{BQ}}u;    // query rows per workgroup
const BK: u32 = {{BK}}u;    // keys per block
const TPR: u32 = {{TPR}}u;  // threads per query row (divides HS)
const DPT: u32 = HS / TPR;  // head dims per thread
const WG: u32 = BQ * TPR;
const HSP: u32 = HS + 1u;   // padded row stride in workgroup memory: rows start in different banks
const NEG: f32 = -1.0e30;   // stands in for -inf (WGSL promises no infinities)

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (B, Tq, NH, HS)
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;  // (B, NH, Tq) logsumexp of each score row
@group(0) @binding(2) var<storage, read> q: array<f32>;          // (B, Tq, NH, HS)
@group(0) @binding(3) var<storage, read> k: array<{{KV_T}}>;     // (B, Tk, NKV, HS) f32, or f16 (a KV cache in halves)
@group(0) @binding(4) var<storage, read> v: array<{{KV_T}}>;     // (B, Tk, NKV, HS) as k
@group(0) @binding(5) var<storage, read> mask: array<u32>;       // (B, Tk) 1 = real token, 0 = padding
@group(0) @binding(6) var<uniform> params: Params;

#include "lib/attention_forward_common.wgsl"  // struct Params, visible, softcap, key_blocks

var<workgroup> qs: array<f32, BQ * HSP>;  // (BQ, HS) query block, pre-multiplied by scale
var<workgroup> ks: array<f32, BK * HSP>;  // (BK, HS) key block
var<workgroup> vs: array<f32, BK * HSP>;  // (BK, HS) value block
var<workgroup> ss: array<f32, BQ * BK>;   // (BQ, BK) scores of this block, NEG where not visible

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let Tq = params.Tq;
  let Tk = params.Tk;
  let NH = params.NH;
  let NKV = params.NKV;
  let q0 = wid.x * BQ;
  let h = wid.y;
  let b = wid.z;
  let kvh = h / (NH / NKV);
  let r = lid / TPR;
  let t = lid % TPR;

  for (var e = lid; e < BQ * HS; e += WG) {
    let i = q0 + e / HS;
    let d = e % HS;
    var x = 0.0;
    if (i < Tq) {
      x = q[((b * Tq + i) * NH + h) * HS + d] * params.scale;
    }
    qs[(e / HS) * HSP + d] = x;
  }

  var m = NEG;
  var l = 0.0;
  var acc: array<f32, DPT>;
  let kbs = key_blocks(q0, Tq, Tk);
  for (var kb = kbs.x; kb < kbs.y; kb++) {
    let k0 = kb * BK;
    for (var e = lid; e < BK * HS; e += WG) {
      let j = k0 + e / HS;
      let d = e % HS;
      var kx = 0.0;
      var vx = 0.0;
      if (j < Tk) {
        let o = ((b * Tk + j) * NKV + kvh) * HS + d;
        kx = f32(k[o]);
        vx = f32(v[o]);
      }
      ks[(e / HS) * HSP + d] = kx;
      vs[(e / HS) * HSP + d] = vx;
    }
    workgroupBarrier();

    for (var e = lid; e < BQ * BK; e += WG) {
      let rr = e / BK;
      let jj = e % BK;
      var s = NEG;
      if (visible(b, q0 + rr, k0 + jj)) {
        var qk = 0.0;
        for (var d = 0u; d < HS; d++) {
          qk += qs[rr * HSP + d] * ks[jj * HSP + d];
        }
        s = softcap(qk);
      }
      ss[e] = s;
    }
    workgroupBarrier();

    // Online softmax: every thread of row r updates its copy of (m, l) and its DPT dims.
    var m_blk = NEG;
    for (var jj = 0u; jj < BK; jj++) {
      m_blk = max(m_blk, ss[r * BK + jj]);
    }
    if (m_blk > NEG) {
      let m_new = max(m, m_blk);
      let alpha = select(exp(m - m_new), 0.0, l == 0.0);
      l *= alpha;
      for (var dd = 0u; dd < DPT; dd++) {
        acc[dd] *= alpha;
      }
      for (var jj = 0u; jj < BK; jj++) {
        let s = ss[r * BK + jj];
        if (s > NEG) {
          let p = exp(s - m_new);
          l += p;
          for (var dd = 0u; dd < DPT; dd++) {
            acc[dd] += p * vs[jj * HSP + t + dd * TPR];
          }
        }
      }
      m = m_new;
    }
    workgroupBarrier();
  }

  let i = q0 + r;
  if (i < Tq) {
    let inv = select(1.0 / l, 0.0, l == 0.0);
    let o = ((b * Tq + i) * NH + h) * HS + t;
    for (var dd = 0u; dd < DPT; dd++) {
      out[o + dd * TPR] = acc[dd] * inv;
    }
    if (t == 0u) {
      lse[(b * NH + h) * Tq + i] = select(m + log(l), NEG, l == 0.0);
    }
  }
}
