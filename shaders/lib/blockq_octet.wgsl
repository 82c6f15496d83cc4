// An octet of a block-quantized weight row dequantized in registers: the 4-bit forward's wide,
// gemv and shuffle variants and the input gradient's shuffle variant. The including kernel
// declares `codes`, `sz` and `params` (n_blocks, block_shift, blob, bits) and includes
// lib/blockq.wgsl first.

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
