// The uniform parameters of the matmul backward products (dinp, dweight, dbias:
// matmul_backward.wgsl) and their variants (matmul_backward_{tiled8,f16,subgroup,shuffle}.wgsl);
// the engine packs the uniform by these fields' names (src/engine/kernels/matmul.ts).

struct Params {
  M: u32,
  C: u32,
  OC: u32,
  inp_stride: u32,     // elements between batches of inp and dinp
  weight_stride: u32,  // elements between batches of weight and dweight; 0 = shared
  out_stride: u32,     // elements between batches of dout
  nb: u32,             // batches one workgroup reduces over (dweight with a shared weight; dbias)
  accumulate: u32,     // dinp += instead of =
  lora_r: u32,         // dinp: LoRA rank R; 0 = no LoRA term
  drop_seed: u32,      // dinp: LoRA dropout mask (lora_forward.wgsl)
  drop_threshold: u32, // 0 = no dropout
  drop_scale: f32,     // 1 / (1 - p)
}
