// Rotary position embedding backward: the rotation is orthogonal (times the attention factor
// f), so dinp = Rᵀ·dout is the rotation by -angle: dinp[a] = f·(d[a]·cos + d[b]·sin),
// dinp[b] = f·(d[b]·cos − d[a]·sin); pass-through dims copy dout. Activation gradient: assigned.
// Same threads and helpers as rope_forward.wgsl. `main` writes dinp from dout; `inplace` turns
// dout into dinp in its own buffer (bound as dinp).

const INTERLEAVED: bool = {{INTERLEAVED}};

struct Params {
  BT: u32,           // B * T tokens
  NH: u32,           // heads
  HS: u32,           // head size (even)
  R: u32,            // rotary dims (even, <= HS)
  attn_factor: f32,  // multiplies the rotated dims
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;  // (B, T, NH, HS)
@group(0) @binding(1) var<storage, read> dout: array<f32>;         // (B, T, NH, HS)
@group(0) @binding(2) var<storage, read> positions: array<i32>;   // (B, T)
@group(0) @binding(3) var<storage, read> inv_freq: array<f32>;    // (R / 2)
@group(0) @binding(4) var<uniform> params: Params;

// sin and cos of x to ~1e-7 absolute for |x| up to ~2e5 (positions of 128k contexts): WGSL only
// promises sin/cos on [-pi, pi], and GPUs' native ones lose accuracy far from it. Cody-Waite
// reduction by pi/2 with a 4-part constant (the first three have <= 7 significant bits, so
// k·Cj is exact for |k| < 2^17), then Cephes' sinf/cosf polynomials on [-pi/4, pi/4].
fn sincos(x: f32) -> vec2<f32> {
  let k = round(x * 0.63661977236);
  var r = x - k * 1.5625;
  r = r - k * 0.00830078125;
  r = r + k * 4.470348358154297e-6;  // C3 < 0
  r = r - k * 1.5893254712295857e-8;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (i32(k) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

// Head dims (a, b) of rotation pair i.
fn pair(i: u32) -> vec2<u32> {
  if (INTERLEAVED) {
    return vec2<u32>(2u * i, 2u * i + 1u);
  }
  return vec2<u32>(i, i + params.R / 2u);
}

// (cos, -sin) of token bt's pair i, times the attention factor: the transposed rotation.
fn rotation(bt: u32, i: u32) -> vec2<f32> {
  let sc = sincos(f32(positions[bt]) * inv_freq[i]);
  return params.attn_factor * vec2<f32>(sc.y, -sc.x);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let per_token = params.HS / 2u;
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= params.BT * per_token) {
    return;
  }
  let bt = idx / per_token;
  let i = idx % per_token;
  let NH = params.NH;
  let HS = params.HS;
  if (i >= params.R / 2u) {
    // Pass-through dims R.. come two per thread: R + 2(i - R/2) = 2i.
    for (var h = 0u; h < NH; h++) {
      let o = (bt * NH + h) * HS + 2u * i;
      dinp[o] = dout[o];
      dinp[o + 1u] = dout[o + 1u];
    }
    return;
  }
  let cs = rotation(bt, i);
  let ab = pair(i);
  for (var h = 0u; h < NH; h++) {
    let o = (bt * NH + h) * HS;
    let x = dout[o + ab.x];
    let y = dout[o + ab.y];
    dinp[o + ab.x] = x * cs.x - y * cs.y;
    dinp[o + ab.y] = y * cs.x + x * cs.y;
  }
}

@compute @workgroup_size(256)
fn inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pairs = params.R / 2u;
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= params.BT * pairs) {
    return;
  }
  let bt = idx / pairs;
  let i = idx % pairs;
  let NH = params.NH;
  let HS = params.HS;
  let cs = rotation(bt, i);
  let ab = pair(i);
  for (var h = 0u; h < NH; h++) {
    let o = (bt * NH + h) * HS;
    let x = dinp[o + ab.x];
    let y = dinp[o + ab.y];
    dinp[o + ab.x] = x * cs.x - y * cs.y;
    dinp[o + ab.y] = y * cs.x + x * cs.y;
  }
}
