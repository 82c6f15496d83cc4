// LoRA dropout mask, shared by lora_forward.wgsl (dropout(x) before A), lora_backward.wgsl (dA
// reads x through the same mask) and matmul_backward.wgsl (masks the LoRA part of dinp). The mask
// is counter-based, regenerated from the seed rather than stored; CPU twin src/engine/cpu/lora.ts.

// PCG hash (Jarcho and Olano, "Hash Functions for GPU Rendering").
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Inverted dropout of input element (m, c): 0 where it is dropped (hash below threshold =
// round(p · 2^32)), else scale = 1 / (1 - p). threshold 0 = no dropout.
fn dropout_factor(seed: u32, threshold: u32, scale: f32, m: u32, c: u32) -> f32 {
  if (threshold == 0u) { return 1.0; }
  if (pcg(pcg(pcg(seed) ^ m) ^ c) < threshold) { return 0.0; }
  return scale;
}
