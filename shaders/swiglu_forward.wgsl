// SwiGLU forward: out = silu(gate) · up elementwise over (N, H), silu(x) = x · sigmoid(x).
// gate and up are read at n·S + j and n·S + U + j: separate tensors (S = H, U = 0) or one fused
// (N, 2H) tensor with gate first then up in each row, bound to both (S = 2H, U = H; two
// read-only bindings may alias). One thread per output, consecutive threads on consecutive j.

struct Params {
  N: u32,          // rows (B * T)
  H: u32,          // hidden size
  S: u32,          // row stride of gate and up: H, or 2H fused
  U: u32,          // offset of up within its row: 0, or H fused
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (N, H)
@group(0) @binding(1) var<storage, read> gate: array<f32>;       // (N, H) or (N, 2H) fused
@group(0) @binding(2) var<storage, read> up: array<f32>;         // (N, H) or the fused (N, 2H)
@group(0) @binding(3) var<uniform> params: Params;

// 1 / (1 + exp(-x)) without overflow: exp only of non-positive arguments.
fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, x >= 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N * params.H) {
    return;
  }
  let n = i / params.H;
  let j = i - n * params.H;
  let g = gate[n * params.S + j];
  out[i] = g * sigmoid(g) * up[n * params.S + params.U + j];
}
