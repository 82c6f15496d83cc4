// Reading block-quantized weights (src/engine/blockq.ts: onnxruntime's MatMulNBits layout with f32
// scales and zero points), shared by matmul_nbits_forward.wgsl, matmul_nbits_backward.wgsl and
// embedding_nbits_forward.wgsl. The including kernel declares the bindings; these functions take
// the words they need.

// Byte offset of element (n, k)'s block (its first code byte), for a row of n_blocks blocks of
// 2^block_shift codes at blob bytes each.
fn blockq_block_byte(n: u32, k: u32, n_blocks: u32, block_shift: u32, blob: u32) -> u32 {
  return (n * n_blocks + (k >> block_shift)) * blob;
}

// Byte offset of element (n, k)'s code within the codes buffer.
fn blockq_code_byte(n: u32, k: u32, n_blocks: u32, block_shift: u32, blob: u32, bits: u32) -> u32 {
  let within = k & ((1u << block_shift) - 1u);
  return blockq_block_byte(n, k, n_blocks, block_shift, blob) + ((within * bits) >> 3u);
}

// Code of an element whose byte is `byte_at` (flat byte offset) in `word` (the u32 holding it);
// odd elements of a 4-bit row take the high nibble.
fn blockq_code(word: u32, byte_at: u32, k: u32, bits: u32) -> f32 {
  let byte = (word >> ((byte_at & 3u) * 8u)) & 0xffu;
  if (bits == 8u) { return f32(byte); }
  return f32((byte >> ((k & 1u) * 4u)) & 0xfu);
}

// The 4 codes of elements k .. k + 3 (k a multiple of 4, so all in one block and one word):
// 8-bit: the word's 4 bytes; 4-bit: the 4 nibbles of the word's half at byte_at.
fn blockq_quad_codes(word: u32, byte_at: u32, bits: u32) -> vec4<f32> {
  if (bits == 8u) {
    return vec4<f32>(f32(word & 0xffu), f32((word >> 8u) & 0xffu), f32((word >> 16u) & 0xffu), f32(word >> 24u));
  }
  let h = (word >> ((byte_at & 2u) * 8u)) & 0xffffu;
  return vec4<f32>(f32(h & 0xfu), f32((h >> 4u) & 0xfu), f32((h >> 8u) & 0xfu), f32((h >> 12u) & 0xfu));
}
