// Choosing the next token from one row of logits (V), on the CPU: the vocabularies of the models
// we tune are small enough to read back a row per step. Order as in Hugging Face's
// LogitsProcessors: temperature, then top-k, then top-p.

export interface SamplingOptions {
  /** 0 = greedy (argmax); otherwise logits are divided by it before the softmax. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). */
  topP?: number;
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
 * The candidate tokens and their probabilities after temperature, top-k and top-p, most likely
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
