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
// Tiling (rank-tiled; lora_backward.wgsl dyb_main is the same): R is small, so this is one pass
// over x, which should be read once and coalesced. A workgroup is 16 row groups x 8 lanes along
// C and owns RT ranks (R rounded up to a power of two, 4 to 16; wg.x walks larger R in chunks of
// 16) and 16 · RPT rows (RPT = 16 / RT). Each thread keeps 16 partial sums, RPT rows x RT ranks
// in four vec4s, over its lane's columns c = lane, lane + 8, ...: the 8 lanes of a row read 32
// consecutive bytes (one memory sector) of x and of each A row, and each A value serves RPT
// rows from registers. No barrier inside the C loop (barriers are what a software adapter pays
// most for); one at the end, where the lanes' partial sums meet in workgroup memory and one
// thread per output adds them. Host: src/engine/kernels/lora.ts (rankTile).

const RT: u32 = {{RT}}u;      // ranks per workgroup: 4, 8 or 16
const RPT: u32 = 16u / RT;    // rows per thread
const BLOCKS: u32 = RT / 4u;  // vec4 rank blocks per row
const LANES: u32 = 8u;        // threads along C
const GROUPS: u32 = 16u;      // row groups
const OUTS: u32 = GROUPS * 16u;  // outputs per workgroup
const PAD: u32 = LANES + 1u;  // stride between outputs in Part: an odd one avoids bank conflicts

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

var<workgroup> Part: array<f32, OUTS * PAD>;  // (GROUPS · RPT rows, RT ranks, LANES) partial sums

#include "lib/lora_dropout.wgsl"

// dropout(x)[m, c]; 0 past the last row.
fn x_at(m: u32, c: u32) -> f32 {
  if (m >= params.M) { return 0.0; }
  return x[m * params.C + c] * dropout_factor(params.drop_seed, params.drop_threshold, params.drop_scale, m, c);
}

// A[r .. r + 3, c]; ranks past R read rank R - 1 (their sums are never written).
fn a4(r: u32, c: u32) -> vec4<f32> {
  let last = params.R - 1u;
  let C = params.C;
  return vec4(a[min(r, last) * C + c], a[min(r + 1u, last) * C + c], a[min(r + 2u, last) * C + c], a[min(r + 3u, last) * C + c]);
}

@compute @workgroup_size(LANES, GROUPS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = lid.x;
  let r0 = wg.x * RT;
  let wgRow0 = wg.y * GROUPS * RPT;
  let row0 = wgRow0 + lid.y * RPT;
  // acc_q: row q / BLOCKS of the thread, ranks 4 · (q % BLOCKS) .. + 3. The indices below are
  // constants, so nothing here is a dynamically indexed private array.
  var acc0 = vec4(0.0);
  var acc1 = vec4(0.0);
  var acc2 = vec4(0.0);
  var acc3 = vec4(0.0);
  for (var c = lane; c < params.C; c += LANES) {
    let av = array(a4(r0, c), a4(r0 + 4u * min(1u, BLOCKS - 1u), c), a4(r0 + 4u * min(2u, BLOCKS - 1u), c), a4(r0 + 4u * min(3u, BLOCKS - 1u), c));
    let xv = array(x_at(row0, c), x_at(row0 + min(1u, RPT - 1u), c), x_at(row0 + min(2u, RPT - 1u), c), x_at(row0 + min(3u, RPT - 1u), c));
    acc0 += xv[0u / BLOCKS] * av[0u % BLOCKS];
    acc1 += xv[1u / BLOCKS] * av[1u % BLOCKS];
    acc2 += xv[2u / BLOCKS] * av[2u % BLOCKS];
    acc3 += xv[3u / BLOCKS] * av[3u % BLOCKS];
  }
  // Output p of this thread is row p / RT, rank p % RT: Part is in the workgroup's row-major order.
  let first = lid.y * 16u;
  for (var e = 0u; e < 4u; e++) {
    Part[(first + e) * PAD + lane] = acc0[e];
    Part[(first + 4u + e) * PAD + lane] = acc1[e];
    Part[(first + 8u + e) * PAD + lane] = acc2[e];
    Part[(first + 12u + e) * PAD + lane] = acc3[e];
  }
  workgroupBarrier();
  // Output o: row o / RT of the workgroup, rank o % RT.
  for (var o = tid; o < OUTS; o += LANES * GROUPS) {
    var sum = 0.0;
    for (var l = 0u; l < LANES; l++) { sum += Part[o * PAD + l]; }
    let m = wgRow0 + o / RT;
    let r = r0 + o % RT;
    if (m < params.M && r < params.R) { xa[m * params.R + r] = params.scale * sum; }
  }
}
