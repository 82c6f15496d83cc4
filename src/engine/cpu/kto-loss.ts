// CPU twin of shaders/kto_loss_{forward,backward}.wgsl: KTO (docs/preference-losses.md, TRL 1.x
// `kto_trainer.py`, loss_type "kto") over B unpaired records (prompt, completion, label), float64.
//   kl = clamp(mean(policyKL - refKL), min = 0), detached: the log-probs of completions rotated
//        by one within the batch, computed by the caller (ktoKlEstimateCpu does the mean/clamp)
//   desirable   (label 1): l = wD · (1 - σ(β·(cr - kl)))
//   undesirable (label 0): l = wU · (1 - σ(β·(kl - rr)))
//   loss = mean over all B records
// Stats hold sums and counts as TRL gathers them (rewards/chosen_sum, count/chosen, ...); the
// logged means are sum / count, rewards/margins = chosen - rejected (src/engine/losses/).

import { KTO_NSTATS, type KtoParams } from '../losses/terms.js';

export type FloatArray = Float32Array | Float64Array;
export type LabelArray = Int32Array | Uint32Array;

// The constants live in src/engine/losses/terms.ts; re-exported for older importers.

function sigmoid(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

function sigmoidGrad(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return e / ((1 + e) * (1 + e));
}

/** kl[0] = max(0, mean_i(policyKL[i] - refKL[i])) over the M rotated completions. */
export function ktoKlEstimateCpu(
  kl: FloatArray, // (1)
  policyKL: FloatArray, // (M)
  refKL: FloatArray, // (M)
  M: number,
): void {
  let s = 0;
  for (let i = 0; i < M; i++) s += policyKL[i]! - refKL[i]!;
  kl[0] = Math.max(0, s / M);
}

export function ktoLossForwardCpu(
  losses: FloatArray, // (B)
  stats: FloatArray, // (KTO_NSTATS)
  policy: FloatArray, // (B) Σ completion logp
  ref: FloatArray, // (B)
  labels: LabelArray, // (B) 1 desirable, 0 undesirable
  kl: FloatArray, // (1)
  p: KtoParams,
  B: number,
): void {
  const k = kl[0]!;
  const s = new Float64Array(KTO_NSTATS);
  for (let i = 0; i < B; i++) {
    const x = policy[i]! - ref[i]!;
    const reward = p.beta * x;
    let l: number;
    if (labels[i]) {
      // 1 - σ(β(x - kl)) written as σ(-β(x - kl)).
      l = p.desirableWeight * sigmoid(-p.beta * (x - k));
      s[2]! += reward;
      s[4]! += policy[i]!;
      s[6]! += 1;
    } else {
      l = p.undesirableWeight * sigmoid(-p.beta * (k - x));
      s[3]! += reward;
      s[5]! += policy[i]!;
      s[7]! += 1;
    }
    losses[i] = l;
    s[0]! += l;
  }
  s[0] = s[0]! / B;
  s[1] = k;
  stats.set(s);
}

/** dpolicy[i] = dloss · dL/dpolicy[i], L = mean loss; kl is detached. Assigned. */
export function ktoLossBackwardCpu(
  dpolicy: FloatArray, // (B)
  dloss: number,
  policy: FloatArray, // (B)
  ref: FloatArray, // (B)
  labels: LabelArray, // (B)
  kl: FloatArray, // (1)
  p: KtoParams,
  B: number,
): void {
  const k = kl[0]!;
  for (let i = 0; i < B; i++) {
    const x = policy[i]! - ref[i]!;
    const g = labels[i]
      ? -p.desirableWeight * p.beta * sigmoidGrad(p.beta * (x - k))
      : p.undesirableWeight * p.beta * sigmoidGrad(p.beta * (x - k));
    dpolicy[i] = (dloss * g) / B;
  }
}
