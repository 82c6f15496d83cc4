{{ENABLE_F16}}
// Causal multi-head attention forward, variant "flash" of attention_forward.wgsl (same bindings,
// same Params, same result): the FlashAttention-2 layout for real GPUs.
//
// One workgroup per (query block, kv head, batch) covers the BQ positions of ALL the G = NH / NKV
// query heads that share kv head g, so each key/value block is read from global memory once per
// group instead of once per query head (grouped-query models: 3x fewer K/V reads for G = 3).
// Its R = BQ * G rows are row rr = position offset (rr / G), head g * G + (rr % G). The rows are
// staged as vec4 (head dims padded to a multiple of 4 with zeros). Per key block of BK keys:
//   1. scores: each thread computes RPT rows x 1 key with vec4 dot products, the RPT query rows
//      shared by the threads of a row group (broadcast reads), the key row padded by one vec4 so
//      that neighbouring keys start in different banks;
//   2. online softmax: one thread per row updates the row's running max m and sum l, turns the
//      block's scores into p = exp(s - m) and records the rescale factor alpha;
//   3. p·V: thread (row r, vec4 slot c) rescales and accumulates its DPV vec4s of the output.
// No (T, T) matrix reaches global memory; the logsumexp of each row is saved for the backward.
//
// Split keys ("split" variant: decoding, where one query block per kv head leaves a GPU idle):
// with params.splits = S > 1 the S workgroups of a query block each take one S-th of its key
// blocks and write their rows' unnormalised output and (max, sum) to `part`; the entry point
// `combine` then merges the S partial rows of each output row (FlashDecoding).
// Visibility (causal, KV-cache offset, key padding mask, sliding window), scale and softcap are
// those of attention_forward.wgsl: query i is position Tk - Tq + i; a row that sees no key writes
// out = 0 and lse = NEG.

const HS: u32 = {{HS}}u;    // head size
const BQ: u32 = {{BQ}}u;    // query positions per workgroup
const G: u32 = {{G}}u;      // query heads per kv head (NH / NKV)
const BK: u32 = {{BK}}u;    // keys per block
const TPV: u32 = {{TPV}}u;  // threads per row in the p·V step
const R: u32 = BQ * G;      // rows per workgroup
const RPT: u32 = 4u;        // rows per thread in the score step
const NRG: u32 = (R + RPT - 1u) / RPT;  // row groups
const RP: u32 = NRG * RPT;  // rows padded to whole row groups
const HS4: u32 = (HS + 3u) / 4u;        // vec4s per row
const KSP: u32 = HS4 + 1u;  // padded key/value row stride (vec4s)
const DPV: u32 = (HS4 + TPV - 1u) / TPV;  // output vec4s per thread
const WG: u32 = R * TPV;
const NEG: f32 = -1.0e30;   // stands in for -inf (WGSL promises no infinities)

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (B, Tq, NH, HS)
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;  // (B, NH, Tq) logsumexp of each score row
@group(0) @binding(2) var<storage, read> q: array<f32>;          // (B, Tq, NH, HS)
@group(0) @binding(3) var<storage, read> k: array<{{KV_T}}>;     // (B, Tk, NKV, HS) f32, or f16 (a KV cache in halves)
@group(0) @binding(4) var<storage, read> v: array<{{KV_T}}>;     // (B, Tk, NKV, HS) as k
@group(0) @binding(5) var<storage, read> mask: array<u32>;       // (B, Tk) 1 = real token, 0 = padding
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<storage, read_write> part: array<f32>;  // (B, NH, Tq, S, HS + 2) output, max, sum; S > 1 only

#include "lib/attention_forward_common.wgsl"  // struct Params, visible, softcap, key_blocks

var<workgroup> qs: array<vec4<f32>, RP * HS4>;  // (RP, HS4) query rows, pre-multiplied by scale
var<workgroup> ks: array<vec4<f32>, BK * KSP>;  // (BK, KSP) key block
var<workgroup> vs: array<vec4<f32>, BK * KSP>;  // (BK, KSP) value block
var<workgroup> ss: array<f32, R * BK>;          // (R, BK) scores, then p; NEG / 0 where not visible
var<workgroup> ms: array<f32, R>;               // (R) running max of each row
var<workgroup> ls: array<f32, R>;               // (R) running sum of each row
var<workgroup> alphas: array<f32, R>;           // (R) this block's rescale factor exp(m_old - m_new)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let Tq = params.Tq;
  let Tk = params.Tk;
  let NH = params.NH;
  let NKV = params.NKV;
  let S = params.splits;
  let split = wid.x % S;
  let q0 = (wid.x / S) * BQ;
  let g = wid.y;
  let b = wid.z;

  // Rows rr = (position q0 + rr / G, head g * G + rr % G); heads of one position are adjacent in q.
  for (var e = lid; e < RP * HS4 * 4u; e += WG) {
    let rr = e / (HS4 * 4u);
    let d = e % (HS4 * 4u);
    let i = q0 + rr / G;
    var x = 0.0;
    if (rr < R && i < Tq && d < HS) {
      x = q[((b * Tq + i) * NH + g * G + rr % G) * HS + d] * params.scale;
    }
    qs[rr * HS4 + d / 4u][d % 4u] = x;
  }
  if (lid < R) {
    ms[lid] = NEG;
    ls[lid] = 0.0;
  }

  let r = lid / TPV;  // p·V step: row r, vec4 slots c, c + TPV, ...
  let c = lid % TPV;
  var acc: array<vec4<f32>, DPV>;

  // This workgroup's share of the query block's key blocks (all of them unless split).
  let kbs = key_blocks(q0, Tq, Tk);
  let per_split = (kbs.y - kbs.x + S - 1u) / S;
  let kb_first = min(kbs.x + split * per_split, kbs.y);
  let kb_end = min(kb_first + per_split, kbs.y);
  for (var kb = kb_first; kb < kb_end; kb++) {
    let k0 = kb * BK;
    for (var e = lid; e < BK * HS4 * 4u; e += WG) {
      let jj = e / (HS4 * 4u);
      let d = e % (HS4 * 4u);
      let j = k0 + jj;
      var kx = 0.0;
      var vx = 0.0;
      if (j < Tk && d < HS) {
        let o = ((b * Tk + j) * NKV + g) * HS + d;
        kx = f32(k[o]);
        vx = f32(v[o]);
      }
      ks[jj * KSP + d / 4u][d % 4u] = kx;
      vs[jj * KSP + d / 4u][d % 4u] = vx;
    }
    workgroupBarrier();

    // 1. scores, RPT rows x 1 key per item
    for (var w = lid; w < NRG * BK; w += WG) {
      let jj = w % BK;
      let rg = w / BK;
      // Initialised explicitly: one thread runs several items, and lavapipe's compiled loop did
      // not zero a declaration without initialiser on each iteration.
      var qk = array<f32, RPT>();
      for (var d4 = 0u; d4 < HS4; d4++) {
        let kv4 = ks[jj * KSP + d4];
        for (var x = 0u; x < RPT; x++) {
          qk[x] += dot(qs[(rg * RPT + x) * HS4 + d4], kv4);
        }
      }
      for (var x = 0u; x < RPT; x++) {
        let rr = rg * RPT + x;
        if (rr < R) {
          var s = NEG;
          if (visible(b, q0 + rr / G, k0 + jj)) {
            s = softcap(qk[x]);
          }
          ss[rr * BK + jj] = s;
        }
      }
    }
    workgroupBarrier();

    // 2. online softmax, one thread per row
    if (lid < R) {
      let m_old = ms[lid];
      var m_new = m_old;
      for (var jj = 0u; jj < BK; jj++) {
        m_new = max(m_new, ss[lid * BK + jj]);
      }
      var sum = 0.0;
      for (var jj = 0u; jj < BK; jj++) {
        let s = ss[lid * BK + jj];
        var p = 0.0;
        if (s > NEG) {
          p = exp(s - m_new);
        }
        ss[lid * BK + jj] = p;
        sum += p;
      }
      // m_old = NEG (nothing seen yet): l and the accumulators are 0, alpha only has to be finite.
      let alpha = select(exp(m_old - m_new), 1.0, m_old == m_new);
      alphas[lid] = alpha;
      ls[lid] = ls[lid] * alpha + sum;
      ms[lid] = m_new;
    }
    workgroupBarrier();

    // 3. p·V
    let alpha = alphas[r];
    for (var y = 0u; y < DPV; y++) {
      acc[y] *= alpha;
    }
    for (var jj = 0u; jj < BK; jj++) {
      let p = ss[r * BK + jj];
      for (var y = 0u; y < DPV; y++) {
        let d4 = c + y * TPV;
        if (d4 < HS4) {
          acc[y] += p * vs[jj * KSP + d4];
        }
      }
    }
    workgroupBarrier();
  }

  let i = q0 + r / G;
  if (i < Tq && S > 1u) {
    // Unnormalised: combine rescales each split's rows by exp(m_split - m) before dividing.
    let pb = ((((b * NH + g * G + r % G) * Tq + i) * S) + split) * (HS + 2u);
    for (var y = 0u; y < DPV; y++) {
      let d4 = c + y * TPV;
      for (var x = 0u; x < 4u; x++) {
        let d = d4 * 4u + x;
        if (d4 < HS4 && d < HS) {
          part[pb + d] = acc[y][x];
        }
      }
    }
    if (c == 0u) {
      part[pb + HS] = ms[r];
      part[pb + HS + 1u] = ls[r];
    }
  } else if (i < Tq) {
    let l = ls[r];
    let inv = select(1.0 / l, 0.0, l == 0.0);
    let o = ((b * Tq + i) * NH + g * G + r % G) * HS;
    for (var y = 0u; y < DPV; y++) {
      let d4 = c + y * TPV;
      for (var x = 0u; x < 4u; x++) {
        let d = d4 * 4u + x;
        if (d4 < HS4 && d < HS) {
          out[o + d] = acc[y][x] * inv;
        }
      }
    }
    if (c == 0u) {
      lse[(b * NH + g * G + r % G) * Tq + i] = select(ms[r] + log(l), NEG, l == 0.0);
    }
  }
}

// Merges the S split rows of each output row (b, head, query i): one workgroup per row.
@compute @workgroup_size(64)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let Tq = params.Tq;
  let NH = params.NH;
  let S = params.splits;
  let h = wid.x % NH;
  let i = wid.x / NH;
  let b = wid.y;
  let row = ((b * NH + h) * Tq + i) * S;
  var m = NEG;
  for (var s = 0u; s < S; s++) {
    m = max(m, part[(row + s) * (HS + 2u) + HS]);
  }
  var l = 0.0;
  for (var s = 0u; s < S; s++) {
    let at = (row + s) * (HS + 2u);
    if (part[at + HS] > NEG) {
      l += exp(part[at + HS] - m) * part[at + HS + 1u];
    }
  }
  let inv = select(1.0 / l, 0.0, l == 0.0);
  let o = ((b * Tq + i) * NH + h) * HS;
  for (var d = lid; d < HS; d += 64u) {
    var x = 0.0;
    for (var s = 0u; s < S; s++) {
      let at = (row + s) * (HS + 2u);
      if (part[at + HS] > NEG) {
        x += exp(part[at + HS] - m) * part[at + d];
      }
    }
    out[o + d] = x * inv;
  }
  if (lid == 0u) {
    lse[(b * NH + h) * Tq + i] = select(m + log(l), NEG, l == 0.0);
  }
}
