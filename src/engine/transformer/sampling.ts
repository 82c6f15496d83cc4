// Choosing the next token from one row of logits (V), on the CPU: the vocabularies of the models
// we tune are small enough to read back a row per step. Order as in Hugging Face's
// LogitsProcessors: repetition penalty (on the raw logits, every token of the prompt and of the
// completion so far), then temperature, top-k, top-p and min-p.

export interface SamplingOptions {
  /** 0 = greedy (argmax); otherwise logits are divided by it before the softmax. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** Keep tokens at least minP times as likely as the most likely one (0 = off; HF's min_p). */
  minP?: number;
  /**
   * HF's repetition_penalty (CTRL): the logit of every token already in the sequence is divided
   * by it when positive, multiplied when negative (1 = off). Applied by applyRepetitionPenalty.
   */
  repetitionPenalty?: number;
}

/**
 * HF's RepetitionPenaltyLogitsProcessor on one row of logits, in place: each distinct id of
 * `seen` (the prompt and the tokens generated so far) has its logit divided by `penalty` when
 * positive, multiplied when negative.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    const x = logits[id];
    if (x === undefined) continue;
    logits[id] = x < 0 ? x * penalty : x / penalty;
  }
}

/** Mulberry32: a small seeded generator, so sampling runs are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest logit; the first one on ties (like torch.argmax). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/**
 * The candidate tokens and their probabilities after temperature, top-k, top-p and min-p, most likely
 * first, probabilities renormalized to sum to 1. Exposed for tests and for showing alternatives.
 */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions = {}): { ids: number[]; probs: number[] } {
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`sampling: temperature ${temperature} must be > 0 (0 means greedy: use sampleToken)`);
  const V = logits.length;
  const ids = Array.from({ length: V }, (_, i) => i);
  // Most likely first; ties keep the lower id first, so top-k is deterministic.
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  const k = options.topK && options.topK > 0 ? Math.min(options.topK, V) : V;
  const kept = ids.slice(0, k);
  const max = logits[kept[0]!]! / temperature;
  let probs = kept.map((i) => Math.exp(logits[i]! / temperature - max));
  let sum = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / sum);
  const topP = options.topP ?? 1;
  if (topP < 1) {
    // Keep tokens until the cumulative probability reaches topP (the token crossing it stays).
    let cum = 0;
    let n = 0;
    while (n < probs.length && cum < topP) cum += probs[n++]!;
    kept.length = Math.max(n, 1);
    probs.length = kept.length;
    sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
  }
  const minP = options.minP ?? 0;
  if (minP > 0) {
    // Ratios to the most likely token do not change with renormalisation: threshold on them.
    const floor = minP * probs[0]!;
    let n = 1;
    while (n < probs.length && probs[n]! >= floor) n++;
    kept.length = n;
    probs.length = n;
    sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
  }
  return { ids: kept, probs };
}

/** The next token: argmax at temperature 0, else a draw from samplingDistribution. */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, random: () => number): number {
  if ((options.temperature ?? 1) === 0) return argmax(logits);
  const { ids, probs } = samplingDistribution(logits, options);
  let u = random();
  for (let i = 0; i < ids.length; i++) {
    u -= probs[i]!;
    if (u < 0) return ids[i]!;
  }
  return ids[ids.length - 1]!; // rounding left a sliver of probability
}
