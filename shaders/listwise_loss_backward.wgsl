// Gradient of the batch-mean Plackett-Luce loss (listwise_loss_forward.wgsl) by each policy
// log-prob sum, from the saved lse, scaled by dloss. Assigned (activation gradients).
//   dL/dr_j = -1 + Σ_{k<=j} exp(r_j - lse_k)
//           = exp(r_j + A_{j-1}) - σ(lse_{j+1} - r_j)     (the σ term absent for j = N-1)
// with A_{j-1} = log Σ_{k<j} exp(-lse_k) kept as a running log-sum-exp (O(N) per list), and
// 1 - exp(r_j - lse_j) = σ(lse_{j+1} - r_j) taken exactly instead of by cancellation.
// dpolicy[b, j] = dloss·β/B · dL/dr_j. One thread per list. CPU twin:
// src/engine/cpu/listwise-loss.ts.

struct Params {
  B: u32,
  N: u32,
  beta: f32,
  dloss: f32,       // gradient of the training objective by the batch-mean loss
}

@group(0) @binding(0) var<storage, read_write> dpolicy: array<f32>;     // (B, N)
@group(0) @binding(1) var<storage, read> policyLogps: array<f32>;       // (B, N)
@group(0) @binding(2) var<storage, read> refLogps: array<f32>;          // (B, N)
@group(0) @binding(3) var<storage, read> lse: array<f32>;               // (B, N)
@group(0) @binding(4) var<uniform> params: Params;

// log(1 + x) for x in [0, 1], accurate near 0: 2·atanh(x / (2 + x)) (as in the forward).
fn log1p_(x: f32) -> f32 {
  let s = x / (2.0 + x);
  let s2 = s * s;
  let q = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0)))))));
  return 2.0 * s * q;
}

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn log_add_exp(a: f32, b: f32) -> f32 {
  return max(a, b) + log1p_(exp(-abs(a - b)));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * 256u;
  if (b >= params.B) {
    return;
  }
  let o = b * params.N;
  let scale = params.dloss * params.beta / f32(params.B);
  var A = 0.0;  // A_{j-1}; no term before j = 0
  for (var j = 0u; j < params.N; j++) {
    let r = params.beta * (policyLogps[o + j] - refLogps[o + j]);
    var g = 0.0;
    if (j > 0u) {
      g = exp(r + A);
    }
    if (j + 1u < params.N) {
      g -= sigmoid(lse[o + j + 1u] - r);
    }
    dpolicy[o + j] = scale * g;
    A = select(-lse[o], log_add_exp(A, -lse[o + j]), j > 0u);
  }
}
