// Per-sequence log-probabilities of completions, as TRL computes them for DPO/IPO/KTO: each row
// is prompt_ids + completion_ids, right-padded; the logits at position t predict token t + 1, and
// only completion tokens count (prompt and padding are masked). Per row:
//   logp        = Σ over completion tokens of log_softmax(logits[t])[ids[t + 1]], each times its
//                 tail weight (LD-DPO, SequencePair.tail; 1 without)
//   tokens      = number of completion tokens scored
//   meanLogit   = mean over those positions of the mean over the vocabulary of logits[t]
//   alignedMean = mean over those positions of WPO's aligned log-prob logp_t - log Σ_v p_v²
//                 (TRL's use_weighting: the pair's weight is exp(alignedMean_c + alignedMean_r))
//   tailLogp    = Σ over the tail's completion tokens of their log-prob, unweighted (0 without
//                 a tail): TRL's sft term is the plain NLL of the chosen tokens, so it reads
//                 logp + (1 - weight)·tailLogp
// TRL's batch metric logits/chosen is Σ_b meanLogit_b · tokens_b / Σ_b tokens_b. meanLogit and
// alignedMean are plain means: the tail weight enters logp only (TRL).
//
// The (B·T, V) logits never exist at once: after the blocks, only the rows that predict a
// completion token are gathered, in chunks, through the final norm and the LM head, and each
// chunk of logits goes straight into the logprobs kernel and back to the pool.

import { logprobsForward } from '../kernels/logprobs.js';
import { headChunkRows } from './head-chunk.js';
import type { TransformerModel } from './model.js';

export interface SequencePair {
  promptIds: number[];
  completionIds: number[];
  /**
   * LD-DPO (TRL's ld_alpha): the scored completion tokens at index >= from (0-based, counting
   * scored tokens in order, i.e. TRL's comp_pos > from) enter logp with `weight`, the others
   * with 1. For a pair, from = min(scored tokens of chosen, of rejected) on both sequences and
   * weight = ld_alpha, for the policy and the reference alike. Absent: every token weighs 1.
   */
  tail?: { from: number; weight: number };
}

export interface SequenceLogprob {
  /** Σ completion log-probs (tail tokens times the tail weight). */
  logp: number;
  /** Completion tokens scored (not weighted). */
  tokens: number;
  meanLogit: number;
  /** Mean over the scored tokens of logp_t - log Σ_v p_v² (WPO); 0 when none. */
  alignedMean: number;
  /** Σ log-probs of the tail's tokens, unweighted (LD-DPO); 0 without a tail. */
  tailLogp: number;
}

export interface LogprobOptions {
  /** Logit rows per LM-head chunk (default: about 32 MiB of logits, at least 1). */
  chunkRows?: number;
}

/** The scored positions of a padded batch: flat row b·T + t, its target id and its sequence. */
export interface ScoredPositions {
  B: number;
  T: number;
  ids: Int32Array; // (B, T)
  mask: Int32Array; // (B, T)
  rows: Int32Array; // (n) flat index of the position whose logits predict the target
  targets: Int32Array; // (n) the completion token at position t + 1
  owner: Int32Array; // (n) sequence b
  weight: Float32Array; // (n) the position's weight in its sequence's logp (tail weight or 1)
  tail: Uint8Array; // (n) 1 where the position is in its sequence's tail
}

function checkTail(s: SequencePair, b: number): void {
  if (!s.tail) return;
  const { from, weight } = s.tail;
  if (!Number.isInteger(from) || from < 0) throw new Error(`sequence ${b}: tail.from ${from} must be an integer >= 0`);
  if (!Number.isFinite(weight)) throw new Error(`sequence ${b}: tail.weight ${weight} must be finite`);
}

/**
 * Right-pads prompt + completion rows and lists the positions that score a completion token.
 * A completion token at index 0 of its row (empty prompt) has no predicting position and is not
 * scored, as in TRL. Each position's weight is its sequence's tail weight from the tail's
 * `from`-th scored token on, else 1.
 */
export function scoredPositions(batch: readonly SequencePair[]): ScoredPositions {
  const B = batch.length;
  const T = Math.max(1, ...batch.map((s) => s.promptIds.length + s.completionIds.length));
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const rows: number[] = [];
  const targets: number[] = [];
  const owner: number[] = [];
  const weight: number[] = [];
  const tail: number[] = [];
  batch.forEach((s, b) => {
    checkTail(s, b);
    const seq = [...s.promptIds, ...s.completionIds];
    ids.set(seq, b * T);
    mask.fill(1, b * T, b * T + seq.length);
    let k = 0; // scored tokens of this sequence so far
    for (let t = Math.max(s.promptIds.length, 1); t < seq.length; t++, k++) {
      rows.push(b * T + t - 1);
      targets.push(seq[t]!);
      owner.push(b);
      const inTail = s.tail !== undefined && k >= s.tail.from;
      weight.push(inTail ? s.tail!.weight : 1);
      tail.push(inTail ? 1 : 0);
    }
  });
  return {
    B, T, ids, mask,
    rows: Int32Array.from(rows),
    targets: Int32Array.from(targets),
    owner: Int32Array.from(owner),
    weight: Float32Array.from(weight),
    tail: Uint8Array.from(tail),
  };
}

/**
 * Sums per-position log-probs (times their weights, default 1) and averages mean logits and
 * aligned log-probs (default 0) into per-sequence results; tailLogp sums the unweighted
 * log-probs of the positions flagged in `tail` (default none).
 */
export function reduceBySequence(
  B: number,
  owner: Int32Array, // (n)
  logp: ArrayLike<number>, // (n)
  meanLogit: ArrayLike<number>, // (n)
  aligned: ArrayLike<number> | null = null, // (n)
  weight: ArrayLike<number> | null = null, // (n)
  tail: ArrayLike<number> | null = null, // (n)
): SequenceLogprob[] {
  const out = Array.from({ length: B }, () => ({ logp: 0, tokens: 0, meanLogit: 0, alignedMean: 0, tailLogp: 0 }));
  for (let i = 0; i < owner.length; i++) {
    const r = out[owner[i]!]!;
    r.logp += (weight ? weight[i]! : 1) * logp[i]!;
    if (tail && tail[i]) r.tailLogp += logp[i]!;
    r.meanLogit += meanLogit[i]!;
    r.alignedMean += aligned ? aligned[i]! : 0;
    r.tokens += 1;
  }
  for (const r of out) {
    r.meanLogit = r.tokens > 0 ? r.meanLogit / r.tokens : 0;
    r.alignedMean = r.tokens > 0 ? r.alignedMean / r.tokens : 0;
  }
  return out;
}

export async function sequenceLogprobs(
  model: TransformerModel,
  batch: readonly SequencePair[],
  options: LogprobOptions = {},
): Promise<SequenceLogprob[]> {
  const e = model.engine;
  const V = model.config.vocabSize;
  const s = scoredPositions(batch);
  const n = s.rows.length;
  if (n === 0) return reduceBySequence(s.B, s.owner, [], []);
  const chunk = Math.max(1, Math.min(n, options.chunkRows ?? headChunkRows(V, n)));
  const { hidden } = model.forwardHidden({ B: s.B, T: s.T, ids: s.ids, mask: s.mask });
  const targets = e.fromArray(s.targets, [n], 'i32', 'logprobs.targets'); // (n)
  const logp = e.tensor([n], 'f32', 'logprobs.logp'); // (n)
  const logitSum = e.tensor([n], 'f32', 'logprobs.logitSum'); // (n)
  const aligned = e.tensor([n], 'f32', 'logprobs.aligned'); // (n)
  try {
    for (let row0 = 0; row0 < n; row0 += chunk) {
      const rows = Math.min(chunk, n - row0);
      const picked = model.gatherRows(hidden, s.rows.subarray(row0, row0 + rows)); // (rows, C)
      const logits = e.tensor([rows, V], 'f32', 'logprobs.logits'); // (rows, V)
      model.head(logits, picked, rows);
      logprobsForward(e, logp, null, logitSum, aligned, logits, targets, n, V, { row0, rows });
      // Recorded; the next chunk may reuse these buffers.
      e.release(picked, logits);
    }
    const lp = await e.readF32(logp);
    const sums = await e.readF32(logitSum);
    const al = await e.readF32(aligned);
    return reduceBySequence(s.B, s.owner, lp, sums.map((x) => x / V), al, s.weight, s.tail);
  } finally {
    e.release(hidden, targets, logp, logitSum, aligned);
  }
}
