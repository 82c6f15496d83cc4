// Per-token log-probabilities without a probability tensor. One workgroup per row of logits
// streams the row once (consecutive threads on consecutive columns) and keeps an online
// max / Σexp(x - max) / Σx per thread, then merges the 256 triples in a tree:
//   lse[n]      = logsumexp(logits[n])
//   logp[n]     = logits[n, targets[n]] - lse[n]
//   logitSum[n] = Σ_v logits[n, v]          (entry `main` only; TRL's logits/chosen is sum / V)
// A row whose target is outside [0, V) (negative = masked) is not read and gets 0 in all three.
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
@group(0) @binding(3) var<storage, read> logits: array<f32>;          // (rows, V)
@group(0) @binding(4) var<storage, read> targets: array<i32>;         // (N)
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 256u;
// Finite stand-in for -inf: exp(LOWEST - m) is 0 for any finite m and never NaN.
const LOWEST: f32 = -0x1.fffffep+127f;  // -FLT_MAX

var<workgroup> sMax: array<f32, WG>;
var<workgroup> sExp: array<f32, WG>;
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
}

// logsumexp and plain sum of one row; every thread of the workgroup must call it.
fn row_stats(base: u32, tid: u32) -> Stats {
  let V = params.V;
  var m = LOWEST;
  var s = 0.0;
  var sum = 0.0;
  var i = tid;
  // Four independent loads in flight per thread, one rescale per four values.
  for (; i + 3u * WG < V; i += 4u * WG) {
    let a = logits[base + i];
    let b = logits[base + i + WG];
    let c = logits[base + i + 2u * WG];
    let d = logits[base + i + 3u * WG];
    let mn = max(m, max(max(a, b), max(c, d)));
    s = s * exp(m - mn) + ((exp(a - mn) + exp(b - mn)) + (exp(c - mn) + exp(d - mn)));
    m = mn;
    sum += (a + b) + (c + d);
  }
  for (; i < V; i += WG) {
    let x = logits[base + i];
    let mn = max(m, x);
    s = s * exp(m - mn) + exp(x - mn);
    m = mn;
    sum += x;
  }
  sMax[tid] = m;
  sExp[tid] = s;
  sSum[tid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      let m1 = sMax[tid];
      let m2 = sMax[tid + stride];
      let mn = max(m1, m2);
      sExp[tid] = sExp[tid] * exp(m1 - mn) + sExp[tid + stride] * exp(m2 - mn);
      sMax[tid] = mn;
      sSum[tid] += sSum[tid + stride];
    }
    workgroupBarrier();
  }
  return Stats(sMax[0] + log(sExp[0]), sSum[0]);
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
    }
    return;
  }
  let st = row_stats(row.base, tid);
  if (tid == 0u) {
    logp[row.n] = logits[row.base + u32(row.tgt)] - st.lse;
    lse[row.n] = st.lse;
    logitSum[row.n] = st.sum;
  }
}

// The same without the logit sum (inference-only callers).
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
