// Row sums for kernels that give each row of a (N, C) tensor to TPR consecutive threads of a
// workgroup (layernorm_forward.wgsl, rmsnorm_forward.wgsl, rmsnorm_backward.wgsl,
// layernorm_backward.wgsl). The including kernel defines WG (threads per workgroup), TPR (threads
// per row, a power of two dividing WG) and RowValue, what is summed: f32, or vec2<f32> where the
// layernorm backward sums two quantities at once.

var<workgroup> red: array<RowValue, WG>;

// Σ v over the TPR threads of this thread's row. Every thread of the workgroup must call it.
fn row_sum(v: RowValue, tid: u32) -> RowValue {
  let lane = tid % TPR;
  red[tid] = v;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      red[tid] += red[tid + s];
    }
    workgroupBarrier();
  }
  let total = red[tid - lane];
  workgroupBarrier();  // before the next call overwrites red
  return total;
}
