// Rotary position embedding geometry, shared by rope_forward.wgsl and rope_backward.wgsl: the
// sin and cos of a rotation angle, and which head dims rotate together. CPU twin
// src/engine/cpu/rope.ts.

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

// Head dims (a, b) of rotation pair i of R rotary dims (half = R / 2): (2i, 2i + 1) when
// interleaved (GPT-J), else (i, i + R/2) (rotate_half: Llama / HF).
fn rope_pair(i: u32, half: u32, interleaved: bool) -> vec2<u32> {
  if (interleaved) {
    return vec2<u32>(2u * i, 2u * i + 1u);
  }
  return vec2<u32>(i, i + half);
}
