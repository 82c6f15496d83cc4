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
  return [s.promptIds.length, s.completionIds.length, ...s.promptIds, ...s.completionIds, ...(s.tail ? [-1, s.tail.from, Math.round(s.tail.weight * 1e6)] : [])];
}

/** The cache key of one example under a model. */
export async function exampleKey(modelFingerprint: string, sequences: readonly SequencePair[]): Promise<string> {
  const words: number[] = [sequences.length];
  for (const s of sequences) words.push(...sequenceWords(s));
  const ids = new Int32Array(words);
  const prefix = new TextEncoder().encode(`prefstudio-ref-v1|${modelFingerprint}|`);
  const all = new Uint8Array(prefix.length + ids.byteLength);
  all.set(prefix);
  all.set(new Uint8Array(ids.buffer), prefix.length);
  return `ref:${await sha256Hex(all)}`;
}
