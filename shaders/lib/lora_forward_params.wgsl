// The uniform parameters of the LoRA forward pass (xa = s · dropout(x) · Aᵀ) and its variants
// (the engine packs the uniform by these fields' names: src/engine/gpu/engine.ts).

struct Params {
  M: u32,
  C: u32,
  R: u32,
  scale: f32,
  drop_seed: u32,
  drop_threshold: u32,  // 0 = no dropout
  drop_scale: f32,      // 1 / (1 - p)
}
