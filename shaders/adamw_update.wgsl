// AdamW step with torch.optim.AdamW semantics (decoupled weight decay, bias-corrected moments),
// elementwise over one flat f32 parameter tensor:
//   g = grad · gradScale[0]         (the clip factor from grad_norm.wgsl: no readback)
//   m = β1·m + (1 - β1)·g
//   v = β2·v + (1 - β2)·g²
//   param = param·(1 - lr·wd) - lr · (m / bc1) / (sqrt(v / bc2) + eps),  bc = 1 - β^t
// evaluated as PyTorch does: param·decay - stepSize · m / (sqrt(v) / bc2Sqrt + eps). Every
// scalar is computed on the host in float64 (as PyTorch does in Python): 1 - β2 formed in f32
// from β2 = 0.999 would be off by 1.3e-5 relative. `main_unscaled` skips gradScale.
// zeroGrad = 1 clears the gradient after reading it (saves a pass before the next backward).

struct Params {
  N: u32,              // elements
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,  // 1 - beta1
  oneMinusBeta2: f32,  // 1 - beta2
  eps: f32,
  decay: f32,          // 1 - lr * weightDecay
  stepSize: f32,       // lr / (1 - beta1^t)
  bc2Sqrt: f32,        // sqrt(1 - beta2^t)
  zeroGrad: u32,       // 1 = grad = 0 afterwards
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;   // (N)
@group(0) @binding(2) var<storage, read_write> m: array<f32>;      // (N) first moment
@group(0) @binding(3) var<storage, read_write> v: array<f32>;      // (N) second moment
@group(0) @binding(4) var<storage, read> gradScale: array<f32>;    // (1)
@group(0) @binding(5) var<uniform> params: Params;

fn update(i: u32, scale: f32) {
  let g = grad[i] * scale;
  let mi = params.beta1 * m[i] + params.oneMinusBeta1 * g;
  let vi = params.beta2 * v[i] + params.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / params.bc2Sqrt + params.eps;
  param[i] = param[i] * params.decay - params.stepSize * mi / denom;
  if (params.zeroGrad != 0u) {
    grad[i] = 0.0;
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  update(i, gradScale[0]);
}

@compute @workgroup_size(256)
fn main_unscaled(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  update(i, 1.0);
}
