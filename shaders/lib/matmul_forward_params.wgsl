// The uniform parameters of the matmul forward and its variants (matmul_forward*.wgsl; the
// engine packs the uniform by these fields' names: src/engine/gpu/engine.ts).

struct Params {
  M: u32,
  C: u32,
  OC: u32,
  inp_stride: u32,     // elements between batches of inp
  weight_stride: u32,  // elements between batches of weight; 0 = shared
  out_stride: u32,     // elements between batches of out
  has_bias: u32,
  accumulate: u32,
  lora_r: u32,          // LoRA rank R; 0 = no LoRA term
  lora_b_offset: u32,   // first element of this layer's rows in lora_b
}
