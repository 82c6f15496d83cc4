// Which (query, key) pairs an attention score exists for, the score's softcap, and the key blocks
// a query block can see: shared by attention_forward.wgsl, attention_backward.wgsl and their
// "flash" variants (through lib/attention_forward_common.wgsl and
// lib/attention_backward_common.wgsl). The including kernel declares `params` (fields has_mask,
// softcap and window), the binding `mask` (B, Tk) and the constants BQ and BK.
//
// Query i is the sequence position Tk - Tq + i (Tq < Tk when sampling with a KV cache; Tq = Tk = T
// in training) and sees keys j <= that position whose mask is non-zero, and with a sliding window
// W > 0 only the keys with position - j < W (Hugging Face's sliding_window_overlay:
// kv_idx > q_idx - W).

fn attn_visible(b: u32, i: u32, j: u32, Tq: u32, Tk: u32) -> bool {
  if (i >= Tq || j >= Tk || j > Tk - Tq + i) {
    return false;
  }
  if (params.window > 0u && Tk - Tq + i - j >= params.window) {
    return false;
  }
  return params.has_mask == 0u || mask[b * Tk + j] != 0u;
}

// (softcap(s), d softcap(s) / ds) with softcap(s) = softcap * tanh(s / softcap); (s, 1) when off.
fn softcap_grad(s: f32) -> vec2<f32> {
  if (params.softcap > 0.0) {
    let th = tanh(s / params.softcap);
    return vec2<f32>(params.softcap * th, 1.0 - th * th);
  }
  return vec2<f32>(s, 1.0);
}

fn softcap(s: f32) -> f32 {
  if (params.softcap > 0.0) {
    return params.softcap * tanh(s / params.softcap);
  }
  return s;
}

// The key blocks [first, end) of BK keys that can hold a key visible to the BQ queries from q0.
fn key_blocks(q0: u32, Tq: u32, Tk: u32) -> vec2<u32> {
  // Keys after the block's last query position are never visible: stop there.
  let n_keys = Tk - Tq + min(q0 + BQ, Tq);
  let n_blocks = (n_keys + BK - 1u) / BK;
  // With a sliding window, keys before the block's first query position - W + 1 are never visible.
  var kb_first = 0u;
  let p0 = Tk - Tq + q0;
  if (params.window > 0u && p0 + 1u > params.window) {
    kb_first = (p0 + 1u - params.window) / BK;
  }
  return vec2<u32>(kb_first, n_blocks);
}
