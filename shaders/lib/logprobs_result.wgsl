// The per-row result of the log-softmax kernels (logprobs_forward.wgsl and its variants): each
// kernel defines row_stats(base, tid), the row's Stats from its own reduction over the 256
// threads of the row's workgroup (barriers: called by every thread of a row, or by none).

struct RowResult {
  write: bool,  // this thread writes the row's outputs (thread 0 of a row in range)
  n: u32,       // row within N
  logp: f32,
  lse: f32,
  sum: f32,
  aligned: f32,
}

// Row r of the chunk: its outputs, zeros for a masked row (whose logits are not read).
fn row_result(r: u32, tid: u32) -> RowResult {
  var o = RowResult(false, 0u, 0.0, 0.0, 0.0, 0.0);
  if (r >= params.rows) {
    return o;
  }
  let row = row_info(r);
  o.write = tid == 0u;
  o.n = row.n;
  if (row.tgt < 0) {
    return o;
  }
  let st = row_stats(row.base, tid);
  if (o.write) {
    o.logp = logits[row.base + u32(row.tgt)] - st.lse;
    o.lse = st.lse;
    o.sum = st.sum;
    o.aligned = o.logp - st.logSumP2;
  }
  return o;
}
