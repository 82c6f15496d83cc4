// The uniform parameters of the 4/8-bit matmul's input gradient and its variants
// (matmul_nbits_backward*.wgsl; the engine packs the uniform by these fields' names).

struct Params {
  M: u32,
  K: u32,
  N: u32,
  n_blocks: u32,       // ceil(K / block size)
  block_shift: u32,    // log2(block size)
  blob: u32,           // bytes per block
  bits: u32,           // 4 or 8
  accumulate: u32,     // dinp += instead of =
  lora_r: u32,         // LoRA rank R; 0 = no LoRA term
  drop_seed: u32,      // LoRA dropout mask (lora_forward.wgsl)
  drop_threshold: u32, // 0 = no dropout
  drop_scale: f32,     // 1 / (1 - p)
}
