import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { findVariant, SAFE, type KernelVariant } from '../tuning/variants.js';
import { ceilDiv, grid1d } from './grid.js';

// Causal multi-head attention with grouped-query heads and a key padding mask
// (shaders/attention_{forward,backward}.wgsl; CPU twin src/engine/cpu/attention.ts). Tuned
// kernels (src/engine/tuning/variants.ts): "safe" is that pair, "flash" the FlashAttention-2
// layout of shaders/attention_{forward,backward}_flash.wgsl (same bindings, same result), chosen
// per shape class by engine.choices unless the call names one.

export interface AttentionOptions {
  /** Multiplies q·k before the softmax (default 1 / sqrt(HS)). */
  scale?: number;
  /** Logit softcap c: s -> c·tanh(s / c) (Gemma 2); 0 = off (default). */
  softcap?: number;
  /**
   * Sliding window W (Mistral, Gemma's local layers, Phi-3): query position i sees key j only if
   * i - j < W (Hugging Face's sliding_window_overlay). 0 or absent = off; W >= Tk changes nothing.
   */
  window?: number;
  /** Tile override (tests exercise small tiles); default `attentionTiles`. */
  tiles?: AttentionTiles;
  /** This variant for this call (tests, the tuner); default: engine.choices. */
  variant?: string;
  /** Tile override of the "flash" variant; default `flashTiles`. */
  flashTiles?: FlashTiles;
  /** Key ranges per query block of the "split" variant (tests); default `attentionSplits`. */
  splits?: number;
}

/** Workgroups the "split" variant aims for: enough to occupy a GPU's cores several times over. */
const SPLIT_WORKGROUPS = 256;

/**
 * Key ranges per query block of the "split" variant (FlashDecoding): enough workgroups for
 * SPLIT_WORKGROUPS where the query blocks alone are few (decoding: one per kv head and row), each
 * range at least two key blocks; 1 = no split.
 */
export function attentionSplits(workgroups: number, keyBlocks: number): number {
  return Math.max(1, Math.min(Math.floor(keyBlocks / 2), Math.ceil(SPLIT_WORKGROUPS / workgroups)));
}

/** Tiles of the "flash" variant: a workgroup's query tile is BQ positions x G heads = R rows. */
export interface FlashTiles {
  /** Query positions per tile. */
  BQ: number;
  /** Keys per tile. */
  BK: number;
  /** Threads per query row in the p·V (forward) and dq steps; each owns HS / 4 / TPQ vec4s. */
  TPQ: number;
  /** Threads per key row in the dk/dv step (backward only). */
  TPK: number;
}

export interface AttentionTiles {
  /** Query rows per tile. */
  BQ: number;
  /** Key rows per tile. */
  BK: number;
  /** Threads per tile row; each owns HS / TPR head dims. */
  TPR: number;
}

/** A power of two (at most 16) dividing HS that leaves each thread at least 4 dims, or 1. */
export function threadsPerRow(HS: number): number {
  let t = 16;
  while (t > 1 && (HS % t !== 0 || HS / t < 4)) t /= 2;
  return t;
}

/** Workgroup-memory floats of each kernel; rows are padded to HS + 1 (see the WGSL). */
function workgroupFloats(pass: 'forward' | 'backward', { BQ, BK }: AttentionTiles, HS: number): number {
  const p = HS + 1;
  if (pass === 'forward') return BQ * p + 2 * BK * p + BQ * BK;
  return 2 * BQ * p + 2 * BQ + 2 * BK * p + 2 * BQ * BK;
}

function threadsOf(pass: 'forward' | 'backward', { BQ, BK, TPR }: AttentionTiles): number {
  return (pass === 'forward' ? BQ : Math.max(BQ, BK)) * TPR;
}

/**
 * The largest tiles up to 16 x 16 (by BQ·BK, the work between two barriers; then by BQ, the
 * reuse of each key block) that fit the device's workgroup memory and thread limit. Past 16 x 16
 * (256 scores per barrier, 64-256 threads) larger tiles mostly cost occupancy and waste more
 * work on the causal diagonal.
 */
export function attentionTiles(
  pass: 'forward' | 'backward',
  HS: number,
  workgroupBytes: number,
  maxThreads = 256,
): AttentionTiles {
  const TPR = threadsPerRow(HS);
  let best: AttentionTiles | null = null;
  for (const BQ of [16, 8, 4, 2, 1]) {
    for (const BK of [16, 8, 4, 2, 1]) {
      const t = { BQ, BK, TPR };
      if (threadsOf(pass, t) > maxThreads || workgroupFloats(pass, t, HS) * 4 > workgroupBytes) continue;
      if (!best || BQ * BK > best.BQ * best.BK) best = t;
    }
  }
  if (!best) throw new Error(`attention: head size ${HS} does not fit in ${workgroupBytes} bytes of workgroup memory`);
  return best;
}

function pow2AtMost(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * Workgroup-memory bytes of a flash kernel (see the WGSL's `var<workgroup>` lines), each array
 * rounded up to 16 bytes as implementations lay them out.
 */
function flashBytes(pass: 'forward' | 'backward', { BQ, BK }: FlashTiles, HS: number, G: number): number {
  const R = BQ * G;
  const RP = Math.ceil(R / 4) * 4;
  const HS4 = Math.ceil(HS / 4);
  const f32s = (n: number) => Math.ceil(n / 4) * 16;
  const kv = 2 * BK * (HS4 + 1) * 16;
  if (pass === 'forward') return RP * HS4 * 16 + kv + f32s(R * BK) + 3 * f32s(R);
  return 2 * RP * HS4 * 16 + 2 * f32s(RP) + kv + 2 * f32s(R * BK);
}

function flashThreads(pass: 'forward' | 'backward', { BQ, BK, TPQ, TPK }: FlashTiles, G: number): number {
  return pass === 'forward' ? BQ * G * TPQ : Math.max(BQ * G * TPQ, BK * TPK);
}

/**
 * Tiles of the "flash" variant for heads of HS with G query heads per kv head and T query rows,
 * or null when none fits the adapter. The query tile holds BQ positions x G heads (at most 64 rows
 * unless BQ = 1, and BQ no larger than T needs); the largest rows x keys tile wins, then the
 * larger key block (fewer barriers per key). Threads per row: as many as fit, up to HS / 4.
 */
export function flashTiles(
  pass: 'forward' | 'backward',
  HS: number,
  G: number,
  T: number,
  workgroupBytes: number,
  maxThreads = 256,
): FlashTiles | null {
  const HS4 = Math.ceil(HS / 4);
  let best: FlashTiles | null = null;
  let bestScore = 0;
  for (const BQ of [16, 8, 4, 2, 1]) {
    if (BQ > 1 && (BQ * G > 64 || BQ / 2 >= T)) continue;
    const R = BQ * G;
    if (R > maxThreads) continue;
    for (const BK of [32, 16, 8, 4]) {
      const t: FlashTiles = {
        BQ, BK,
        TPQ: pow2AtMost(Math.min(HS4, Math.floor(maxThreads / R))),
        TPK: pow2AtMost(Math.min(HS4, Math.floor(maxThreads / BK))),
      };
      if (flashBytes(pass, t, HS, G) > workgroupBytes || flashThreads(pass, t, G) > maxThreads) continue;
      const score = R * BK;
      if (score > bestScore || (score === bestScore && BK > best!.BK)) {
        best = t;
        bestScore = score;
      }
    }
  }
  return best;
}

/** Why `variant` of an attention kernel cannot run this shape here (null: it can). */
export function attentionVariantFits(
  engine: Engine,
  kernel: 'attention_forward' | 'attention_backward',
  variant: string,
  Tq: number,
  NH: number,
  NKV: number,
  HS: number,
  options: AttentionOptions = {},
): string | null {
  const pass = kernel === 'attention_forward' ? 'forward' : 'backward';
  try {
    findVariant(kernel, variant); // throws naming the variants that exist
    // Every variant but the safe kernel is the flash layout (split: with its keys split).
    if (variant === SAFE) tilesFor(engine, pass, HS, options);
    else flashTilesFor(engine, pass, HS, NH / NKV, Tq, options);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function flashTilesFor(engine: Engine, pass: 'forward' | 'backward', HS: number, G: number, T: number, options: AttentionOptions): FlashTiles {
  const limits = engine.report.limits;
  const maxThreads = Math.min(256, limits.maxComputeInvocationsPerWorkgroup);
  const bytes = limits.maxComputeWorkgroupStorageSize;
  const t = options.flashTiles ?? flashTiles(pass, HS, G, T, bytes, maxThreads);
  if (!t) throw new Error(`attention: variant "flash" does not fit HS=${HS} with ${G} heads per kv head in ${bytes} bytes of workgroup memory`);
  if (flashThreads(pass, t, G) > maxThreads || flashBytes(pass, t, HS, G) > bytes) {
    throw new Error(`attention: flash tiles ${JSON.stringify(t)} do not fit HS=${HS}, G=${G} on this device`);
  }
  return t;
}

/** The variant to dispatch: the call's, else the engine's choice for this shape class. */
function pickVariant(
  engine: Engine,
  kernel: 'attention_forward' | 'attention_backward',
  options: AttentionOptions,
  Tq: number,
  NH: number,
  NKV: number,
  HS: number,
): KernelVariant {
  return findVariant(kernel, options.variant ?? engine.choices.attentionName(kernel, Tq, NH, NKV, HS));
}

function tilesFor(engine: Engine, pass: 'forward' | 'backward', HS: number, options: AttentionOptions): AttentionTiles {
  const limits = engine.report.limits;
  const maxThreads = Math.min(256, limits.maxComputeInvocationsPerWorkgroup);
  if (!options.tiles) return attentionTiles(pass, HS, limits.maxComputeWorkgroupStorageSize, maxThreads);
  const t = options.tiles;
  if (HS % t.TPR !== 0 || threadsOf(pass, t) > maxThreads ||
      workgroupFloats(pass, t, HS) * 4 > limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`attention: tiles ${JSON.stringify(t)} do not fit HS=${HS} on this device`);
  }
  return t;
}

function check(what: string, t: Tensor, size: number, dtypes: readonly string[] = ['f32']): void {
  if (t.size !== size) throw new Error(`attention: ${what} (${t.label}) holds ${t.size} values, expected ${size}`);
  if (!dtypes.includes(t.dtype)) throw new Error(`attention: ${what} (${t.label}) is ${t.dtype}, expected ${dtypes.join(' or ')}`);
}

function checkHeads(NH: number, NKV: number): void {
  if (NKV < 1 || NH % NKV !== 0) throw new Error(`attention: NH=${NH} is not a multiple of NKV=${NKV}`);
}

/** The window as the kernels take it: 0 when off or when it cannot exclude any of Tk keys. */
function windowParam(options: AttentionOptions, Tk: number): number {
  const w = options.window ?? 0;
  if (!(Number.isInteger(w) && w >= 0)) throw new Error(`attention: window ${w} must be a non-negative integer`);
  return w >= Tk ? 0 : w;
}

// The mask binding must hold a buffer even without a mask; has_mask = 0 keeps it unread.
function maskBinding(engine: Engine, mask: Tensor | null, B: number, Tk: number): { mask: Tensor; placeholder: boolean } {
  if (mask) {
    check('mask', mask, B * Tk, ['u32', 'i32']);
    return { mask, placeholder: false };
  }
  return { mask: engine.tensor([1], 'u32', 'attention.noMask'), placeholder: true };
}

/** Keys and values in f32, or in f16 read natively (a KV cache kept in halves; needs shader-f16). */
function kvConstants(k: Tensor): { ENABLE_F16: string; KV_T: string } {
  return k.dtype === 'f16' ? { ENABLE_F16: 'enable f16;', KV_T: 'f16' } : { ENABLE_F16: '', KV_T: 'f32' };
}

/**
 * out = softmax(mask(softcap(scale · q kᵀ))) v per head, causal (and within `window`), saving the
 * logsumexp of each score row for the backward. Query i is position Tk - Tq + i (Tq < Tk:
 * sampling with a KV cache). `mask` (B, Tk) u32/i32, 1 = real token, 0 = padding, or null.
 * k and v may be f16 (both) where the device has shader-f16: a KV cache kept in halves.
 */
export function attentionForward(
  engine: Engine,
  out: Tensor, // (B, Tq, NH, HS)
  lse: Tensor, // (B, NH, Tq)
  q: Tensor, // (B, Tq, NH, HS)
  k: Tensor, // (B, Tk, NKV, HS)
  v: Tensor, // (B, Tk, NKV, HS)
  mask: Tensor | null, // (B, Tk)
  B: number,
  Tq: number,
  Tk: number,
  NH: number,
  NKV: number,
  HS: number,
  options: AttentionOptions = {},
): void {
  checkHeads(NH, NKV);
  if (Tq > Tk) throw new Error(`attention: Tq=${Tq} queries but only Tk=${Tk} keys`);
  check('out', out, B * Tq * NH * HS);
  check('lse', lse, B * NH * Tq);
  check('q', q, B * Tq * NH * HS);
  const kvDTypes = engine.hasF16 ? ['f32', 'f16'] : ['f32'];
  check('k', k, B * Tk * NKV * HS, kvDTypes);
  check('v', v, B * Tk * NKV * HS, [k.dtype]);
  const kv = kvConstants(k);
  const variant = pickVariant(engine, 'attention_forward', options, Tq, NH, NKV, HS);
  const flash = variant.name !== SAFE ? flashTilesFor(engine, 'forward', HS, NH / NKV, Tq, options) : null;
  const tiles = flash ? null : tilesFor(engine, 'forward', HS, options);
  const m = maskBinding(engine, mask, B, Tk);
  const queryBlocks = ceilDiv(Tq, flash?.BQ ?? tiles!.BQ);
  const splits = variant.name === 'split' ? options.splits ?? attentionSplits(queryBlocks * NKV * B, ceilDiv(Tk, flash!.BK)) : 1;
  if (!(Number.isInteger(splits) && splits >= 1)) throw new Error(`attention: splits ${splits} must be a positive integer`);
  // The split rows (B, NH, Tq, S) of HS outputs, max and sum; flash unsplit binds a stand-in.
  const part = flash ? engine.tensor([splits > 1 ? B * NH * Tq * splits * (HS + 2) : 1], 'f32', 'attention.part') : null;
  const kernel = flash
    ? { shader: variant.shader, constants: { HS, BQ: flash.BQ, G: NH / NKV, BK: flash.BK, TPV: flash.TPQ, ...kv } }
    : { shader: variant.shader, constants: { HS, ...tiles!, ...kv } };
  const params = {
    Tq,
    Tk,
    NH,
    NKV,
    has_mask: m.placeholder ? 0 : 1,
    scale: options.scale ?? 1 / Math.sqrt(HS),
    softcap: options.softcap ?? 0,
    window: windowParam(options, Tk),
    splits,
  };
  engine.dispatch(
    kernel,
    { out, lse, q, k, v, mask: m.mask, ...(part ? { part } : {}) },
    params,
    flash ? [queryBlocks * splits, NKV, B] : [queryBlocks, NH, B],
  );
  if (splits > 1) engine.dispatch({ ...kernel, entry: 'combine' }, { out, lse, part: part! }, params, [Tq * NH, B]);
  engine.release(part);
  if (m.placeholder) engine.release(m.mask);
}

/**
 * Training backward (Tq = Tk = T): dq, dk, dv are assigned from dout and the forward's q, k, v,
 * out and lse. Three passes: D = rowsum(dout ∘ out), dq by query blocks, dk and dv by key blocks.
 */
export function attentionBackward(
  engine: Engine,
  dq: Tensor, // (B, T, NH, HS)
  dk: Tensor, // (B, T, NKV, HS)
  dv: Tensor, // (B, T, NKV, HS)
  dout: Tensor, // (B, T, NH, HS)
  q: Tensor, // (B, T, NH, HS)
  k: Tensor, // (B, T, NKV, HS)
  v: Tensor, // (B, T, NKV, HS)
  out: Tensor, // (B, T, NH, HS)
  lse: Tensor, // (B, NH, T)
  mask: Tensor | null, // (B, T)
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HS: number,
  options: AttentionOptions = {},
): void {
  checkHeads(NH, NKV);
  for (const [what, t] of [['dq', dq], ['dout', dout], ['q', q], ['out', out]] as const) check(what, t, B * T * NH * HS);
  for (const [what, t] of [['dk', dk], ['dv', dv], ['k', k], ['v', v]] as const) check(what, t, B * T * NKV * HS);
  check('lse', lse, B * NH * T);
  const variant = pickVariant(engine, 'attention_backward', options, T, NH, NKV, HS);
  const flash = variant.name !== SAFE ? flashTilesFor(engine, 'backward', HS, NH / NKV, T, options) : null;
  const tiles = flash ? null : tilesFor(engine, 'backward', HS, options);
  const m = maskBinding(engine, mask, B, T);
  const LD = engine.tensor([B, NH, T, 2], 'f32', 'attention.LD'); // (B, NH, T) pairs (L, D)
  const constants: Record<string, number> = flash
    ? { HS, BQ: flash.BQ, G: NH / NKV, BK: flash.BK, TPQ: flash.TPQ, TPK: flash.TPK }
    : { HS, ...tiles! };
  const kernel = (entry: string) => ({ shader: variant.shader, entry, constants });
  const params = {
    B,
    T,
    NH,
    NKV,
    has_mask: m.placeholder ? 0 : 1,
    scale: options.scale ?? 1 / Math.sqrt(HS),
    softcap: options.softcap ?? 0,
    window: windowParam(options, T),
  };
  engine.dispatch(kernel('rowdot'), { LD, dout, out, lse }, params, grid1d(B * T * NH, 256));
  const [BQ, BK, qHeads] = flash ? [flash.BQ, flash.BK, NKV] : [tiles!.BQ, tiles!.BK, NH];
  engine.dispatch(kernel('dq_main'), { dq, LD, dout, q, k, v, mask: m.mask }, params, [ceilDiv(T, BQ), qHeads, B]);
  engine.dispatch(kernel('dkdv_main'), { dk, dv, LD, dout, q, k, v, mask: m.mask }, params, [ceilDiv(T, BK), NKV, B]);
  // Later work is recorded after these dispatches, so the buffers may go back to the pool now.
  engine.release(LD);
  if (m.placeholder) engine.release(m.mask);
}
