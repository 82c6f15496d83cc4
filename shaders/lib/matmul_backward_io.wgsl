// Storage reads of the matmul backward kernels and their variants (matmul_backward.wgsl,
// matmul_backward_{tiled8,f16,subgroup}.wgsl), beside lib/matmul_io.wgsl (include it first):
// quads and single elements of `dout`, and single elements of `inp` and `weight` by flat element
// index whatever {{VEC}} and {{W_KIND}} are. `vec4(x)` turns every element type into a vec4 so
// each branch type-checks for any {{F32_T}} / {{W_T}}; VEC and W_KIND are constants, so dead
// branches are not compiled.

// dout row[j .. j + 3] (row = flat index of the row's first value), 0 at j >= len (see inp_quad).
fn dout_quad(row: u32, j: u32, len: u32) -> vec4<f32> {
  if (VEC == 4u) {
    if (j >= len) { return vec4(0.0); }
    return vec4<f32>(vec4(dout[(row + j) >> 2u]));
  }
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (j + i < len) { v[i] = vec4<f32>(vec4(dout[row + j + i])).x; }
  }
  return v;
}

fn dout_at(e: u32) -> f32 {
  if (VEC == 4u) { return vec4<f32>(vec4(dout[e >> 2u]))[e & 3u]; }
  return vec4<f32>(vec4(dout[e])).x;
}

fn inp_at(e: u32) -> f32 {
  if (VEC == 4u) { return vec4<f32>(vec4(inp[e >> 2u]))[e & 3u]; }
  return vec4<f32>(vec4(inp[e])).x;
}

// weight_at of lib/matmul_io.wgsl for any VEC (packed f16 words hold two values whatever VEC is).
fn weight_elem(e: u32) -> f32 {
  if (W_KIND == 1u || VEC != 4u) { return weight_at(e); }
  return vec4<f32>(vec4(weight[e >> 2u]))[e & 3u];
}
