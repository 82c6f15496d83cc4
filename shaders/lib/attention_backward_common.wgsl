// The uniforms of attention_backward.wgsl and attention_backward_flash.wgsl (the host passes one
// set to either: src/engine/kernels/attention.ts), their visibility test, the query blocks a key
// block is seen by, and the body of their first pass `rowdot`. The including kernel declares the
// bindings (dq, dk, dv, LD, dout, q, k, v, out, lse, mask, params) and HS, BQ, BK: see
// lib/attention_mask.wgsl. Training only: Tq = Tk = T.

#include "lib/attention_mask.wgsl"

struct Params {
  B: u32,
  T: u32,
  NH: u32,
  NKV: u32,
  has_mask: u32,  // 0: every key is a real token (the mask binding is a placeholder)
  scale: f32,     // multiplies q.k
  softcap: f32,   // s -> softcap * tanh(s / softcap); 0 = off
  window: u32,    // sliding window W: query i sees key j only if i - j < W; 0 = off
}

fn visible(b: u32, i: u32, j: u32) -> bool {
  return attn_visible(b, i, j, params.T, params.T);
}

// Pass 1: LD = (lse, rowsum(dout * out)) of row n of (B, T, NH); nothing for n past the rows.
fn store_rowdot(n: u32) {
  let T = params.T;
  let NH = params.NH;
  if (n >= params.B * T * NH) {
    return;
  }
  let b = n / (T * NH);
  let i = (n / NH) % T;
  let h = n % NH;
  var s = 0.0;
  for (var d = 0u; d < HS; d++) {
    s += dout[n * HS + d] * out[n * HS + d];
  }
  let row = (b * NH + h) * T + i;
  LD[row] = vec2<f32>(lse[row], s);
}

// The query blocks [first, end) of BQ queries that can see a key of the BK keys from k0.
fn query_blocks(k0: u32) -> vec2<u32> {
  // Queries before the block's first key never see it.
  let qb_first = k0 / BQ;
  var n_qb = (params.T + BQ - 1u) / BQ;
  // Sliding window: queries after the block's last key + W - 1 never see it.
  if (params.window > 0u) {
    n_qb = min(n_qb, (k0 + BK + params.window - 2u) / BQ + 1u);
  }
  return vec2<u32>(qb_first, n_qb);
}
