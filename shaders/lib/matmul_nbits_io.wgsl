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
