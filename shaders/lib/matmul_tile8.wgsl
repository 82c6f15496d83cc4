// The 128 x 128 register tile of the "tiled8" matmul kernels (matmul_forward_tiled8.wgsl,
// matmul_backward_tiled8.wgsl, matmul_nbits_forward_tiled8.wgsl): quads stored k-major into the
// workgroup tiles As and Bs (BK x TILE, Q vec4s per k-row), and each thread's 8 x 8 outputs
// accumulated in acc from them. The including kernel declares As, Bs, acc, BK and Q.

// Stores a quad along K (k offsets lk .. lk + 3) of tile row r into a k-major tile.
fn store_a(r: u32, lk: u32, v: vec4<f32>) {
  for (var c = 0u; c < 4u; c++) {
    As[(lk + c) * Q + r / 4u][r % 4u] = v[c];
  }
}

fn store_b(r: u32, lk: u32, v: vec4<f32>) {
  for (var c = 0u; c < 4u; c++) {
    Bs[(lk + c) * Q + r / 4u][r % 4u] = v[c];
  }
}

// acc += As slice ᵀ · Bs slice for this thread's 8 x 8 outputs.
fn multiply_tile(tx: u32, ty: u32) {
  for (var k = 0u; k < BK; k++) {
    let a0 = As[k * Q + ty];
    let a1 = As[k * Q + 16u + ty];
    let b0 = Bs[k * Q + tx];
    let b1 = Bs[k * Q + 16u + tx];
    for (var i = 0u; i < 4u; i++) {
      acc[2u * i] += a0[i] * b0;
      acc[2u * i + 1u] += a0[i] * b1;
      acc[2u * (i + 4u)] += a1[i] * b0;
      acc[2u * (i + 4u) + 1u] += a1[i] * b1;
    }
  }
}
