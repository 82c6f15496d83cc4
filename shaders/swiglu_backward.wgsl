// Gated MLP activation backward (activation gradients, assigned): dgate = dout · up · act'(gate),
// dup = dout · act(gate), with act = silu (silu'(x) = s + x·s·(1 − s), s = sigmoid(x)) or the
// tanh GELU (gelu'(x) = s + 2x·s·(1 − s)·u', s = sigmoid(2u), u' = √(2/π)(1 + 3·0.044715 x²), as
// gelu_backward.wgsl). Same layout as the forward (S, U). `main` writes separate dgate and dup;
// `fused` writes both halves of one (N, 2H) gradient, bound as dgu (one writable binding may not
// alias another).
//
// Placeholders (src/engine/kernels/swiglu.ts fills them):
//   {{GELU}}  true: GeGLU (tanh GELU); false: SwiGLU (silu)

const GELU: bool = {{GELU}};

#include "lib/gelu_math.wgsl"

struct Params {
  N: u32,          // rows (B * T)
  H: u32,          // hidden size
  S: u32,          // row stride of gate, up and their gradients: H, or 2H fused
  U: u32,          // offset of up within its row: 0, or H fused
}

@group(0) @binding(0) var<storage, read_write> dgate: array<f32>;  // (N, H)
@group(0) @binding(1) var<storage, read_write> dup: array<f32>;    // (N, H)
@group(0) @binding(2) var<storage, read_write> dgu: array<f32>;    // (N, 2H) fused [dgate | dup]
@group(0) @binding(3) var<storage, read> dout: array<f32>;         // (N, H)
@group(0) @binding(4) var<storage, read> gate: array<f32>;         // (N, H) or (N, 2H) fused
@group(0) @binding(5) var<storage, read> up: array<f32>;           // (N, H) or the fused (N, 2H)
@group(0) @binding(6) var<uniform> params: Params;

// (act(x), act'(x)).
fn act_grad(x: f32) -> vec2<f32> {
  if (GELU) {
    let u = tanh_arg(x);
    let s = sigmoid(2.0 * u);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
    return vec2<f32>(x * s, s + 2.0 * x * s * sigmoid(-2.0 * u) * du);
  }
  let s = sigmoid(x);
  return vec2<f32>(x * s, s + x * s * (1.0 - s));
}

// Flat index of output i -> (index of its gate, (dgate, dup)).
struct Grad {
  g: u32,
  d: vec2<f32>,
}

fn grad(i: u32) -> Grad {
  let n = i / params.H;
  let j = i - n * params.H;
  let gi = n * params.S + j;
  let x = gate[gi];
  let u = up[gi + params.U];
  let a = act_grad(x);
  let d = dout[i];
  return Grad(gi, vec2<f32>(d * u * a.y, d * a.x));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N * params.H) {
    return;
  }
  let r = grad(i);
  dgate[r.g] = r.d.x;
  dup[r.g + params.U] = r.d.y;
}

@compute @workgroup_size(256)
fn fused(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N * params.H) {
    return;
  }
  let r = grad(i);
  dgu[r.g] = r.d.x;
  dgu[r.g + params.U] = r.d.y;
}
