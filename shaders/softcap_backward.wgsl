// Logit soft-capping backward, from the forward's output y = c · tanh(x / c):
//   dinp = dout · (1 - (y / c)²)      (assigned)
// so the capped logits need not be kept beside the raw ones. `main` writes dinp; `inplace`
// overwrites dout with dinp (the LM head's chunked backward reuses the logits' gradient buffer).

struct Params {
  N: u32,
  cap: f32,  // c > 0
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read> dout: array<f32>;        // (N)
@group(0) @binding(2) var<storage, read> out: array<f32>;         // (N) the forward's output
@group(0) @binding(3) var<uniform> params: Params;

fn grad(y: f32) -> f32 {
  let t = y / params.cap;
  return max(1.0 - t * t, 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  dinp[i] = dout[i] * grad(out[i]);
}

@compute @workgroup_size(256)
fn inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.N) {
    return;
  }
  dinp[i] = dinp[i] * grad(out[i]);
}
