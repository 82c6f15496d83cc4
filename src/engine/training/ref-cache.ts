// Reference log-probs are computed once per example (adapter disabled) and kept in a cache that
// the caller supplies: IndexedDB in the browser (src/db), a folder or memory in Node. The engine
// only sees this interface. Each example's entry is keyed by a fingerprint of
//   (the model's fingerprint, the example's token ids: prompt and completion of every sequence,
//    and LD-DPO's tail weights when set)
// The token ids already carry the data and every setting that shapes them (template, EOS,
// truncation, KL pairing), so an entry is invalidated exactly when any of those changes.
// Values are the per-sequence sums of completion log-probs and the token counts.

import type { SequencePair } from '../transformer/logprobs.js';

export interface RefLogps {
  /** Σ completion-token log-prob of each sequence of the example (float64 from the host reduction). */
  logps: number[];
  /** Completion tokens scored per sequence. */
  tokens: number[];
  /** Mean logit over the vocabulary and completion tokens, per sequence (TRL's logits/* metrics). */
  meanLogits: number[];
}

export interface RefLogpCache {
  get(key: string): Promise<RefLogps | undefined>;
  set(key: string, value: RefLogps): Promise<void>;
}

/** A cache in memory (tests, and the default of a single CLI run). */
export class MemoryRefCache implements RefLogpCache {
  readonly entries = new Map<string, RefLogps>();
  hits = 0;
  misses = 0;

  async get(key: string): Promise<RefLogps | undefined> {
    const v = this.entries.get(key);
    if (v) this.hits++;
    else this.misses++;
    return v ? structuredClone(v) : undefined;
  }

  async set(key: string, value: RefLogps): Promise<void> {
    this.entries.set(key, structuredClone(value));
  }
}

/** Hex SHA-256 (WebCrypto: the same in a page, a Worker and Node 20). */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A sequence as words for fingerprints: lengths first, so that different splits of the same ids
 * never collide; then LD-DPO's tail (it changes the sums), absent without one so that keys of
 * plain sequences stay as they were.
 */
export function sequenceWords(s: SequencePair): number[] {
  const words: number[] = [];
  pushSequenceWords(words, s);
  return words;
}

/** sequenceWords appended to `words` (a loop, not a spread: a long sequence overflows the stack). */
export function pushSequenceWords(words: number[], s: SequencePair): void {
  words.push(s.promptIds.length, s.completionIds.length);
  for (const id of s.promptIds) words.push(id);
  for (const id of s.completionIds) words.push(id);
  if (s.tail) words.push(-1, s.tail.from, Math.round(s.tail.weight * 1e6));
}

/** A reference-cache entry that cannot be used (not the shape of one, or a non-finite value). */
export class RefCacheError extends Error {
  override readonly name = 'RefCacheError';
}

/**
 * Checks a cache entry read back from storage: three lists of `sequences` numbers (when given),
 * every value finite, token counts whole. `where` names the entry (a file, a key) in the error.
 */
export function checkRefLogps(value: unknown, where: string, sequences?: number): RefLogps {
  const fail = (why: string): never => {
    throw new RefCacheError(`reference-cache entry ${where}: ${why}; delete it (it is recomputed) or the whole cache`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not an object with logps, tokens and meanLogits');
  const v = value as Record<string, unknown>;
  for (const k of ['logps', 'tokens', 'meanLogits'] as const) {
    const list = v[k];
    if (!Array.isArray(list)) fail(`${k} is missing or not a list`);
    const xs = list as unknown[];
    if (sequences !== undefined && xs.length !== sequences) fail(`${k} has ${xs.length} values for ${sequences} sequences`);
    for (const [i, x] of xs.entries()) {
      // JSON has no NaN or Infinity: null (what JSON.stringify writes for them) is as bad.
      if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${k}[${i}] is ${x === null ? 'null (NaN or Infinity when written)' : typeof x === 'number' ? String(x) : `not a number`}`);
      if (k === 'tokens' && !(Number.isInteger(x) && (x as number) >= 0)) fail(`tokens[${i}] is ${x as number}, not a count`);
    }
  }
  if ((v.logps as number[]).length !== (v.tokens as number[]).length || (v.tokens as number[]).length !== (v.meanLogits as number[]).length) {
    fail('its lists differ in length');
  }
  return { logps: v.logps as number[], tokens: v.tokens as number[], meanLogits: v.meanLogits as number[] };
}

/** The cache key of one example under a model. */
export async function exampleKey(modelFingerprint: string, sequences: readonly SequencePair[]): Promise<string> {
  const words: number[] = [sequences.length];
  for (const s of sequences) pushSequenceWords(words, s);
  const ids = new Int32Array(words);
  const prefix = new TextEncoder().encode(`prefstudio-ref-v1|${modelFingerprint}|`);
  const all = new Uint8Array(prefix.length + ids.byteLength);
  all.set(prefix);
  all.set(new Uint8Array(ids.buffer), prefix.length);
  return `ref:${await sha256Hex(all)}`;
}
