// One row of logits in a logprobs forward workgroup (shaders/logprobs_forward.wgsl and its
// variant logprobs_forward_subgroup.wgsl): which row a workgroup owns, and each thread's pass
// over its columns (consecutive threads on consecutive columns) keeping an online max m,
// s = Σexp(x - m), s2 = Σexp(x - m)² and the plain sum Σx. The including kernel declares
// `logits`, `targets` and `params` (V, row0, rows) and merges the threads' partials (row_stats).

const WG: u32 = 256u;
// Finite stand-in for -inf: exp(LOWEST - m) is 0 for any finite m and never NaN.
const LOWEST: f32 = -0x1.fffffep+127f;  // -FLT_MAX

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

// A thread's (or a merged group's) running statistics of part of a row.
struct Partial {
  m: f32,    // max
  s: f32,    // Σexp(x - m)
  s2: f32,   // Σexp(x - m)²
  sum: f32,  // Σx
}

// Thread tid's statistics over columns tid, tid + WG, ... of the row at `base`.
fn thread_partial(base: u32, tid: u32) -> Partial {
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
  return Partial(m, s, s2, sum);
}

// Two partials as one (the max shift of each rescaled to the larger).
fn merge(a: Partial, b: Partial) -> Partial {
  let mn = max(a.m, b.m);
  let ra = exp(a.m - mn);
  let rb = exp(b.m - mn);
  return Partial(mn, a.s * ra + b.s * rb, a.s2 * (ra * ra) + b.s2 * (rb * rb), a.sum + b.sum);
}

fn stats_of(p: Partial) -> Stats {
  let logS = log(p.s);
  return Stats(p.m + logS, p.sum, log(p.s2) - 2.0 * logS);
}
