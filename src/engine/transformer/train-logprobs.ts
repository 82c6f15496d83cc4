// Policy log-probs for training: the forward of logprobs.ts (TRL's Σ completion log-probs per
// sequence) that keeps what its backward needs, and that backward, which accumulates the gradient
// of any scalar of the log-probs into the LoRA adapter's gradients.
//
//   const pl = await policyLogprobs(model, adapter, batch, { dropoutSeed });
//   // pl.logps (S) on the GPU -> loss kernels (losses/step.ts) -> dlogps (S) on the GPU
//   pl.backward(dlogps);   // adapter grads += d(Σ_b dlogps[b]·logps[b]) / d(A, B); frees activations
//   pl.backward(dlogps, dtail);  // with tails: also + d(Σ_b dtail[b]·tailLogps[b])
//   pl.release();          // frees what is left (always call it, backward or not)
//
// - batch: SequencePair rows (prompt + completion, right-padded into one (B, T) batch);
//   S = batch.length. Only completion tokens count, as in TRL (see logprobs.ts).
// - logps (S): Σ over each sequence's completion tokens of log p(token), tail tokens times the
//   sequence's tail weight (LD-DPO, SequencePair.tail); counts (S) on the host: the number of
//   those tokens (unweighted); meanLogits (S): the mean over those positions of the mean logit
//   over the vocabulary (0 for none); alignedMeans (S): the mean over those positions of WPO's
//   aligned log-prob logp_t - log Σ_v p_v² (0 for none), for use_weighting's pair weights
//   exp(alignedMeans_c + alignedMeans_r) (no gradient flows through them). TRL's logits/chosen
//   over a set of sequences is Σ meanLogits_b · counts_b / Σ counts_b.
// - tailLogps (S), when a sequence of the batch has a tail (else null): Σ log p(token) over the
//   tail's tokens, unweighted. TRL's sft term reads the plain sum logps + (1 - weight)·tailLogps;
//   backward's optional dtail (S) is the gradient by tailLogps.
// - The forward records GPU work and returns without reading anything back.
// - backward(dlogps): dlogps (S) f32 on the GPU. Recomputes the LM head chunk by chunk (the
//   (n, V) logits never exist at once), runs the log-prob backward in place on each chunk, the
//   final norm and every block in reverse (backward.ts). Base weights are frozen: only the
//   adapter's grad tensors change (+=, or = with accumulateGrads: false). Call it at most once.
// - dropoutSeed: a u32 per micro-batch, e.g. from the run's seeded generator, so a resumed run
//   draws the same masks; absent or null = no dropout (evaluation). The backward regenerates the
//   forward's masks from it.
// - activationRecompute: keep only each block's input (B·T·C per block) instead of its ~16
//   activation tensors; the backward reruns each block's forward (same adapter values, same
//   dropout masks) just before its backward. Costs about one more forward; needs the adapter
//   unchanged between forward and backward (it is: the optimizer steps after the backward).
// - Per-sequence sums run on the GPU as a (1, n) · (S, n)ᵀ matmul with an ownership matrix
//   holding each position's weight in its sequence (1, or the tail weight), and its transpose
//   product in the backward, which so scales each position's dlogp by the same weight; no extra
//   kernel is needed. With tails the matrix has S more rows, the tail flags (tailLogps).

import type { Tensor } from '../gpu/tensor.js';
import { logprobsBackward, logprobsForward } from '../kernels/logprobs.js';
import { matmulBackward, matmulForward } from '../kernels/matmul.js';
import { softcapBackward, softcapForward } from '../kernels/softcap.js';
import type { LoraAdapter, LoraModule } from '../lora/adapter.js';
import { blockBackward, blocksBackward, normBackward } from './backward.js';
import { copyRegions, type RegionCopy } from './gpu-copy.js';
import { headChunkRows } from './head-chunk.js';
import { scoredPositions, type SequencePair } from './logprobs.js';
import { linear, releaseActivations, releaseBatch, releaseLayer, type LayerActivations, type TransformerModel } from './model.js';

export interface PolicyLogprobOptions {
  /** Logit rows per LM-head chunk (default: about 32 MiB of logits, at least 1). */
  chunkRows?: number;
  /** u32 seed of this micro-batch's LoRA dropout masks; absent or null = no dropout. */
  dropoutSeed?: number | null;
  /** Adapter gradients += (default true) or = (the first micro-batch of a step). */
  accumulateGrads?: boolean;
  /** Keep only block inputs and recompute each block's activations in the backward (default false). */
  activationRecompute?: boolean;
}

export interface PolicyLogprobs {
  /** Number of sequences. */
  S: number;
  /** (S) Σ completion log-probs per sequence, f32 on the GPU. */
  logps: Tensor;
  /** (S) completion tokens scored per sequence. */
  counts: Float32Array;
  /** (S) mean over scored positions of the vocabulary-mean logit, f32 on the GPU. */
  meanLogits: Tensor;
  /** (S) mean over scored positions of logp_t - log Σ_v p_v² (WPO), f32 on the GPU; 0 for none. */
  alignedMeans: Tensor;
  /** (S) Σ unweighted log-probs of each sequence's tail tokens, f32 on the GPU; null when no sequence has a tail. */
  tailLogps: Tensor | null;
  /** Accumulates d(Σ dlogps · logps + Σ dtail · tailLogps) into the adapter's gradients; frees the activations. */
  backward(dlogps: Tensor, dtail?: Tensor | null): void;
  /** Frees every tensor the forward kept (logps, meanLogits and alignedMeans included). */
  release(): void;
}

export async function policyLogprobs(
  model: TransformerModel,
  adapter: LoraAdapter,
  batch: readonly SequencePair[],
  options: PolicyLogprobOptions = {},
): Promise<PolicyLogprobs> {
  if (adapter.model !== model) throw new Error('policyLogprobs: the adapter belongs to another model');
  if (!adapter.isAttached) throw new Error('policyLogprobs: the adapter is detached from the model (attach() it)');
  if (!adapter.enabled) throw new Error('policyLogprobs: the adapter is disabled (enable it; reference log-probs come from sequenceLogprobs)');
  if (batch.length === 0) throw new Error('policyLogprobs: empty batch');
  const e = model.engine;
  const c = model.config;
  const V = c.vocabSize, C = c.hidden;
  const s = scoredPositions(batch);
  const S = s.B;
  const n = s.rows.length;
  const counts = new Float32Array(S);
  for (const b of s.owner) counts[b]! += 1;
  const chunk = Math.max(1, Math.min(Math.max(n, 1), options.chunkRows ?? headChunkRows(V, n)));
  const dropoutSeed = options.dropoutSeed ?? null;
  const accumulate = options.accumulateGrads ?? true;

  if (n === 0) {
    // Nothing is scored: zero log-probs, and a backward with nothing to add.
    const logps = e.zeros([S], 'f32', 'policy.logps');
    const meanLogits = e.zeros([S], 'f32', 'policy.meanLogits');
    const alignedMeans = e.zeros([S], 'f32', 'policy.alignedMeans');
    return {
      S, logps, counts, meanLogits, alignedMeans, tailLogps: null,
      backward: () => {
        if (!accumulate) adapter.zeroGrads();
      },
      release: () => e.release(logps, meanLogits, alignedMeans),
    };
  }

  const kept = options.activationRecompute
    ? recomputingForward(model, adapter, s.B, s.T, s.ids, s.mask, dropoutSeed)
    : keptForward(model, adapter, s.B, s.T, s.ids, s.mask, dropoutSeed);
  const hidden = kept.hidden; // (B·T, C) the last block's output
  const targets = e.fromArray(s.targets, [n], 'i32', 'policy.targets'); // (n)
  const logpPos = e.tensor([n], 'f32', 'policy.logpPos'); // (n)
  const lse = e.tensor([n], 'f32', 'policy.lse'); // (n) saved for the backward
  const logitSum = e.tensor([n], 'f32', 'policy.logitSum'); // (n)
  const alignedPos = e.tensor([n], 'f32', 'policy.alignedPos'); // (n)
  for (let row0 = 0; row0 < n; row0 += chunk) {
    const rows = Math.min(chunk, n - row0);
    const picked = model.gatherRows(hidden, s.rows.subarray(row0, row0 + rows)); // (rows, C)
    const logits = e.tensor([rows, V], 'f32', 'policy.logits'); // (rows, V)
    model.head(logits, picked, rows);
    logprobsForward(e, logpPos, lse, logitSum, alignedPos, logits, targets, n, V, { row0, rows });
    e.release(picked, logits);
  }

  // Per-sequence sums: (1, n) · (S, n)ᵀ with the ownership matrix (each position's weight in
  // its sequence: 1, or the tail weight; with tails, S more rows of tail flags), with weights
  // 1 / (V · count) for the mean logits and 1 / count for the aligned means.
  const hasTail = batch.some((x) => x.tail !== undefined);
  const R = hasTail ? 2 * S : S; // rows of the ownership matrix
  const own = new Float32Array(R * n);
  const meanW = new Float32Array(S * n);
  const alignW = new Float32Array(S * n);
  s.owner.forEach((b, i) => {
    own[b * n + i] = s.weight[i]!;
    if (hasTail) own[(S + b) * n + i] = s.tail[i]!;
    meanW[b * n + i] = 1 / (V * counts[b]!);
    alignW[b * n + i] = 1 / counts[b]!;
  });
  const owner = e.fromArray(own, [R, n], 'f32', 'policy.owner'); // (R, n)
  const meanWeights = e.fromArray(meanW, [S, n], 'f32', 'policy.meanWeights'); // (S, n)
  const alignWeights = e.fromArray(alignW, [S, n], 'f32', 'policy.alignWeights'); // (S, n)
  const logps = e.tensor([S], 'f32', 'policy.logps');
  const meanLogits = e.tensor([S], 'f32', 'policy.meanLogits');
  const alignedMeans = e.tensor([S], 'f32', 'policy.alignedMeans');
  let tailLogps: Tensor | null = null;
  if (hasTail) {
    const sums = e.tensor([R], 'f32', 'policy.logpSums'); // (2S) logps, then tailLogps
    matmulForward(e, sums, logpPos, owner, null, 1, n, R);
    tailLogps = e.tensor([S], 'f32', 'policy.tailLogps');
    copyRegions(e, [
      { dst: logps, dstOffset: 0, src: sums, srcOffset: 0, count: S },
      { dst: tailLogps, dstOffset: 0, src: sums, srcOffset: S, count: S },
    ]);
    e.release(sums);
  } else {
    matmulForward(e, logps, logpPos, owner, null, 1, n, S);
  }
  matmulForward(e, meanLogits, logitSum, meanWeights, null, 1, n, S);
  matmulForward(e, alignedMeans, alignedPos, alignWeights, null, 1, n, S);
  e.release(logpPos, logitSum, meanWeights, alignedPos, alignWeights);

  let activationsLive = true;
  let backwardDone = false;
  const releaseKept = () => {
    if (activationsLive) {
      kept.release();
      e.release(targets, lse, owner);
      activationsLive = false;
    }
  };

  const backward = (dlogps: Tensor, dtail: Tensor | null = null): void => {
    if (backwardDone) throw new Error('policyLogprobs: backward was already run for this forward');
    if (!activationsLive) throw new Error('policyLogprobs: backward after release()');
    if (dlogps.dtype !== 'f32' || dlogps.size !== S) throw new Error(`policyLogprobs: dlogps (${dlogps.label}) must be ${S} f32 values, got ${dlogps.size} ${dlogps.dtype}`);
    if (dtail && !hasTail) throw new Error('policyLogprobs: dtail given but no sequence has a tail');
    if (dtail && (dtail.dtype !== 'f32' || dtail.size !== S)) throw new Error(`policyLogprobs: dtail (${dtail.label}) must be ${S} f32 values, got ${dtail.size} ${dtail.dtype}`);
    backwardDone = true;
    // dlogp of every scored position: its sequence's dlogps times the position's weight (plus
    // its dtail where the position is in the tail).
    const dlogpPos = e.tensor([n], 'f32', 'policy.dlogpPos');
    if (hasTail) {
      const dsums = e.zeros([R], 'f32', 'policy.dlogpSums'); // (2S) dlogps, then dtail
      copyRegions(e, [
        { dst: dsums, dstOffset: 0, src: dlogps, srcOffset: 0, count: S },
        ...(dtail ? [{ dst: dsums, dstOffset: S, src: dtail, srcOffset: 0, count: S }] : []),
      ]);
      matmulBackward(e, dlogpPos, null, null, dsums, dsums, owner, 1, n, R);
      e.release(dsums);
    } else {
      matmulBackward(e, dlogpPos, null, null, dlogps, dlogps, owner, 1, n, S);
    }
    // The LM head and final norm, chunk by chunk, into the scored rows of d(hidden).
    const dres = e.zeros([s.B * s.T, C], 'f32', 'policy.dres'); // (B·T, C)
    const lnfW = model.weights.lnf;
    for (let row0 = 0; row0 < n; row0 += chunk) {
      const rows = Math.min(chunk, n - row0);
      const rowIdx = s.rows.subarray(row0, row0 + rows);
      const picked = model.gatherRows(hidden, rowIdx); // (rows, C)
      const lnf = e.tensor([rows, C], 'f32', 'policy.lnf');
      const mean = c.arch === 'gpt2' ? e.tensor([rows], 'f32', 'policy.lnfMean') : null;
      const rstd = e.tensor([rows], 'f32', 'policy.lnfRstd');
      model.norm(lnf, mean, rstd, picked, lnfW, rows);
      const logits = e.tensor([rows, V], 'f32', 'policy.logits');
      model.headLinear(logits, lnf, rows);
      // Gemma 2's final soft-cap: the log-prob backward gives d(capped logits), the cap's backward
      // (from the capped values) d(raw logits); without a cap the gradient overwrites the logits.
      const cap = c.finalSoftcap ?? 0;
      let dlogits = logits;
      if (cap > 0) {
        softcapForward(e, logits, logits, rows * V, cap);
        dlogits = e.tensor([rows, V], 'f32', 'policy.dlogits');
      }
      logprobsBackward(e, dlogits, dlogpPos, logits, targets, lse, n, V, { row0, rows });
      if (cap > 0) softcapBackward(e, dlogits, dlogits, logits, rows * V, cap);
      const dlnf = e.tensor([rows, C], 'f32', 'policy.dlnf');
      model.headBackwardInput(dlnf, dlogits, lnf, rows);
      const dpicked = e.tensor([rows, C], 'f32', 'policy.dpicked');
      normBackward(model, dpicked, dlnf, picked, lnfW, mean, rstd, rows, false);
      scatterRows(model, dres, dpicked, rowIdx);
      e.release(picked, lnf, mean, rstd, logits, dlnf, dpicked);
      if (dlogits !== logits) e.release(dlogits);
    }
    e.release(dlogpPos);
    kept.blocksBackward(dres, accumulate);
    e.release(dres);
    releaseKept();
  };

  return {
    S,
    logps,
    counts,
    meanLogits,
    alignedMeans,
    tailLogps,
    backward,
    release: () => {
      releaseKept();
      e.release(logps, meanLogits, alignedMeans, tailLogps);
    },
  };
}

/** dst rows `rows` (flat b·T + t) = src rows 0.. (runs of consecutive rows copied together). */
function scatterRows(model: TransformerModel, dst: Tensor, src: Tensor, rows: ArrayLike<number>): void {
  const C = model.config.hidden;
  const copies: RegionCopy[] = [];
  for (let i = 0; i < rows.length; ) {
    let j = i + 1;
    while (j < rows.length && rows[j] === rows[j - 1]! + 1) j++;
    copies.push({ dst, dstOffset: rows[i]! * C, src, srcOffset: i * C, count: (j - i) * C });
    i = j;
  }
  copyRegions(model.engine, copies);
}

/** A forward kept for its backward: the last block's output, and the blocks' backward. */
interface KeptForward {
  hidden: Tensor;
  /** dres: d(hidden) in, d(embeddings) out; frees the blocks' tensors as it goes. */
  blocksBackward(dres: Tensor, accumulate: boolean): void;
  /** Frees whatever is still kept. */
  release(): void;
}

/** Runs one forward with the adapter saving its xa (or not) under this micro-batch's dropout seed. */
function withAdapter<T>(adapter: LoraAdapter, saving: Map<LoraModule, Tensor> | null, dropoutSeed: number | null, f: () => T): T {
  adapter.saving = saving;
  adapter.dropoutSeed = dropoutSeed;
  try {
    return f();
  } finally {
    adapter.saving = null;
    adapter.dropoutSeed = null;
  }
}

/** Every block's activations and every LoRA module's xa kept. */
function keptForward(model: TransformerModel, adapter: LoraAdapter, B: number, T: number, ids: Int32Array, mask: Int32Array, dropoutSeed: number | null): KeptForward {
  const e = model.engine;
  const saved = new Map<LoraModule, Tensor>();
  const fwd = withAdapter(adapter, saved, dropoutSeed, () => model.forwardHidden({ B, T, ids, mask }, { keepActivations: true }));
  const acts = fwd.activations!;
  const releaseSaved = () => {
    for (const xa of saved.values()) e.release(xa);
    saved.clear();
  };
  return {
    hidden: fwd.hidden,
    blocksBackward: (dres, accumulate) => {
      blocksBackward(model, acts, dres, { adapter, saved, dropoutSeed, accumulate });
      releaseSaved();
    },
    release: () => {
      releaseActivations(e, acts);
      releaseSaved();
    },
  };
}

/** Only the block inputs kept; each block's forward runs again just before its backward. */
function recomputingForward(model: TransformerModel, adapter: LoraAdapter, B: number, T: number, ids: Int32Array, mask: Int32Array, dropoutSeed: number | null): KeptForward {
  const e = model.engine;
  const L = model.config.layers;
  const inputs = model.uploadBatch({ B, T, ids, mask });
  const xs: (Tensor | null)[] = [model.embed(inputs, B, T)]; // xs[l]: block l's input; xs[L]: the output
  withAdapter(adapter, null, dropoutSeed, () => {
    for (let l = 0; l < L; l++) {
      const a = model.block(l, xs[l]!, inputs, B, T);
      releaseLayer(e, a, true);
      xs.push(a.residual3);
    }
  });
  return {
    hidden: xs[L]!,
    blocksBackward: (dres, accumulate) => {
      for (let l = L - 1; l >= 0; l--) {
        const saved = new Map<LoraModule, Tensor>();
        const a: LayerActivations = withAdapter(adapter, saved, dropoutSeed, () => model.block(l, xs[l]!, inputs, B, T));
        blockBackward(model, l, a, xs[l]!, inputs, B, T, dres, { adapter, saved, dropoutSeed, accumulate });
        releaseLayer(e, a);
        for (const xa of saved.values()) e.release(xa);
        e.release(xs[l + 1]);
        xs[l + 1] = null;
      }
    },
    release: () => {
      e.release(...xs);
      xs.length = 0;
      releaseBatch(e, inputs);
    },
  };
}
