// The uniforms of attention_forward.wgsl and attention_forward_flash.wgsl (the host passes one set
// to either: src/engine/kernels/attention.ts) and their visibility test. The including kernel
// declares the bindings (out, lse, q, k, v, mask, params) and BQ, BK: see lib/attention_mask.wgsl.

#include "lib/attention_mask.wgsl"

struct Params {
  Tq: u32,
  Tk: u32,
  NH: u32,
  NKV: u32,
  has_mask: u32,  // 0: every key is a real token (the mask binding is a placeholder)
  scale: f32,     // multiplies q.k (1 / sqrt(HS) unless the model says otherwise)
  softcap: f32,   // s -> softcap * tanh(s / softcap); 0 = off
  window: u32,    // sliding window W: keys j with position - j < W only; 0 = off
  splits: u32,    // "flash" only: key ranges per query block (1 = off; see attention_forward_flash.wgsl)
}

fn visible(b: u32, i: u32, j: u32) -> bool {
  return attn_visible(b, i, j, params.Tq, params.Tk);
}
