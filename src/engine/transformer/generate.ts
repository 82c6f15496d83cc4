// Sampling with a KV cache: one forward over the prompts (prefill) that stores every block's keys
// and values, then one token per step, each step attending to the cache (Tq = 1 < Tk). The next
// token is chosen on the CPU from the step's logits row (sampling.ts).
//
// Cache layout per block: K and V (B, maxLen, NKV, HS), maxLen = P + maxNewTokens where P is the
// longest prompt. Slots 0..len_b-1 of row b hold its prompt (right-padded to P: the padding slots
// are masked); step s writes row b's new key at slot len_b + s, right after its own tokens, so a
// row's keys sit at the same slots as if it were generated alone. Rope positions are the true ones
// (len_b + s). With one row there is no padding: the step attends to the filled prefix of the
// cache only (Tk = len + s + 1, no mask); with several, to all maxLen slots through a (B, maxLen)
// mask of filled, real slots (the query sits past every slot, so the mask alone is causal).
// Attention walks the keys in fixed blocks from slot 0 and skips masked ones, and every other
// layer works row by row: a row's logits, and so its tokens, are the same alone or in any batch.
//
// Randomness: one generator for the batch (`seed`, `random`), or one per row (`rowSeeds`): then a
// row's draws depend on its own seed only, and batched generation equals generating each row alone.

import type { Engine } from '../gpu/engine.js';
import { byteLength, numel, type Tensor } from '../gpu/tensor.js';
import { copyRegions, prefixView, type RegionCopy } from './gpu-copy.js';
import { f16PackForward } from '../kernels/f16-pack.js';
import { f16UnpackForward } from '../kernels/f16-unpack.js';
import { kvCacheDType, type KvCacheChoice, type KvCacheDType } from './kv-dtype.js';
import type { AttentionKeys, KeySource, TransformerModel } from './model.js';
import { applyRepetitionPenalty, sampleToken, seededRandom, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most per row. */
  maxNewTokens: number;
  /** Stop a row at any of these (default the config's eosIds). The EOS token is kept. */
  eosIds?: number[];
  /**
   * The KV cache's dtype. f16 halves its memory (keys and values rounded to halves); the attention
   * reads it natively where the device has shader-f16, unpacked to f32 per layer elsewhere.
   * 'auto' (the default): defaultKvCache(engine).
   */
  kvCache?: KvCacheChoice;
  /** Stop a row once its decoded completion contains one of these (needs `decode`). */
  stopStrings?: string[];
  /** Token ids → text, for stop strings and `GenerationResult.text`. */
  decode?: (ids: number[]) => string;
  /** Called with the logits (B, V) each step chooses from (rows of finished sequences are stale). */
  onLogits?: (logits: Float32Array, step: number) => void;
  /** Called for every generated token, in order (streaming). */
  onToken?: (event: { row: number; token: number; index: number }) => void;
  /** Aborting ends every row at the next step with finishReason 'abort'. */
  signal?: AbortSignal;
  /** Seed of the sampling generator (default 0); or pass `random`. */
  seed?: number;
  random?: () => number;
  /** One generator per row, seeded with these (one per prompt): a row's tokens depend on its seed only. */
  rowSeeds?: readonly number[];
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'abort';

export interface GenerationResult {
  /** Generated ids (the EOS or the token completing a stop string included). */
  tokens: number[];
  finishReason: FinishReason;
  /** decode(tokens), cut before the stop string; present when `decode` was given. */
  text?: string;
}

/** Per-block keys and values of a batch being generated, on the GPU. */
export class KvCache implements KeySource {
  readonly k: Tensor[]; // L × (B, maxLen, NKV, HS), f32 or f16 (two halves a word)
  readonly v: Tensor[]; // L × (B, maxLen, NKV, HS)
  /** An f16 cache's keys and values unpacked for the layer being run (released at the next layer's). */
  private unpacked: Tensor[] = [];
  /** (B, maxLen) 1 where a slot holds a real token, on the host. */
  readonly slotMask: Uint32Array;
  private maskTensor: Tensor | null = null;
  /** Per sliding window W: the step's mask without the slots W or more positions before each row's query. */
  private windowMasks = new Map<number, Tensor>();
  /** Slots in use: one past the highest slot written in any row. */
  filled = 0;
  /** Where the next `keys` call writes: per row, the slot of its first token. */
  private writeAt: Int32Array;
  /** f16 cache: the u32 word where each row's writes start (writeAt on the GPU, for f16PackForward). */
  private writeWords: Tensor | null = null;

  constructor(
    private readonly engine: Engine,
    readonly L: number,
    readonly B: number,
    readonly maxLen: number,
    readonly NKV: number,
    readonly HS: number,
    /** f16: half the memory; the attention reads the halves (shader-f16) or each layer's keys unpacked to f32. */
    readonly dtype: KvCacheDType = 'f32',
  ) {
    if (dtype === 'f16' && (NKV * HS) % 2 !== 0) throw new Error(`KV cache in f16: a row of ${NKV} × ${HS} values is not whole u32 words`);
    // Zeroed: masked slots are still read by the attention kernel, and must not hold NaNs.
    this.k = Array.from({ length: L }, (_, l) => engine.zeros([B, maxLen, NKV, HS], dtype, `kv.k${l}`));
    this.v = Array.from({ length: L }, (_, l) => engine.zeros([B, maxLen, NKV, HS], dtype, `kv.v${l}`));
    this.slotMask = new Uint32Array(B * maxLen);
    this.writeAt = new Int32Array(B);
  }

  /**
   * Before a forward of T tokens per row written at the same slots in every row (the prefill):
   * they go to slots filled..filled+T-1; `real` (B, T) marks which are real tokens.
   */
  begin(T: number, real: ArrayLike<number>): void {
    this.beginAt(Int32Array.from({ length: this.B }, () => this.filled), T, real);
  }

  /** Before a forward of one token per row, row b's at slot `slots[b]`. */
  beginStep(slots: ArrayLike<number>): void {
    this.beginAt(Int32Array.from(slots), 1, new Int32Array(this.B).fill(1));
  }

  private beginAt(at: Int32Array, T: number, real: ArrayLike<number>): void {
    let end = this.filled;
    for (let b = 0; b < this.B; b++) {
      if (at[b]! < 0 || at[b]! + T > this.maxLen) throw new Error(`KV cache: slots ${at[b]}..${at[b]! + T - 1} asked for, ${this.maxLen} allocated`);
      for (let t = 0; t < T; t++) this.slotMask[b * this.maxLen + at[b]! + t] = real[b * T + t] !== 0 ? 1 : 0;
      end = Math.max(end, at[b]! + T);
    }
    this.writeAt = at;
    this.filled = end;
    if (this.dtype === 'f16') {
      const row = this.NKV * this.HS;
      this.engine.release(this.writeWords);
      const words = Uint32Array.from(at, (slot, b) => ((b * this.maxLen + slot) * row) / 2);
      this.writeWords = this.engine.fromArray(words, [this.B], 'u32', 'kv.writeWords');
    }
    if (this.B > 1 && !this.prefill) {
      this.engine.release(this.maskTensor, ...this.windowMasks.values());
      this.windowMasks.clear();
      this.maskTensor = this.engine.fromArray(this.slotMask, [this.B, this.maxLen], 'u32', 'kv.mask');
    }
  }

  /**
   * Sliding-window layers (Mistral, Gemma, Phi-3) with several rows: the query of row b sits at
   * slot (= position) writeAt[b] while the kernel places it past every slot, so the window is
   * folded into the mask: slots j with writeAt[b] - j >= W are cleared.
   */
  private windowMask(W: number): Tensor {
    let t = this.windowMasks.get(W);
    if (!t) {
      const m = this.slotMask.slice();
      for (let b = 0; b < this.B; b++) {
        const q = this.writeAt[b]!;
        for (let j = 0; j <= q - W; j++) m[b * this.maxLen + j] = 0;
      }
      t = this.engine.fromArray(m, [this.B, this.maxLen], 'u32', `kv.mask.window${W}`);
      this.windowMasks.set(W, t);
    }
    return t;
  }

  /** The forward in progress writes from slot 0 in every row: it attends to its own batch. */
  private get prefill(): boolean {
    return this.writeAt.every((x) => x === 0);
  }

  keys(layer: number, k: Tensor, v: Tensor, batchMask: Tensor | null, window = 0): AttentionKeys {
    const T = k.shape[1]!;
    const row = this.NKV * this.HS;
    this.write(layer, k, v, T, row);
    // Prefill: queries attend to their own batch, which is causal and masked already (a sliding
    // window applies by index: slots are positions). One row: the query is the last filled slot.
    if (this.prefill) return { k, v, mask: batchMask, Tk: T };
    if (this.B === 1) {
      const shape = [1, this.filled, this.NKV, this.HS];
      const [kc, vc] = this.read(layer, shape);
      return { k: kc, v: vc, mask: null, Tk: this.filled };
    }
    const [kc, vc] = this.read(layer, [this.B, this.maxLen, this.NKV, this.HS]);
    if (window > 0) return { k: kc, v: vc, mask: this.windowMask(window), Tk: this.maxLen, window: 0 };
    return { k: kc, v: vc, mask: this.maskTensor, Tk: this.maxLen };
  }

  /** Each row's T new keys and values (B, T, NKV, HS) into its slots. */
  private write(layer: number, k: Tensor, v: Tensor, T: number, row: number): void {
    if (this.dtype === 'f16') {
      f16PackForward(this.engine, this.k[layer]!, k, this.writeWords!, T * row, this.B);
      f16PackForward(this.engine, this.v[layer]!, v, this.writeWords!, T * row, this.B);
      return;
    }
    const copies: RegionCopy[] = [];
    for (let b = 0; b < this.B; b++) {
      const dstOffset = (b * this.maxLen + this.writeAt[b]!) * row;
      copies.push({ dst: this.k[layer]!, dstOffset, src: k, srcOffset: b * T * row, count: T * row });
      copies.push({ dst: this.v[layer]!, dstOffset, src: v, srcOffset: b * T * row, count: T * row });
    }
    copyRegions(this.engine, copies);
  }

  /**
   * The layer's keys and values over `shape`'s leading slots, as stored where the attention reads
   * them (f32, or f16 on a device with shader-f16); else an f16 cache is unpacked to f32.
   */
  private read(layer: number, shape: number[]): [Tensor, Tensor] {
    if (this.dtype === 'f32' || this.engine.hasF16) return [prefixView(this.k[layer]!, shape), prefixView(this.v[layer]!, shape)];
    this.engine.release(...this.unpacked); // the previous layer's: its attention is recorded
    const n = numel(shape);
    const kc = this.engine.tensor(shape, 'f32', `kv.k${layer}.f32`);
    const vc = this.engine.tensor(shape, 'f32', `kv.v${layer}.f32`);
    f16UnpackForward(this.engine, kc, this.k[layer]!, n);
    f16UnpackForward(this.engine, vc, this.v[layer]!, n);
    this.unpacked = [kc, vc];
    return [kc, vc];
  }

  release(): void {
    this.engine.release(...this.unpacked);
    this.unpacked = [];
    this.engine.release(...this.k, ...this.v, this.maskTensor, this.writeWords, ...this.windowMasks.values());
    this.windowMasks.clear();
    this.maskTensor = null;
    this.writeWords = null;
  }
}

/** Index of the earliest stop string in `text` that ends at or after `from`, or -1. */
function findStop(text: string, stops: readonly string[], from: number): number {
  let cut = -1;
  for (const s of stops) {
    if (s.length === 0) continue;
    const i = text.indexOf(s, Math.max(0, from - s.length + 1));
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut;
}

/**
 * Generates up to maxNewTokens for each prompt (rows run together; each stops on its own).
 * Every prompt needs at least one token (usually BOS).
 */
export async function generate(model: TransformerModel, prompts: number[][], options: GenerateOptions): Promise<GenerationResult[]> {
  const c = model.config;
  const e = model.engine;
  const B = prompts.length;
  if (B === 0) return [];
  if (prompts.some((p) => p.length === 0)) throw new Error('generate: every prompt needs at least one token');
  if (!(options.maxNewTokens >= 0)) throw new Error(`generate: maxNewTokens ${options.maxNewTokens}`);
  if (options.stopStrings?.length && !options.decode) throw new Error('generate: stopStrings need a decode function');
  const eos = new Set(options.eosIds ?? c.eosIds);
  if (options.rowSeeds && options.rowSeeds.length !== B) throw new Error(`generate: ${options.rowSeeds.length} row seeds for ${B} prompts`);
  const shared = options.random ?? seededRandom(options.seed ?? 0);
  const randoms = options.rowSeeds ? options.rowSeeds.map((seed) => seededRandom(seed)) : prompts.map(() => shared);
  const penalty = options.repetitionPenalty ?? 1;
  if (!(penalty > 0)) throw new Error(`generate: repetitionPenalty ${penalty} must be > 0`);
  const lens = prompts.map((p) => p.length);
  let P = 0;
  for (const n of lens) P = Math.max(P, n);
  const maxLen = P + options.maxNewTokens;
  if (c.arch === 'gpt2' && maxLen > c.maxPositions) {
    throw new Error(`generate: prompt + maxNewTokens = ${maxLen} is past GPT-2's ${c.maxPositions} positions`);
  }
  // The KV cache is the largest buffer: checked against the device before any is allocated.
  const kvDType = kvCacheDType(e, options.kvCache);
  const kvBytes = byteLength(kvDType, B * maxLen * c.kvHeads * c.headDim);
  const maxBinding = e.report.limits.maxStorageBufferBindingSize;
  if (!(kvBytes <= maxBinding)) {
    throw new Error(`generate: a KV cache for ${B} rows of ${maxLen} tokens (prompt ${P} + ${options.maxNewTokens} new) needs ${kvBytes} bytes per layer, more than this GPU's largest storage binding (${maxBinding} bytes): lower max new tokens or the batch`);
  }

  const results: GenerationResult[] = prompts.map(() => ({ tokens: [], finishReason: 'length' }));
  const done = prompts.map(() => options.maxNewTokens === 0);
  const texts = prompts.map(() => '');
  if (options.maxNewTokens === 0 || options.signal?.aborted) {
    if (options.signal?.aborted) results.forEach((r) => (r.finishReason = 'abort'));
    return finishTexts(results, options);
  }

  const cache = new KvCache(e, c.layers, B, maxLen, c.kvHeads, c.headDim, kvDType);
  try {
    // Prefill: the prompts right-padded to P; logits only at each row's last prompt token.
    const ids = new Int32Array(B * P);
    const mask = new Int32Array(B * P);
    prompts.forEach((p, b) => {
      ids.set(p, b * P);
      mask.fill(1, b * P, b * P + p.length);
    });
    cache.begin(P, mask);
    const lastRows = lens.map((n, b) => b * P + n - 1);
    let logits = await readLogits(model, { B, T: P, ids, mask }, cache, lastRows);

    for (let step = 0; ; step++) {
      options.onLogits?.(logits, step);
      // Choose each live row's next token from its logits row.
      const next = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const row = logits.subarray(b * c.vocabSize, (b + 1) * c.vocabSize);
        const r = results[b]!;
        if (penalty !== 1) applyRepetitionPenalty(row, [...prompts[b]!, ...r.tokens], penalty);
        const token = sampleToken(row, options, randoms[b]!);
        next[b] = token;
        r.tokens.push(token);
        options.onToken?.({ row: b, token, index: r.tokens.length - 1 });
        if (eos.has(token)) {
          done[b] = true;
          r.finishReason = 'eos';
        } else if (options.stopStrings?.length) {
          const before = texts[b]!.length;
          texts[b] = options.decode!(r.tokens);
          if (findStop(texts[b]!, options.stopStrings, before) >= 0) {
            done[b] = true;
            r.finishReason = 'stop';
          }
        }
        if (!done[b] && r.tokens.length >= options.maxNewTokens) done[b] = true; // 'length'
      }
      if (done.every(Boolean)) break;
      if (options.signal?.aborted) {
        done.forEach((d, b) => d || (results[b]!.finishReason = 'abort'));
        break;
      }
      // One token per row at slot and position len_b + step; finished rows ride along (their
      // tokens are never read) so the batch keeps its shape.
      const positions = Int32Array.from(lens, (n) => n + step);
      cache.beginStep(positions);
      logits = await readLogits(model, { B, T: 1, ids: next, mask: null, positions }, cache);
    }
  } finally {
    cache.release();
  }
  return finishTexts(results, options);
}

async function readLogits(
  model: TransformerModel,
  batch: Parameters<TransformerModel['forward']>[0],
  cache: KvCache,
  rows?: number[],
): Promise<Float32Array> {
  const { logits } = model.forward(batch, rows, { keySource: cache });
  const host = await model.engine.readF32(logits);
  model.engine.release(logits);
  return host;
}

function finishTexts(results: GenerationResult[], options: GenerateOptions): GenerationResult[] {
  if (!options.decode) return results;
  for (const r of results) {
    let text = options.decode(r.tokens);
    if (r.finishReason === 'stop' && options.stopStrings) {
      const cut = findStop(text, options.stopStrings, 0);
      if (cut >= 0) text = text.slice(0, cut);
    }
    r.text = text;
  }
  return results;
}
