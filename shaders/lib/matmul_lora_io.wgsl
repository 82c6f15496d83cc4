// The forward LoRA operands' quads for matmul_forward.wgsl, its variants (see lib/matmul_io.wgsl)
// and matmul_nbits_forward.wgsl: the including kernel declares `lora_xa` (M, R) and `lora_b`
// (OC, R).

// row[j .. j + 3] of an f32 operand read element by element (LoRA operands: R any size), 0 past len.
fn lora_xa_quad(row: u32, j: u32, len: u32) -> vec4<f32> {
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (j + i < len) { v[i] = lora_xa[row + j + i]; }
  }
  return v;
}

fn lora_b_quad(row: u32, j: u32, len: u32) -> vec4<f32> {
  var v = vec4(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (j + i < len) { v[i] = lora_b[row + j + i]; }
  }
  return v;
}
