// The uniform parameters of the 4/8-bit matmul forward and its variants
// (the engine packs the uniform by these fields' names: src/engine/gpu/engine.ts).

struct Params {
  M: u32,
  K: u32,
  N: u32,
  n_blocks: u32,      // ceil(K / block size)
  block_shift: u32,   // log2(block size)
  blob: u32,          // bytes per block: block size · bits / 8
  bits: u32,          // 4 or 8
  has_bias: u32,
  accumulate: u32,
  lora_r: u32,        // LoRA rank R; 0 = no LoRA term
  lora_b_offset: u32, // first element of this layer's rows in lora_b
}
