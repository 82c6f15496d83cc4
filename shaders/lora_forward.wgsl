// LoRA forward, the small pass before the fused matmul (PEFT: y = x·Wᵀ + b + s·B(A(dropout(x)))):
//   xa (M, R) = scale · dropout(x) (M, C) · A (R, C)ᵀ
// shaders/matmul_forward.wgsl then adds xa · Bᵀ in the K loop of the main product, so no
// (M, OC) LoRA term is ever written on its own. The scale is folded into xa here, which makes
// dB = dYᵀ · xa exact in the backward (xa is saved for it).
//
// Dropout is inverted dropout with a counter-based mask: element (m, c) of x is dropped when
// hash(seed, m, c) < threshold (threshold = round(p · 2^32)), else scaled by 1 / (1 - p); the
// backward (matmul_backward.wgsl dinp, lora_backward.wgsl grad) regenerates the same mask from
// the same seed, so it is never stored. threshold 0 = no dropout.
//
// Tiling: a 16 x 16 workgroup computes a 16 (rows) x 16 (ranks) tile, one output per thread,
// walking C in slices of 16 staged k-major in workgroup memory (loads coalesced along C).

const TS: u32 = 16u;

struct Params {
  M: u32,
  C: u32,
  R: u32,
  scale: f32,
  drop_seed: u32,
  drop_threshold: u32,  // 0 = no dropout
  drop_scale: f32,      // 1 / (1 - p)
}

@group(0) @binding(0) var<storage, read_write> xa: array<f32>;  // (M, R)
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (M, C)
@group(0) @binding(2) var<storage, read> a: array<f32>;         // (R, C)
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> Xs: array<f32, 256>;  // (TS k, TS rows)
var<workgroup> As: array<f32, 256>;  // (TS k, TS ranks)

#include "lib/lora_dropout.wgsl"

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let C = params.C;
  let R = params.R;
  let row0 = wg.y * TS;
  let r0 = wg.x * TS;
  var acc = 0.0;
  for (var k0 = 0u; k0 < C; k0 += TS) {
    // Thread (tx, ty) fetches x[row0 + ty, k0 + tx] and a[r0 + ty, k0 + tx].
    let k = k0 + lid.x;
    let m = row0 + lid.y;
    var xv = 0.0;
    if (m < M && k < C) { xv = x[m * C + k] * dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, m, k); }
    Xs[lid.x * TS + lid.y] = xv;
    let r = r0 + lid.y;
    var av = 0.0;
    if (r < R && k < C) { av = a[r * C + k]; }
    As[lid.x * TS + lid.y] = av;
    workgroupBarrier();
    for (var kk = 0u; kk < TS; kk++) {
      acc += Xs[kk * TS + lid.y] * As[kk * TS + lid.x];
    }
    workgroupBarrier();
  }
  let m = row0 + lid.y;
  let r = r0 + lid.x;
  if (m < M && r < R) { xa[m * R + r] = params.scale * acc; }
}
