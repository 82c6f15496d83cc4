// Log-prob backward, assigned (activation gradient), recomputing the softmax from the saved lse:
//   dlogits[n, v] = dlogp[n] · (onehot(targets[n])[v] - exp(logits[n, v] - lse[n]))
// Rows whose target is outside [0, V) (masked) get 0. Workgroups tile (column block, row): each
// thread owns COLS columns strided by the workgroup size, so reads and writes are coalesced and
// even a few rows of a large vocabulary fill the GPU. `main_inplace` overwrites the logits
// buffer (bound as dlogits) with the gradient, saving a second (rows, V) buffer.
// Row indices as in logprobs_forward.wgsl: logits rows are rows row0 .. row0 + rows - 1 of N.

struct Params {
  V: u32,     // vocabulary size
  row0: u32,  // first row of the chunk within N
  rows: u32,  // rows in the chunk (rows of logits / dlogits)
}

@group(0) @binding(0) var<storage, read_write> dlogits: array<f32>;  // (rows, V)
@group(0) @binding(1) var<storage, read> dlogp: array<f32>;          // (N)
@group(0) @binding(2) var<storage, read> logits: array<f32>;         // (rows, V)
@group(0) @binding(3) var<storage, read> targets: array<i32>;        // (N)
@group(0) @binding(4) var<storage, read> lse: array<f32>;            // (N)
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 256u;
const COLS: u32 = 4u;

struct Row {
  base: u32,  // offset of the row in logits / dlogits
  tgt: i32,   // target id, -1 when masked or out of range
  lse: f32,
  d: f32,     // dlogp of the row
}

// (column block, row) of this workgroup; rows are spread over y and z (more than 65535 rows).
fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y + wid.z * nwg.y;
}

fn row_info(r: u32) -> Row {
  let n = params.row0 + r;
  let t = targets[n];
  let valid = t >= 0 && u32(t) < params.V;
  return Row(r * params.V, select(-1, t, valid), lse[n], dlogp[n]);
}

fn grad(x: f32, v: u32, row: Row) -> f32 {
  if (row.tgt < 0) {
    return 0.0;
  }
  let onehot = select(0.0, 1.0, i32(v) == row.tgt);
  return row.d * (onehot - exp(x - row.lse));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let r = row_of(wid, nwg);
  if (r >= params.rows) {
    return;
  }
  let row = row_info(r);
  let col0 = wid.x * (WG * COLS) + tid;
  for (var k = 0u; k < COLS; k++) {
    let v = col0 + k * WG;
    if (v < params.V) {
      dlogits[row.base + v] = grad(logits[row.base + v], v, row);
    }
  }
}

@compute @workgroup_size(256)
fn main_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) tid: u32) {
  let r = row_of(wid, nwg);
  if (r >= params.rows) {
    return;
  }
  let row = row_info(r);
  let col0 = wid.x * (WG * COLS) + tid;
  for (var k = 0u; k < COLS; k++) {
    let v = col0 + k * WG;
    if (v < params.V) {
      dlogits[row.base + v] = grad(dlogits[row.base + v], v, row);
    }
  }
}
