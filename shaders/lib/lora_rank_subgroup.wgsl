// Subgroup layout of the LoRA passes whose output is (M, R) with R small (variant "subgroup":
// lora_forward_subgroup.wgsl xa = s · dropout(x) · Aᵀ, lora_backward_subgroup.wgsl dyb_main
// g = s · dY · B), the counterpart of lib/lora_rank_tile.wgsl for GPUs: many small workgroups
// (the rank tile makes M / 32 workgroups at R = 8, too few to fill a large GPU at training's M)
// and the reduction along K in registers instead of in workgroup memory.
//
// A workgroup is THREADS threads along K and owns ROWS rows x RT ranks (R rounded up to a power
// of two, 4 to 16, as lib/lora_rank_tile.wgsl; wg.x walks larger R in chunks of 16). Thread t
// reads k = t, t + THREADS, ... (consecutive threads on consecutive elements of a row: coalesced)
// and keeps ROWS x RT partial sums; subgroupAdd sums each subgroup's partials, one elected lane
// per subgroup writes them to the next free slot (an atomic counter), and after one barrier one
// thread per output adds the slots. No assumption on the subgroup size (WGSL: 4 to 128) or on
// which invocations share a subgroup. The including kernel sets {{RT}} through the host and
// defines the two reads:
//   tile_row(m, k) -> f32          element (m, k) of the (M, K) input, 0 past the last row
//   tile_ranks(r, k) -> vec4<f32>  the weights of ranks r .. r + 3 at k

const RT: u32 = {{RT}}u;              // ranks per workgroup: 4, 8 or 16
const BLOCKS: u32 = RT / 4u;          // vec4 rank blocks
const ROWS: u32 = 4u;                 // rows per workgroup
const THREADS: u32 = 64u;             // threads along K
const OUTS: u32 = ROWS * RT;          // outputs per workgroup (at most THREADS)
const MAX_SLOTS: u32 = THREADS / 4u;  // subgroups of at least 4 invocations

// (slot, output): each subgroup's sums; slots 0 .. nSlots - 1 are filled. Workgroup memory starts
// zeroed, so nSlots counts from 0 in every workgroup.
var<workgroup> Slots: array<f32, MAX_SLOTS * 64u>;
var<workgroup> nSlots: atomic<u32>;

// Thread tid's partial sums over k = tid, tid + THREADS, ... < K for rows row0 .. + ROWS - 1 and
// ranks r0 .. r0 + RT - 1: element q · 4 + b holds row row0 + q, ranks r0 + 4b .. + 3.
fn rank_subgroup_sums(row0: u32, r0: u32, tid: u32, K: u32) -> array<vec4<f32>, 16> {
  var acc: array<vec4<f32>, 16>;
  for (var k = tid; k < K; k += THREADS) {
    var w: array<vec4<f32>, 4>;
    for (var b = 0u; b < BLOCKS; b++) { w[b] = tile_ranks(r0 + 4u * b, k); }
    for (var q = 0u; q < ROWS; q++) {
      let xv = tile_row(row0 + q, k);
      for (var b = 0u; b < BLOCKS; b++) { acc[q * 4u + b] += xv * w[b]; }
    }
  }
  return acc;
}

// Sums the partials of each subgroup into its slot and waits for the whole workgroup; every
// thread must call it (uniform control flow).
fn share_subgroup_sums(acc: array<vec4<f32>, 16>) {
  let leader = subgroupElect();
  var slot = 0u;
  if (leader) { slot = atomicAdd(&nSlots, 1u); }
  for (var q = 0u; q < ROWS; q++) {
    for (var b = 0u; b < BLOCKS; b++) {
      let t = subgroupAdd(acc[q * 4u + b]);
      if (leader) {
        let at = slot * OUTS + q * RT + 4u * b;
        Slots[at] = t.x;
        Slots[at + 1u] = t.y;
        Slots[at + 2u] = t.z;
        Slots[at + 3u] = t.w;
      }
    }
  }
  workgroupBarrier();
}

// Output o of the workgroup (row o / RT, rank o % RT) summed over the subgroups' slots.
fn slots_sum(o: u32) -> f32 {
  let n = atomicLoad(&nSlots);
  var sum = 0.0;
  for (var k = 0u; k < n; k++) { sum += Slots[k * OUTS + o]; }
  return sum;
}
