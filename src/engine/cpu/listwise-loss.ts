// CPU twin of shaders/listwise_loss_{forward,backward}.wgsl: Plackett-Luce over rankings of N
// responses (Preference Ranking Optimization, docs/preference-losses.md), float64. Row b of
// (B, N) lists one prompt's responses best first; r_k = β·(policy[b, k] - ref[b, k]).
//   lse[b, k] = log Σ_{j>=k} exp(r_j)                      (saved for the backward)
//   losses[b] = -Σ_k log(exp(r_k) / Σ_{j>=k} exp(r_j)) = Σ_k (lse[b, k] - r_k)
//   loss      = mean over the B lists
//   dL/dr_j   = (1/B)·(-1 + Σ_{k<=j} exp(r_j - lse_k))
// With N = 2 this is DPO's sigmoid loss. The metrics treat the top-ranked response as
// "chosen" and the bottom-ranked one as "rejected" (TRL's names, as for a pair).

import { LISTWISE_NSTATS, type ListwiseParams } from '../losses/terms.js';

export type FloatArray = Float32Array | Float64Array;

// The constants live in src/engine/losses/terms.ts; re-exported for older importers.

function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

export function listwiseLossForwardCpu(
  losses: FloatArray, // (B)
  lse: FloatArray, // (B, N) saved for the backward
  stats: FloatArray, // (LISTWISE_NSTATS)
  policy: FloatArray, // (B, N) Σ completion logp, best first
  ref: FloatArray, // (B, N)
  p: ListwiseParams,
  B: number,
  N: number,
): void {
  const s = new Float64Array(LISTWISE_NSTATS);
  for (let b = 0; b < B; b++) {
    const o = b * N;
    let acc = -Infinity;
    let l = 0;
    for (let k = N - 1; k >= 0; k--) {
      const r = p.beta * (policy[o + k]! - ref[o + k]!);
      acc = k === N - 1 ? r : logAddExp(acc, r);
      lse[o + k] = acc;
      l += acc - r;
    }
    losses[b] = l;
    const top = p.beta * (policy[o]! - ref[o]!);
    const bottom = p.beta * (policy[o + N - 1]! - ref[o + N - 1]!);
    s[0]! += l;
    s[1]! += top;
    s[2]! += bottom;
    s[3]! += top > bottom ? 1 : 0;
    s[4]! += top - bottom;
    s[5]! += policy[o]!;
    s[6]! += policy[o + N - 1]!;
  }
  for (let k = 0; k < LISTWISE_NSTATS; k++) stats[k] = s[k]! / B;
}

/** dpolicy[b, j] = dloss · dL/dpolicy[b, j] from the saved lse (assigned). */
export function listwiseLossBackwardCpu(
  dpolicy: FloatArray, // (B, N)
  dloss: number,
  policy: FloatArray, // (B, N)
  ref: FloatArray, // (B, N)
  lse: FloatArray, // (B, N)
  p: ListwiseParams,
  B: number,
  N: number,
): void {
  for (let b = 0; b < B; b++) {
    const o = b * N;
    for (let j = 0; j < N; j++) {
      const r = p.beta * (policy[o + j]! - ref[o + j]!);
      let s = 0;
      for (let k = 0; k <= j; k++) s += Math.exp(r - lse[o + k]!);
      dpolicy[o + j] = (dloss * p.beta * (s - 1)) / B;
    }
  }
}
