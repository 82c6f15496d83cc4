// Gated MLP activation forward: out = act(gate) · up elementwise over (N, H), with act = silu
// (SwiGLU: Llama, Qwen, Phi-3, OLMo 2), silu(x) = x · sigmoid(x), or the tanh-approximated GELU
// (GeGLU: Gemma's gelu_pytorch_tanh), gelu(x) = x · sigmoid(2u), u = √(2/π)(x + 0.044715 x³)
// (lib/gelu_math.wgsl, as gelu_forward.wgsl computes it).
// gate and up are read at n·S + j and n·S + U + j: separate tensors (S = H, U = 0) or one fused
// (N, 2H) tensor with gate first then up in each row, bound to both (S = 2H, U = H; two
// read-only bindings may alias). One thread per output, consecutive threads on consecutive j.
//
// Placeholders (src/engine/kernels/swiglu.ts fills them):
//   {{GELU}}  true: GeGLU (tanh GELU); false: SwiGLU (silu)

const GELU: bool = {{GELU}};

#include "lib/gelu_math.wgsl"

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

fn act(x: f32) -> f32 {
  if (GELU) {
    return x * sigmoid(2.0 * tanh_arg(x));
  }
  return x * sigmoid(x);
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
  out[i] = act(g) * up[n * params.S + params.U + j];
}
