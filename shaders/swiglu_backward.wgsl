// SwiGLU backward (activation gradients, assigned): dgate = dout · up · silu'(gate),
// dup = dout · silu(gate), silu'(x) = s + x·s·(1 − s), s = sigmoid(x). Same layout as the
// forward (S, U). `main` writes separate dgate and dup; `fused` writes both halves of one
// (N, 2H) gradient, bound as dgu (one writable binding may not alias another).

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

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, x >= 0.0);
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
  let s = sigmoid(x);
  let d = dout[i];
  return Grad(gi, vec2<f32>(d * u * (s + x * s * (1.0 - s)), d * x * s));
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
