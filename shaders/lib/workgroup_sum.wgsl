// Sum of a vec4 over all threads of one workgroup, for kernels that run a whole batch in one
// workgroup (preference_loss_{forward,backward}.wgsl through lib/pair_loss_batch.wgsl,
// kto_loss_forward.wgsl, listwise_loss_forward.wgsl).
// The including kernel defines WG, its workgroup size (a power of two).

var<workgroup> red: array<vec4<f32>, WG>;

// Tree sum over the workgroup; every thread must call it.
fn wg_sum(v: vec4<f32>, tid: u32) -> vec4<f32> {
  red[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      red[tid] += red[tid + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();  // `red` is reused by the next call
  return total;
}
