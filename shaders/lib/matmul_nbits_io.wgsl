// Storage reads shared by matmul_nbits_forward.wgsl and its variants (matmul_nbits_forward_*.wgsl):
// quads of `inp` (f32, rows of any length) and of the block-quantized weight, dequantized. The
// including kernel declares `inp`, `codes`, `sz` and `params` (M, K, n_blocks, block_shift, blob,
// bits) and includes lib/blockq.wgsl first.

// row[j .. j + 3] of a row of len values starting at flat index row; 0 at j + i >= len.
fn inp_quad(row: u32, j: u32, len: u32) -> vec4<f32> {
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (j + i < len) { v[i] = inp[row + j + i]; }
  }
  return v;
}

// The 4 codes of W[n, k .. k + 3] (k a multiple of 4: one word, one block), as f32.
fn weight_quad_codes(n: u32, k: u32) -> vec4<f32> {
  let byte_at = blockq_code_byte(n, k, params.n_blocks, params.block_shift, params.blob, params.bits);
  return blockq_quad_codes(codes[byte_at >> 2u], byte_at, params.bits);
}

// Zeroes the values of a quad at k + i >= K.
fn mask_quad(v: vec4<f32>, k: u32) -> vec4<f32> {
  var m = v;
  for (var i = 1u; i < 4u; i++) {
    if (k + i >= params.K) { m[i] = 0.0; }
  }
  return m;
}

// W[n, k .. k + 3] dequantized (k a multiple of 4); 0 at k + i >= K.
fn weight_quad(n: u32, k: u32) -> vec4<f32> {
  if (k >= params.K) { return vec4(0.0); }
  let s = sz[n * params.n_blocks + (k >> params.block_shift)];
  return mask_quad((weight_quad_codes(n, k) - vec4(s.y)) * s.x, k);
}

// Octet k .. k + 7 of column n's weights (k a multiple of 8: one block), dequantized:
// (w[k .. k + 3], w[k + 4 .. k + 7]).
fn nbits_octet(n: u32, k: u32) -> array<vec4<f32>, 2> {
  let s = sz[n * params.n_blocks + (k >> params.block_shift)];
  // A column's blocks lie back to back (blob = block size · bits / 8 bytes each).
  let byte_at = n * params.n_blocks * params.blob + ((k * params.bits) >> 3u);
  let wi = byte_at >> 2u;
  var c0: vec4<f32>;
  var c1: vec4<f32>;
  if (params.bits == 8u) {
    c0 = blockq_quad_codes(codes[wi], byte_at, 8u);
    c1 = blockq_quad_codes(codes[wi + 1u], byte_at + 4u, 8u);
  } else {
    let word = codes[wi];
    c0 = blockq_quad_codes(word, byte_at, 4u);
    c1 = blockq_quad_codes(word, byte_at + 2u, 4u);
  }
  return array<vec4<f32>, 2>((c0 - vec4(s.y)) * s.x, (c1 - vec4(s.y)) * s.x);
}
