// The uniform parameters of the LoRA backward passes (g = dY · B, dA, dB) and their variants
// (the engine packs the uniform by these fields' names: src/engine/gpu/engine.ts).

struct Params {
  M: u32,
  K: u32,            // dyb: OC
  N: u32,            // dyb: R; grad: P
  Q: u32,            // grad: columns of out
  w_offset: u32,     // dyb: first element of B; grad: first element of out
  scale: f32,        // dyb
  accumulate: u32,   // out += instead of =
  drop_seed: u32,    // grad: dropout of Y
  drop_threshold: u32,
  drop_scale: f32,
}
