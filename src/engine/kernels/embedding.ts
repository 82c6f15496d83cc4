import type { Engine } from '../gpu/engine.js';
import type { ShaderConstants } from '../gpu/shader-source.js';
import type { Tensor } from '../gpu/tensor.js';
import { ceilDiv, grid1d } from './grid.js';
import { embeddingNBitsForward, isQuantTensor, type QuantTensor } from './matmul-nbits.js';

// Token (and GPT-2 position) embeddings: out (N, C) = scale · wte[ids] (+ wpe[positions]); scale
// is 1, or Gemma's sqrt(hidden)
// (shaders/embedding_{forward,backward}.wgsl; CPU twin src/engine/cpu/embedding.ts).

export interface EmbeddingOptions {
  /** Multiplies the token rows (Gemma: sqrt(hidden) in the table's dtype); default 1. */
  scale?: number;
  /**
   * f16 wte: read it as native `f16` (needs shader-f16) or as packed u32 words. Default: native
   * where the device has shader-f16.
   */
  nativeF16?: boolean;
}

/** Rows grouped by id (CSR): rows[offsets[u] .. offsets[u + 1]) are the rows whose id is uniq[u]. */
export interface RowGroups {
  uniq: Uint32Array; // (U) ids that occur, ascending
  offsets: Uint32Array; // (U + 1)
  rows: Uint32Array; // (N) ascending within each id
}

const WG = 256;
/** Columns per workgroup of the backward kernel. */
const BACKWARD_COLS = 64;

/** Throws unless every id is an integer in [0, V). */
export function checkIds(ids: ArrayLike<number>, V: number, what = 'id'): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new Error(`embedding: ${what} ${id} at [${i}] is outside [0, ${V})`);
  }
}

/** Groups row indices by id with a counting sort (stable: rows ascend within an id). */
export function groupRowsById(ids: ArrayLike<number>, V: number, what = 'id'): RowGroups {
  checkIds(ids, V, what);
  const counts = new Uint32Array(V);
  for (let i = 0; i < ids.length; i++) counts[ids[i]!]! += 1;
  let U = 0;
  for (let v = 0; v < V; v++) if (counts[v]! > 0) U++;
  const uniq = new Uint32Array(U);
  const offsets = new Uint32Array(U + 1);
  const slot = new Int32Array(V); // id -> its group u
  let u = 0;
  for (let v = 0; v < V; v++) {
    if (counts[v]! === 0) continue;
    uniq[u] = v;
    offsets[u + 1] = offsets[u]! + counts[v]!;
    slot[v] = u++;
  }
  const next = offsets.slice(0, U);
  const rows = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) rows[next[slot[ids[i]!]!]!++] = i;
  return { uniq, offsets, rows };
}

function check(what: string, t: Tensor, size: number, dtype: string): void {
  if (t.dtype !== dtype) throw new Error(`embedding: ${what} (${t.label}) is ${t.dtype}, expected ${dtype}`);
  if (t.size < size) throw new Error(`embedding: ${what} (${t.label}) holds ${t.size} values, needs ${size}`);
}

function checkDims(N: number, C: number, V: number): void {
  for (const [k, v] of Object.entries({ N, C, V })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`embedding: ${k} = ${v} is not a non-negative integer`);
  }
  if (C === 0) throw new Error('embedding: C = 0');
}

function constants(engine: Engine, wte: Tensor, o: EmbeddingOptions): ShaderConstants {
  if (wte.dtype === 'f32') return { ENABLE_F16: '', W_KIND: 0, W_T: 'f32' };
  if (wte.dtype !== 'f16') throw new Error(`embedding: wte (${wte.label}) is ${wte.dtype}, must be f32 or f16`);
  const native = o.nativeF16 ?? engine.hasF16;
  if (native && !engine.hasF16) throw new Error('embedding: nativeF16 asked for, but the device has no shader-f16');
  return native ? { ENABLE_F16: 'enable f16;', W_KIND: 2, W_T: 'f16' } : { ENABLE_F16: '', W_KIND: 1, W_T: 'u32' };
}

/** A host id array goes up as a temporary i32 tensor (after validation); a tensor is used as is. */
function idTensor(engine: Engine, ids: Tensor | Int32Array, N: number, limit: number, what: string): { t: Tensor; temp: boolean } {
  if (!(ids instanceof Int32Array)) {
    check(`${what}s`, ids, N, 'i32');
    return { t: ids, temp: false };
  }
  if (ids.length < N) throw new Error(`embedding: ${ids.length} ${what}s, needs ${N}`);
  checkIds(ids.subarray(0, N), limit, what);
  return { t: engine.fromArray(ids.subarray(0, N), [N], 'i32', `embedding.${what}s`), temp: true };
}

/**
 * out (N, C) = wte[ids] (+ wpe[positions] when wpe is given: GPT-2). wte (V, C) is f32 or f16,
 * wpe (P, C) f32. Ids and positions may be i32 tensors, or Int32Arrays, which are checked
 * against V and P on the CPU and uploaded; an out-of-range value in a tensor gives zeros.
 */
export function embeddingForward(
  engine: Engine,
  out: Tensor, // (N, C)
  ids: Tensor | Int32Array, // (N)
  positions: Tensor | Int32Array | null, // (N); only read with wpe
  wte: Tensor | QuantTensor, // (V, C); block-quantized: shaders/embedding_nbits_forward.wgsl
  wpe: Tensor | null, // (P, C)
  N: number,
  C: number,
  V: number,
  options: EmbeddingOptions = {},
): void {
  checkDims(N, C, V);
  if (isQuantTensor(wte)) {
    if (wte.rows !== V || wte.cols !== C) throw new Error(`embedding: the quantized table ${wte.label} is [${wte.rows}, ${wte.cols}], needs [${V}, ${C}]`);
    if (wpe) check('wpe', wpe, C, 'f32');
    if (wpe && !positions) throw new Error('embedding: wpe needs positions');
    const idQ = idTensor(engine, ids, N, V, 'id');
    const posQ = wpe && positions ? idTensor(engine, positions, N, Math.floor(wpe.size / C), 'position') : null;
    embeddingNBitsForward(engine, out, idQ.t, posQ?.t ?? null, wte, wpe, N, scaleOf(options));
    if (idQ.temp) engine.release(idQ.t);
    if (posQ?.temp) engine.release(posQ.t);
    return;
  }
  const k = constants(engine, wte, options);
  check('out', out, N * C, 'f32');
  if (wte.size < V * C) throw new Error(`embedding: wte (${wte.label}) holds ${wte.size} values, needs ${V * C}`);
  const P = wpe ? Math.floor(wpe.size / C) : 0;
  if (wpe) check('wpe', wpe, C, 'f32');
  if (wpe && !positions) throw new Error('embedding: wpe needs positions');
  const idT = idTensor(engine, ids, N, V, 'id');
  const posT = wpe && positions ? idTensor(engine, positions, N, P, 'position') : null;
  engine.dispatch(
    { shader: 'embedding_forward', constants: k },
    // Without wpe, ids and wte stand in for positions and wpe (has_wpe = 0, never read).
    { out, ids: idT.t, positions: posT?.t ?? idT.t, wte, wpe: wpe ?? wte },
    { N, C, V, P, has_wpe: wpe ? 1 : 0, scale: scaleOf(options) },
    grid1d(N * C, WG),
  );
  if (idT.temp) engine.release(idT.t);
  if (posT?.temp) engine.release(posT.t);
}

function scaleOf(o: { scale?: number }): number {
  const s = o.scale ?? 1;
  if (!Number.isFinite(s)) throw new Error(`embedding: scale ${s} is not finite`);
  return s;
}

/** dweight (rows, C) += scale · Σ dout rows grouped by `ids` (any id outside [0, rows) throws). */
function accumulateRows(engine: Engine, dweight: Tensor, dout: Tensor, ids: Int32Array, N: number, C: number, rows: number, what: string, scale: number): void {
  check(`d${what}`, dweight, rows * C, 'f32');
  if (ids.length < N) throw new Error(`embedding: ${ids.length} ${what} ids, needs ${N}`);
  const g = groupRowsById(ids.subarray(0, N), rows, what === 'wte' ? 'id' : 'position');
  const U = g.uniq.length;
  const uniq = engine.fromArray(g.uniq, [U], 'u32', `embedding.${what}.uniq`);
  const offsets = engine.fromArray(g.offsets, [U + 1], 'u32', `embedding.${what}.offsets`);
  const rowsT = engine.fromArray(g.rows, [N], 'u32', `embedding.${what}.rows`);
  const chunks = ceilDiv(C, BACKWARD_COLS);
  engine.dispatch(
    { shader: 'embedding_backward' },
    { dweight, dout, uniq, offsets, rows: rowsT },
    { C, U, chunks, scale },
    grid1d(U * chunks, 1),
  );
  engine.release(uniq, offsets, rowsT);
}

/**
 * dwte (V, C) += scale · Σ_n dout[n] at ids[n]; dwpe (P, C) += Σ_n dout[n] at positions[n]. The ids are
 * host arrays: rows are grouped by id on the CPU so the GPU sums without atomics, in a fixed
 * order. A null gradient is skipped; an id outside [0, V) (or position outside [0, P)) throws.
 */
export function embeddingBackward(
  engine: Engine,
  dwte: Tensor | null, // (V, C)
  dwpe: Tensor | null, // (P, C)
  dout: Tensor, // (N, C)
  ids: Int32Array, // (N)
  positions: Int32Array | null, // (N); only read with dwpe
  N: number,
  C: number,
  V: number,
  options: { scale?: number } = {},
): void {
  checkDims(N, C, V);
  check('dout', dout, N * C, 'f32');
  if (N === 0) return;
  if (dwte) accumulateRows(engine, dwte, dout, ids, N, C, V, 'wte', scaleOf(options));
  if (dwpe) {
    if (!positions) throw new Error('embedding: dwpe needs positions');
    accumulateRows(engine, dwpe, dout, positions, N, C, Math.floor(dwpe.size / C), 'wpe', 1);
  }
}
