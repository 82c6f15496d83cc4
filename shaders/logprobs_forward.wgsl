// Per-token log-probabilities without a probability tensor. One workgroup per row of logits
// streams the row once (consecutive threads on consecutive columns) and keeps an online
// max m / s = Σexp(x - m) / s2 = Σexp(x - m)² / Σx per thread, then merges the 256 of them in
// a tree:
//   lse[n]      = logsumexp(logits[n]) = m + log s
//   logp[n]     = logits[n, targets[n]] - lse[n]
//   logitSum[n] = Σ_v logits[n, v]          (entry `main` only; TRL's logits/chosen is sum / V)
//   aligned[n]  = logp[n] - log Σ_v p_v²     (entry `main` only; WPO's aligned log-prob, TRL's
//                 logp - (logsumexp(2·logits) - 2·logsumexp(logits)); log Σp² = log s2 - 2 log s)
// A row whose target is outside [0, V) (negative = masked) is not read and gets 0 in every output.
// `logits` holds rows row0 .. row0 + rows - 1 of the N rows that targets / logp / lse index,
// so the caller can push a batch through the LM head one chunk of rows at a time.

struct Params {
  V: u32,     // vocabulary size
  row0: u32,  // first row of the chunk within N
  rows: u32,  // rows in the chunk (rows of `logits`)
}

@group(0) @binding(0) var<storage, read_write> logp: array<f32>;      // (N)
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;       // (N)
@group(0) @binding(2) var<storage, read_write> logitSum: array<f32>;  // (N)
@group(0) @binding(3) var<storage, read_write> aligned: array<f32>;   // (N)
@group(0) @binding(4) var<storage, read> logits: array<f32>;          // (rows, V)
@group(0) @binding(5) var<storage, read> targets: array<i32>;         // (N)
@group(0) @binding(6) var<uniform> params: Params;

const WG: u32 = 256u;
// Finite stand-in for -inf: exp(LOWEST - m) is 0 for any finite m and never NaN.
const LOWEST: f32 = -0x1.fffffep+127f;  // -FLT_MAX

var<workgroup> sMax: array<f32, WG>;
var<workgroup> sExp: array<f32, WG>;
var<workgroup> sExp2: array<f32, WG>;
var<workgroup> sSum: array<f32, WG>;

struct Row {
  n: u32,       // row within N
  base: u32,    // offset of the row in `logits`
  tgt: i32,     // target id, -1 when masked or out of range
}

// Rows of the chunk are spread over x and y (more than 65535 rows); r >= rows is past the end.
fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn row_info(r: u32) -> Row {
  let n = params.row0 + r;
  let t = targets[n];
  let valid = t >= 0 && u32(t) < params.V;
  return Row(n, r * params.V, select(-1, t, valid));
}

struct Stats {
  lse: f32,
  sum: f32,
  logSumP2: f32,  // log Σ_v p_v² = log s2 - 2·log s (s, s2 >= 1: the max term counts 1)
}

// logsumexp, plain sum and log Σp² of one row; every thread of the workgroup must call it.
fn row_stats(base: u32, tid: u32) -> Stats {
  let V = params.V;
  var m = LOWEST;
  var s = 0.0;
  var s2 = 0.0;
  var sum = 0.0;
  var i = tid;
  // Four independent loads in flight per thread, one rescale per four values.
  for (; i + 3u * WG < V; i += 4u * WG) {
    let a = logits[base + i];
    let b = logits[base + i + WG];
    let c = logits[base + i + 2u * WG];
    let d = logits[base + i + 3u * WG];
    let mn = max(m, max(max(a, b), max(c, d)));
    let r = exp(m - mn);
    let ea = exp(a - mn);
    let eb = exp(b - mn);
    let ec = exp(c - mn);
    let ed = exp(d - mn);
    s = s * r + ((ea + eb) + (ec + ed));
    s2 = s2 * (r * r) + ((ea * ea + eb * eb) + (ec * ec + ed * ed));
    m = mn;
    sum += (a + b) + (c + d);
  }
  for (; i < V; i += WG) {
    let x = logits[base + i];
    let mn = max(m, x);
    let r = exp(m - mn);
    let e = exp(x - mn);
    s = s * r + e;
    s2 = s2 * (r * r) + e * e;
    m = mn;
    sum += x;
  }
  sMax[tid] = m;
  sExp[tid] = s;
  sExp2[tid] = s2;
  sSum[tid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      let m1 = sMax[tid];
      let m2 = sMax[tid + stride];
      let mn = max(m1, m2);
      let r1 = exp(m1 - mn);
      let r2 = exp(m2 - mn);
      sExp[tid] = sExp[tid] * r1 + sExp[tid + stride] * r2;
      sExp2[tid] = sExp2[tid] * (r1 * r1) + sExp2[tid + stride] * (r2 * r2);
      sMax[tid] = mn;
      sSum[tid] += sSum[tid + stride];
    }
    workgroupBarrier();
  }
  let logS = log(sExp[0]);
  return Stats(sMax[0] + logS, sSum[0], log(sExp2[0]) - 2.0 * logS);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let r = row_of(wid, nwg);
  if (r >= params.rows) {
    return;
  }
  let row = row_info(r);
  if (row.tgt < 0) {
    if (tid == 0u) {
      logp[row.n] = 0.0;
      lse[row.n] = 0.0;
      logitSum[row.n] = 0.0;
      aligned[row.n] = 0.0;
    }
    return;
  }
  let st = row_stats(row.base, tid);
  if (tid == 0u) {
    let lp = logits[row.base + u32(row.tgt)] - st.lse;
    logp[row.n] = lp;
    lse[row.n] = st.lse;
    logitSum[row.n] = st.sum;
    aligned[row.n] = lp - st.logSumP2;
  }
}

// The same without the logit sum and the aligned log-prob (inference-only callers).
@compute @workgroup_size(256)
fn main_nosum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) tid: u32) {
  let r = row_of(wid, nwg);
  if (r >= params.rows) {
    return;
  }
  let row = row_info(r);
  if (row.tgt < 0) {
    if (tid == 0u) {
      logp[row.n] = 0.0;
      lse[row.n] = 0.0;
    }
    return;
  }
  let st = row_stats(row.base, tid);
  if (tid == 0u) {
    logp[row.n] = logits[row.base + u32(row.tgt)] - st.lse;
    lse[row.n] = st.lse;
  }
}
