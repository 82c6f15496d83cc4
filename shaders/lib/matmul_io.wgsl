// Storage reads shared by the matmul kernels and their variants (matmul_forward.wgsl,
// matmul_backward.wgsl, matmul_*_tiled8.wgsl, matmul_forward_f16.wgsl,
// matmul_forward_subgroup.wgsl): quads of `inp` and of `weight`, with the placeholders of
// matmul_forward.wgsl ({{VEC}}, {{W_KIND}}, {{F32_T}}, {{W_T}}). The including kernel declares
// `inp` and `weight` and the constants VEC and W_KIND.
//
// `vec4(x)` turns every element type (f32, vec4<f32>, u32, f16, vec4<f16>) into a vec4, so each
// branch type-checks whatever the element types are; VEC and W_KIND are constants, so only the
// branch for this specialization is compiled. A quad is row[j .. j + 3] (row = flat index of the
// row's first value), 0 at j >= len; with VEC 4, len and row are multiples of 4, so a quad is
// wholly inside or wholly past the row.

fn inp_quad(row: u32, j: u32, len: u32) -> vec4<f32> {
  if (VEC == 4u) {
    if (j >= len) { return vec4(0.0); }
    return vec4<f32>(vec4(inp[(row + j) >> 2u]));
  }
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (j + i < len) { v[i] = vec4<f32>(vec4(inp[row + j + i])).x; }
  }
  return v;
}

fn weight_word(w: u32) -> u32 {
  return vec4<u32>(vec4(weight[w])).x;
}

fn weight_at(e: u32) -> f32 {
  if (W_KIND == 1u) { return unpack2x16float(weight_word(e >> 1u))[e & 1u]; }
  return vec4<f32>(vec4(weight[e])).x;
}

fn weight_quad(row: u32, j: u32, len: u32) -> vec4<f32> {
  if (VEC == 4u) {
    if (j >= len) { return vec4(0.0); }
    let e = row + j;
    if (W_KIND == 1u) {
      // Four halves are two whole words (e is a multiple of 4).
      return vec4(unpack2x16float(weight_word(e >> 1u)), unpack2x16float(weight_word((e >> 1u) + 1u)));
    }
    return vec4<f32>(vec4(weight[e >> 2u]));
  }
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (j + i < len) { v[i] = weight_at(row + j + i); }
  }
  return v;
}
