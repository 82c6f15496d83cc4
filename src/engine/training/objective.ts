// One micro-batch's loss on the GPU for any method: lays out the policy log-probs of the
// micro-batch's sequences as the loss kernels want them, runs the loss step of
// src/engine/losses (forward, then the gradient by each policy log-prob sum, scaled by dloss),
// and gathers the gradient back in the sequence order of the policy batch.
//
// Sequence order of a micro-batch of B examples (microBatchSequences):
//   pair     : chosen of every example, then rejected of every example (TRL's concatenation)
//   kto      : the completion of every example (the KL completions are scored apart, no gradient)
//   listwise : example-major, responses best first: sequence b·N + k

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { KTO_NSTATS, LISTWISE_NSTATS, PAIR_NSTATS, PAIR_STATS, ktoLossStep, listwiseLossStep, methodMetrics, pairLossStep, KTO_STATS, type MethodConfig, type Metrics } from '../losses/index.js';
import { lossFamily, pairLossParams } from '../losses/methods.js';
import { copyRegions } from '../transformer/gpu-copy.js';
import type { SequencePair } from '../transformer/logprobs.js';
import type { Example, ExampleKind } from './tokenize.js';
import type { RefLogps } from './ref-cache.js';

/** The sequences the policy scores for a micro-batch, in the order above. */
export function microBatchSequences(kind: ExampleKind, examples: readonly Example[]): SequencePair[] {
  if (kind === 'pair') return [...examples.map((e) => e.sequences[0]!), ...examples.map((e) => e.sequences[1]!)];
  if (kind === 'kto') return examples.map((e) => e.sequences[0]!);
  return examples.flatMap((e) => e.sequences);
}

/** Responses per listwise example; every example of a run must have the same number. */
export function listwiseWidth(examples: readonly Example[]): number {
  const n = examples[0]?.sequences.length ?? 0;
  const other = examples.find((e) => e.sequences.length !== n);
  if (other) {
    throw new Error(`listwise training needs the same number of responses in every ranking: record ${examples[0]!.record} has ${n}, record ${other.record} has ${other.sequences.length}`);
  }
  return n;
}

export interface MicroBatchInputs {
  kind: ExampleKind;
  examples: readonly Example[];
  /** (S) policy log-prob sums in microBatchSequences order. */
  policy: Tensor;
  /** Completion token counts of the policy sequences (S). */
  tokens: ArrayLike<number>;
  /** Per example; null for reference-free methods. */
  refs: readonly RefLogps[] | null;
  /** kto: policy log-probs of each example's KL completion (no gradient). */
  policyKL?: ArrayLike<number>;
  /** Mean logits of the policy sequences (TRL's logits/* metrics), when known. */
  meanLogits?: ArrayLike<number>;
  /** Mean aligned log-prob of the policy sequences (WPO's use_weighting), when the method weights pairs. */
  alignedMeans?: ArrayLike<number>;
  /**
   * Σ unweighted log-probs of the LD-DPO tail of each policy sequence (SequencePair.tail), when
   * the sequences have tails: the sft term reads the plain chosen sums (ldSftCorrection).
   */
  tailLogps?: ArrayLike<number>;
  /** Scale of the gradient (1 / micro-batches of the step; 0 for evaluation). */
  dloss: number;
}

export interface MicroBatchLoss {
  /** (S) dloss · d(mean loss)/d(policy log-prob), in microBatchSequences order. Release it. */
  dlogps: Tensor;
  /** (S) dloss · d(mean loss)/d(tail log-prob sums) (the sft term under LD-DPO), or null. Release it. */
  dtail?: Tensor | null;
  /** The kernel's raw stats (read back). */
  stats: Float32Array;
  /** TRL's metrics of this micro-batch. */
  metrics: Metrics;
}

export async function microBatchLoss(engine: Engine, method: MethodConfig, m: MicroBatchInputs): Promise<MicroBatchLoss> {
  const e = engine;
  const B = m.examples.length;
  const f32 = (xs: ArrayLike<number>, label: string) => e.fromArray(Float32Array.from(xs), [xs.length], 'f32', label);
  const refOf = (k: number) => (m.refs ? m.refs.map((r) => r.logps[k]!) : new Array<number>(B).fill(0));
  const temps: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => {
    temps.push(t);
    return t;
  };
  try {
    if (m.kind === 'pair') {
      const params = pairLossParams(method);
      const freeOfRef = params.referenceFree;
      const weights = params.useWeighting ? wpoWeights(m.alignedMeans, B) : null;
      const pc = keep(e.tensor([B], 'f32', 'loss.policyChosen'));
      const pr = keep(e.tensor([B], 'f32', 'loss.policyRejected'));
      copyRegions(e, [
        { dst: pc, dstOffset: 0, src: m.policy, srcOffset: 0, count: B },
        { dst: pr, dstOffset: 0, src: m.policy, srcOffset: B, count: B },
      ]);
      const t = {
        policyChosen: pc,
        policyRejected: pr,
        // Plain SFT has no reference model; its loss reads the (zero) references.
        refChosen: freeOfRef ? null : keep(f32(refOf(0), 'loss.refChosen')),
        refRejected: freeOfRef ? null : keep(f32(refOf(1), 'loss.refRejected')),
        weights: weights ? keep(f32(weights, 'loss.weights')) : null,
        nChosen: keep(f32(Array.from(m.tokens).slice(0, B), 'loss.nChosen')),
        nRejected: keep(f32(Array.from(m.tokens).slice(B, 2 * B), 'loss.nRejected')),
        losses: keep(e.tensor([B], 'f32', 'loss.losses')),
        stats: keep(e.tensor([PAIR_NSTATS], 'f32', 'loss.stats')),
        dChosen: keep(e.tensor([B], 'f32', 'loss.dChosen')),
        dRejected: keep(e.tensor([B], 'f32', 'loss.dRejected')),
      };
      pairLossStep(e, method, t, B, m.dloss);
      const dlogps = e.tensor([2 * B], 'f32', 'loss.dlogps');
      copyRegions(e, [
        { dst: dlogps, dstOffset: 0, src: t.dChosen, srcOffset: 0, count: B },
        { dst: dlogps, dstOffset: B, src: t.dRejected, srcOffset: 0, count: B },
      ]);
      const stats = await e.readF32(t.stats);
      const sft = ldSftCorrection(params.weights.sft, m, weights);
      let dtail: Tensor | null = null;
      if (sft) {
        stats[PAIR_STATS.indexOf('loss')]! += sft.loss;
        stats[PAIR_STATS.indexOf('nll_loss')]! += sft.nll;
        dtail = e.fromArray(sft.dtail, [2 * B], 'f32', 'loss.dtail');
      }
      const idx = (a: number) => Array.from({ length: B }, (_, i) => a + i);
      return { dlogps, dtail, stats, metrics: methodMetrics(method, stats, pickLogits(m, idx(0), idx(B))) };
    }
    if (m.kind === 'kto') {
      if (!m.refs || !m.policyKL) throw new Error('kto needs reference log-probs and the policy log-probs of the KL completions');
      const labels = keep(e.fromArray(Int32Array.from(m.examples, (x) => (x.label ? 1 : 0)), [B], 'i32', 'loss.labels'));
      const t = {
        policyLogps: m.policy,
        refLogps: keep(f32(refOf(0), 'loss.ref')),
        labels,
        policyKL: keep(f32(m.policyKL, 'loss.policyKL')),
        refKL: keep(f32(refOf(1), 'loss.refKL')),
        kl: keep(e.tensor([1], 'f32', 'loss.kl')),
        losses: keep(e.tensor([B], 'f32', 'loss.losses')),
        stats: keep(e.tensor([KTO_NSTATS], 'f32', 'loss.stats')),
        dpolicy: e.tensor([B], 'f32', 'loss.dlogps'),
      };
      ktoLossStep(e, method, t, B, B, m.dloss);
      const stats = await e.readF32(t.stats);
      return { dlogps: t.dpolicy, stats, metrics: methodMetrics(method, stats, ktoLogits(m)) };
    }
    const N = m.examples[0]!.sequences.length;
    const refs = m.refs ? m.refs.flatMap((r) => r.logps) : new Array<number>(B * N).fill(0);
    const t = {
      policyLogps: m.policy,
      refLogps: keep(f32(refs, 'loss.ref')),
      losses: keep(e.tensor([B], 'f32', 'loss.losses')),
      lse: keep(e.tensor([B, N], 'f32', 'loss.lse')),
      stats: keep(e.tensor([LISTWISE_NSTATS], 'f32', 'loss.stats')),
      dpolicy: e.tensor([B, N], 'f32', 'loss.dlogps'),
    };
    listwiseLossStep(e, method, t, B, N, m.dloss);
    const stats = await e.readF32(t.stats);
    const first = Array.from({ length: B }, (_, b) => b * N);
    const last = Array.from({ length: B }, (_, b) => b * N + N - 1);
    return { dlogps: t.dpolicy, stats, metrics: methodMetrics(method, stats, pickLogits(m, first, last)) };
  } finally {
    e.release(...temps);
  }
}

/**
 * LD-DPO (ld_alpha) with an sft term (loss_type sft, rpo_alpha): the pair kernels read the
 * tail-weighted chosen sums, but TRL's sft term is the plain cross-entropy of every chosen
 * token, NLL = -Σ plain_c / Σ n_c with plain = logps + (1 - α)·tail. That term is linear in the
 * chosen sums with a constant gradient, so the difference is added here: w_sft · mean(WPO
 * weights) · ΔNLL to the loss, ΔNLL to nll_loss, and the gradient by the chosen tail sums,
 * -dloss · w_sft · mean(w) · (1 - α) / Σ n_c (the kernel's own sft gradient stays on logps).
 * Null when there is nothing to correct.
 */
function ldSftCorrection(wSft: number, m: MicroBatchInputs, weights: readonly number[] | null): { loss: number; nll: number; dtail: Float32Array } | null {
  const B = m.examples.length;
  const alphas = m.examples.map((x) => x.sequences[0]!.tail?.weight ?? 1);
  if (wSft === 0 || alphas.every((a) => a === 1)) return null;
  if (!m.tailLogps || m.tailLogps.length !== 2 * B) throw new Error('the sft term under ld_alpha needs the tail log-prob sums of the policy sequences');
  let n = 0;
  let missing = 0;
  for (let i = 0; i < B; i++) {
    n += m.tokens[i]!;
    missing += (1 - alphas[i]!) * m.tailLogps[i]!;
  }
  n = Math.max(n, 1);
  const meanW = weights ? weights.reduce((a, w) => a + w, 0) / B : 1;
  const nll = -missing / n;
  const dtail = new Float32Array(2 * B);
  for (let i = 0; i < B; i++) dtail[i] = (-m.dloss * wSft * meanW * (1 - alphas[i]!)) / n;
  return { loss: wSft * meanW * nll, nll, dtail };
}

/**
 * WPO's per-pair weights (TRL use_weighting), no gradient: exp(mean aligned logp of chosen) ·
 * exp(mean aligned logp of rejected), from the policy pass of the same micro-batch.
 */
function wpoWeights(alignedMeans: ArrayLike<number> | undefined, B: number): number[] {
  if (!alignedMeans || alignedMeans.length !== 2 * B) throw new Error('use_weighting needs the policy\'s aligned log-prob means of every sequence');
  return Array.from({ length: B }, (_, i) => Math.exp(alignedMeans[i]! + alignedMeans[B + i]!));
}

/** TRL's logits/chosen and logits/rejected: Σ meanLogit·tokens / Σ tokens over each group. */
function groupMean(m: MicroBatchInputs, idx: number[]): number {
  let s = 0;
  let n = 0;
  for (const i of idx) {
    s += m.meanLogits![i]! * m.tokens[i]!;
    n += m.tokens[i]!;
  }
  return n > 0 ? s / n : 0;
}

function pickLogits(m: MicroBatchInputs, chosen: number[], rejected: number[]) {
  return m.meanLogits ? { chosen: groupMean(m, chosen), rejected: groupMean(m, rejected) } : undefined;
}

function ktoLogits(m: MicroBatchInputs) {
  if (!m.meanLogits) return undefined;
  const d = m.examples.flatMap((x, i) => (x.label ? [i] : []));
  const u = m.examples.flatMap((x, i) => (x.label ? [] : [i]));
  return { chosen: d.length ? groupMean(m, d) : undefined, rejected: u.length ? groupMean(m, u) : undefined } as { chosen: number; rejected: number };
}

/**
 * The metrics of a step or an evaluation from its micro-batches, as TRL logs them: the mean over
 * micro-batches of each metric; KTO's sums and counts are added up first (TRL gathers them), its
 * loss and kl averaged.
 */
export function aggregateMetrics(method: MethodConfig, parts: readonly MicroBatchLoss[]): Metrics {
  if (parts.length === 0) return {};
  if (lossFamily(method.method) === 'kto') {
    const sum = new Float64Array(KTO_NSTATS);
    for (const p of parts) p.stats.forEach((v, i) => (sum[i] = sum[i]! + v));
    const li = KTO_STATS.indexOf('loss');
    const ki = KTO_STATS.indexOf('kl');
    sum[li] = sum[li]! / parts.length;
    sum[ki] = sum[ki]! / parts.length;
    const out = methodMetrics(method, sum);
    for (const k of ['logits/chosen', 'logits/rejected']) {
      const vals = parts.map((p) => p.metrics[k]).filter((v): v is number => v !== undefined);
      if (vals.length) out[k] = vals.reduce((a, b) => a + b, 0) / vals.length;
    }
    return out;
  }
  const out: Metrics = {};
  const counts: Record<string, number> = {};
  for (const p of parts) {
    for (const [k, v] of Object.entries(p.metrics)) {
      out[k] = (out[k] ?? 0) + v;
      counts[k] = (counts[k] ?? 0) + 1;
    }
  }
  for (const k of Object.keys(out)) out[k] = out[k]! / counts[k]!;
  return out;
}
