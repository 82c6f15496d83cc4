// Rank tile of the LoRA passes whose output is (M, R) with R small: lora_forward.wgsl
// (xa = s · dropout(x) · Aᵀ) and lora_backward.wgsl dyb_main (g = s · dY · B). Both are a pass
// over an (M, K) input that should be read once, coalesced; host side src/engine/kernels/lora.ts
// (rankTile). The including kernel sets {{RT}} through the host.
//
// A workgroup is GROUPS row groups x LANES lanes along K and owns RT ranks (R rounded up to a
// power of two, 4 to 16; wg.x walks larger R in chunks of 16) and GROUPS · RPT rows
// (RPT = 16 / RT). Each thread keeps 16 partial sums, RPT rows x RT ranks in four vec4s
// (acc_q: row q / BLOCKS, ranks 4 · (q % BLOCKS) .. + 3), over its lane's k = lane, lane + 8, ...:
// the 8 lanes of a row read 32 consecutive bytes (one memory sector) of the input, and each
// weight value serves RPT rows from registers. No barrier inside the K loop (barriers are what a
// software adapter pays most for); one at the end, where the lanes' partial sums meet in Part
// and one thread per output adds them.

const RT: u32 = {{RT}}u;         // ranks per workgroup: 4, 8 or 16
const RPT: u32 = 16u / RT;       // rows per thread
const BLOCKS: u32 = RT / 4u;     // vec4 rank blocks per row
const LANES: u32 = 8u;           // threads along K
const GROUPS: u32 = 16u;         // row groups
const OUTS: u32 = GROUPS * 16u;  // outputs per workgroup
const PAD: u32 = LANES + 1u;     // stride between outputs in Part: an odd one avoids bank conflicts

// (GROUPS · RPT rows, RT ranks, LANES): the workgroup's outputs in row-major order, each with
// its lanes' partial sums.
var<workgroup> Part: array<f32, OUTS * PAD>;

// Thread (group, lane)'s partial sums over k = lane, lane + LANES, ... < K for the tile's rows
// from row0 and ranks from r0, as acc_q above. The including kernel defines the two reads:
//   tile_row(m, k) -> f32          element (m, k) of the (M, K) input, 0 past the last row
//   tile_ranks(r, k) -> vec4<f32>  the weights of ranks r .. r + 3 at k
fn rank_tile_sums(row0: u32, r0: u32, lane: u32, K: u32) -> array<vec4<f32>, 4> {
  // Four named accumulators and constant indices: nothing here is a dynamically indexed
  // private array.
  var acc0 = vec4(0.0);
  var acc1 = vec4(0.0);
  var acc2 = vec4(0.0);
  var acc3 = vec4(0.0);
  for (var k = lane; k < K; k += LANES) {
    // Only the BLOCKS rank blocks and RPT rows of the tile are read (the conditions are constants).
    var wv = array(tile_ranks(r0, k), vec4(0.0), vec4(0.0), vec4(0.0));
    if (BLOCKS > 1u) { wv[1] = tile_ranks(r0 + 4u, k); }
    if (BLOCKS > 2u) { wv[2] = tile_ranks(r0 + 8u, k); wv[3] = tile_ranks(r0 + 12u, k); }
    var iv = array(tile_row(row0, k), 0.0, 0.0, 0.0);
    if (RPT > 1u) { iv[1] = tile_row(row0 + 1u, k); }
    if (RPT > 2u) { iv[2] = tile_row(row0 + 2u, k); iv[3] = tile_row(row0 + 3u, k); }
    acc0 += iv[0u / BLOCKS] * wv[0u % BLOCKS];
    acc1 += iv[1u / BLOCKS] * wv[1u % BLOCKS];
    acc2 += iv[2u / BLOCKS] * wv[2u % BLOCKS];
    acc3 += iv[3u / BLOCKS] * wv[3u % BLOCKS];
  }
  return array(acc0, acc1, acc2, acc3);
}

// Stores thread (group, lane)'s sums (its output p is row group · RPT + p / RT, rank p % RT)
// and waits for the whole workgroup; every thread must call it.
fn share_partials(group: u32, lane: u32, acc: array<vec4<f32>, 4>) {
  let first = group * 16u;
  for (var e = 0u; e < 4u; e++) {
    Part[(first + e) * PAD + lane] = acc[0][e];
    Part[(first + 4u + e) * PAD + lane] = acc[1][e];
    Part[(first + 8u + e) * PAD + lane] = acc[2][e];
    Part[(first + 12u + e) * PAD + lane] = acc[3][e];
  }
  workgroupBarrier();
}

// Output o of the workgroup (row o / RT, rank o % RT) summed over the lanes.
fn lanes_sum(o: u32) -> f32 {
  var sum = 0.0;
  for (var l = 0u; l < LANES; l++) { sum += Part[o * PAD + l]; }
  return sum;
}
