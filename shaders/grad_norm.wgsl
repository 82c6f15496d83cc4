// Global gradient norm for clipping, without atomics, in a fixed order (deterministic):
//   `partials` (one dispatch per gradient tensor): workgroup w of G sums g² over elements
//     w·256 + tid + k·G·256 and writes partials[offset + w];
//   `finish` (one workgroup): norm = sqrt(Σ partials), and PyTorch's clip_grad_norm_ factor
//     clipScale = min(1, maxNorm / (norm + 1e-6)), or 1 when clip = 0 (maxNorm = inf),
//   which adamw_update.wgsl reads as its gradScale.

struct Params {
  N: u32,        // elements of this gradient (partials)
  offset: u32,   // its first partial slot (partials)
  P: u32,        // partials in all (finish)
  maxNorm: f32,  // (finish)
  clip: u32,     // 0 = no clipping, clipScale = 1 (finish)
}

@group(0) @binding(0) var<storage, read_write> partials: array<f32>;   // (P)
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;       // (1)
@group(0) @binding(2) var<storage, read_write> clipScale: array<f32>;  // (1)
@group(0) @binding(3) var<storage, read> grad: array<f32>;             // (N)
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;

var<workgroup> sSum: array<f32, WG>;

// Tree sum of every thread's value; every thread of the workgroup must call it.
fn workgroup_sum(x: f32, tid: u32) -> f32 {
  sSum[tid] = x;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      sSum[tid] += sSum[tid + stride];
    }
    workgroupBarrier();
  }
  return sSum[0];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  var s = 0.0;
  // Grid-stride: consecutive threads on consecutive elements.
  for (var i = wid.x * WG + tid; i < params.N; i += nwg.x * WG) {
    let g = grad[i];
    s += g * g;
  }
  let total = workgroup_sum(s, tid);
  if (tid == 0u) {
    partials[params.offset + wid.x] = total;
  }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) tid: u32) {
  var s = 0.0;
  for (var i = tid; i < params.P; i += WG) {
    s += partials[i];
  }
  let total = workgroup_sum(s, tid);
  if (tid == 0u) {
    let n = sqrt(total);
    norm[0] = n;
    clipScale[0] = select(1.0, min(1.0, params.maxNorm / (n + 1e-6)), params.clip != 0u);
  }
}
