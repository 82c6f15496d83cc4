// Gradient of the batch-mean KTO loss (kto_loss_forward.wgsl) by each policy log-prob sum,
// scaled by dloss; kl is detached. Assigned (activation gradients). One thread per record.
//   desirable:   dpolicy[i] = dloss/B · -wD·β·σ'(β(cr - kl))
//   undesirable: dpolicy[i] = dloss/B ·  wU·β·σ'(β(rr - kl))
// CPU twin: src/engine/cpu/kto-loss.ts.

struct Params {
  B: u32,
  beta: f32,
  wD: f32,          // desirable_weight
  wU: f32,          // undesirable_weight
  dloss: f32,       // gradient of the training objective by the batch-mean loss
}

@group(0) @binding(0) var<storage, read_write> dpolicy: array<f32>;     // (B)
@group(0) @binding(1) var<storage, read> policyLogps: array<f32>;       // (B)
@group(0) @binding(2) var<storage, read> refLogps: array<f32>;          // (B)
@group(0) @binding(3) var<storage, read> labels: array<i32>;            // (B)
@group(0) @binding(4) var<storage, read> kl: array<f32>;                // (1)
@group(0) @binding(5) var<uniform> params: Params;

// σ'(x) = σ(x)·σ(-x)
fn sigmoid_grad(x: f32) -> f32 {
  let e = exp(-abs(x));
  return e / ((1.0 + e) * (1.0 + e));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.B) {
    return;
  }
  let b = params.beta;
  let s = b * sigmoid_grad(b * (policyLogps[i] - refLogps[i] - kl[0]));
  let g = select(params.wU * s, -params.wD * s, labels[i] != 0);
  dpolicy[i] = params.dloss * g / f32(params.B);
}
