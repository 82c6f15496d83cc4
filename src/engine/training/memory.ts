// GPU memory of a training run, estimated before anything is allocated, and a refusal with the
// numbers when it cannot fit. WebGPU cannot tell how much memory a device has, so the budget is
// the run's memory_budget_bytes or, unset, what the adapter allows (gpu/budget.ts); what the
// adapter does tell (the largest storage binding) is checked against the largest single buffer.
//
//   weights      the model's weight buffers (model/memory.ts)
//   adapter      LoRA parameters, gradients and AdamW's two moments: 16 bytes per parameter
//   activations  what the forward keeps for the backward, per token and layer (model.ts's
//                LayerActivations marked [saved]), for S sequences of T tokens, plus the
//                backward's scratch (about one more layer's worth and the residual gradients);
//                with gradient_checkpointing, only each block's input plus one block's
//                activations rebuilt at a time
//   head         one LM-head chunk of logits and its gradient (logprobs.ts: about 32 MiB each),
//                and, when the head runs in several chunks or its table is split across buffers,
//                one more chunk's worth: the last, shorter chunk (another pool bucket) or the
//                per-part scratch
// The activations and the head are rounded up by the buffer pool's bucket step (at most 1/8 of a
// buffer, gpu/buffer-pool.ts bucketSize): the pool holds bucketed buffers, and the estimate must
// not fall below what it holds (it did by 18 MiB at Qwen2.5-0.5B's shape before it counted them).
//
// gradient_checkpointing is true, false, or null (automatic, the default): resolveTrainingMemory
// is the one place that decides it, from both estimates: off when the run fits without it, on when
// it fits only with it, and a refusal naming both when it fits neither way. Every surface (the
// Trainer, the Worker's plan, the CLI's line and training_config.json, the Train page, the TRL
// hand-off) reads the decision from the estimate it returns (`recompute`, `automatic`).

import { formatBytes } from '../model/errors.js';
import type { MemoryBudget } from '../gpu/budget.js';
import type { TransformerConfig } from '../transformer/config.js';
import { headChunkRows } from '../transformer/head-chunk.js';

export interface TrainingMemoryEstimate {
  weights: number;
  adapter: number;
  activations: number;
  head: number;
  total: number;
  /** The largest single buffer and what it is. */
  largestBuffer: { bytes: number; what: string };
  /** The micro-batch the estimate is for. */
  sequences: number;
  tokens: number;
  /** Whether activations are recomputed in the backward (gradient_checkpointing). */
  recompute: boolean;
  /** Set when gradient_checkpointing was automatic (null): the totals without and with it that decided. */
  automatic?: { without: number; with: number };
}

const F32 = 4;
/** The buffer pool rounds a buffer up by at most 1/8 (bucketSize): the bound on working buffers. */
const POOL_ROUNDING = 9 / 8;

/** Floats the forward keeps per token and layer for the backward. */
export function savedFloatsPerTokenLayer(c: TransformerConfig, loraRankSum = 0): number {
  const attn = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  // Hidden-wide tensors: residual2 and residual3; ln1 and ln2 before the branches ('pre',
  // 'sandwich'); the o_proj and down_proj outputs under post-norms ('sandwich', 'post').
  const placement = c.normPlacement ?? 'pre';
  const wide = 2 + (placement !== 'post' ? 2 : 0) + (placement !== 'pre' ? 2 : 0);
  const normCount = wide - 2; // one rstd per saved norm input
  const norms = c.arch === 'gpt2' ? 4 : normCount; // gpt2: rstd and mean of two norms
  // q/k norms keep the projections' outputs and their rstd (per head, or per token).
  const qk = (c.qkNorm ?? 'none') === 'none' ? 0 : attn + kv + (c.qkNorm === 'head' ? c.heads + c.kvHeads : 2);
  const mlp = (c.arch === 'llama' ? 3 : 2) * c.intermediate;
  // q, att; k, v; attention lse per head; the LoRA x·Aᵀ rows.
  return wide * c.hidden + 2 * attn + 2 * kv + c.heads + norms + qk + mlp + loraRankSum;
}

export function estimateTrainingMemory(
  c: TransformerConfig,
  weightBytes: number,
  loraParameters: number,
  /** Sequences in one micro-batch (a pair counts 2) and tokens of the longest. */
  sequences: number,
  tokens: number,
  loraRankSum = 0,
  /** gradient_checkpointing: the forward keeps only each block's input (train-logprobs.ts's activationRecompute). */
  recompute = false,
  /** Buffers the LM-head table is split across (model.ts splitTable). */
  headParts = 1,
): TrainingMemoryEstimate {
  const perTokenLayer = savedFloatsPerTokenLayer(c, loraRankSum);
  const N = sequences * tokens;
  // Kept: every block's activations, or (recomputing) every block's input and the last output,
  // with one block's activations rebuilt at a time in the backward.
  const saved = N * (recompute ? (c.layers + 1) * c.hidden + perTokenLayer : c.layers * perTokenLayer + c.hidden) * F32;
  const scratch = N * (perTokenLayer + 3 * c.hidden) * F32;
  const activations = Math.ceil((saved + scratch) * POOL_ROUNDING);
  const headRows = headChunkRows(c.vocabSize, N);
  const headChunks = 2 + (N > headRows || headParts > 1 ? 1 : 0);
  const head = Math.ceil(headChunks * headRows * c.vocabSize * F32 * POOL_ROUNDING);
  const adapter = 16 * loraParameters;
  const widest = Math.max(c.hidden, c.intermediate, c.heads * c.headDim);
  const candidates: [number, string][] = [
    [N * widest * F32, `one (${sequences} × ${tokens} × ${widest}) activation`],
    [headRows * c.vocabSize * F32, `one LM-head chunk (${headRows} × ${c.vocabSize})`],
  ];
  const largest = candidates.reduce((a, b) => (b[0] > a[0] ? b : a));
  return {
    weights: weightBytes,
    adapter,
    activations,
    head,
    total: weightBytes + adapter + activations + head,
    largestBuffer: { bytes: largest[0], what: largest[1] },
    sequences,
    tokens,
    recompute,
  };
}

export class TrainingMemoryError extends Error {
  override name = 'TrainingMemoryError';
  constructor(
    message: string,
    readonly estimate: TrainingMemoryEstimate,
  ) {
    super(message);
  }
}

const LOWER_BATCH = 'lower per_device_train_batch_size (use gradient_accumulation_steps for the same effective batch)';

/** "the budget of 4.00 GiB (its source)". */
function budgetText(budget: number | MemoryBudget): { bytes: number; text: string } {
  const bytes = typeof budget === 'number' ? budget : budget.bytes;
  return { bytes, text: `the budget of ${formatBytes(bytes)}${typeof budget === 'number' ? '' : ` (${budget.source})`}` };
}

/** What does not fit, with the numbers; null when the run fits. */
function fitProblem(e: TrainingMemoryEstimate, budget: number | MemoryBudget, maxBindingBytes: number, maxWorkgroups: number): { kind: 'workgroups' | 'budget' | 'binding'; message: string } | null {
  const b = budgetText(budget);
  if (e.sequences > maxWorkgroups) {
    return { kind: 'workgroups', message: `a micro-batch of ${e.sequences} sequences is more than this GPU runs at once (${maxWorkgroups} workgroups per dimension): ${LOWER_BATCH}` };
  }
  if (e.total > b.bytes) {
    const advice = `${e.recompute ? '' : 'turn on gradient_checkpointing, '}${LOWER_BATCH} or max_length`;
    return { kind: 'budget', message: `this run needs about ${formatBytes(e.total)} of GPU memory (${memoryParts(e)}), more than ${b.text}: ${advice}` };
  }
  if (e.largestBuffer.bytes > maxBindingBytes) {
    // One activation or one LM-head chunk: gradient checkpointing does not make it smaller.
    return {
      kind: 'binding',
      message: `${e.largestBuffer.what} takes ${formatBytes(e.largestBuffer.bytes)}, more than this adapter's largest storage binding (${formatBytes(maxBindingBytes)}): ${LOWER_BATCH} or max_length`,
    };
  }
  return null;
}

function memoryParts(e: TrainingMemoryEstimate): string {
  return (
    `weights ${formatBytes(e.weights)} + LoRA and AdamW state ${formatBytes(e.adapter)} + activations ${formatBytes(e.activations)} ` +
    `for ${e.sequences} sequences of ${e.tokens} tokens + LM head ${formatBytes(e.head)}`
  );
}

/**
 * Throws TrainingMemoryError with the numbers when the run cannot fit: the budget, the largest
 * binding, and (when given) the device's workgroups per dimension, which bound the sequences of
 * one micro-batch (kernels launch one workgroup row per sequence).
 */
export function assertTrainingFits(e: TrainingMemoryEstimate, budget: number | MemoryBudget, maxBindingBytes: number, maxWorkgroups = Infinity): void {
  const problem = fitProblem(e, budget, maxBindingBytes, maxWorkgroups);
  if (problem) throw new TrainingMemoryError(problem.message, e);
}

/**
 * The run's memory with gradient_checkpointing decided: the one place its automatic value (null)
 * is resolved. true or false: that estimate, checked as assertTrainingFits checks it. null: off
 * when the run fits without it; on when it fits only with it; otherwise a TrainingMemoryError
 * naming both totals (with the estimate with it). `estimate` gives the estimate for a choice
 * (estimateTrainingMemory with the run's shapes). The result's `recompute` is the effective value;
 * `automatic` holds both totals when it was chosen here.
 */
export function resolveTrainingMemory(
  gradientCheckpointing: boolean | null,
  estimate: (recompute: boolean) => TrainingMemoryEstimate,
  budget: number | MemoryBudget,
  maxBindingBytes: number,
  maxWorkgroups = Infinity,
): TrainingMemoryEstimate {
  if (gradientCheckpointing !== null) {
    const e = estimate(gradientCheckpointing);
    assertTrainingFits(e, budget, maxBindingBytes, maxWorkgroups);
    return e;
  }
  const [offEstimate, onEstimate] = [estimate(false), estimate(true)];
  const automatic = { without: offEstimate.total, with: onEstimate.total };
  const off = { ...offEstimate, automatic };
  if (!fitProblem(off, budget, maxBindingBytes, maxWorkgroups)) return off;
  const on = { ...onEstimate, automatic };
  const problem = fitProblem(on, budget, maxBindingBytes, maxWorkgroups);
  if (!problem) return on;
  if (problem.kind !== 'budget') throw new TrainingMemoryError(problem.message, on);
  throw new TrainingMemoryError(
    `this run needs about ${formatBytes(off.total)} of GPU memory without gradient checkpointing and about ${formatBytes(on.total)} with it (${memoryParts(on)}), ` +
      `both more than ${budgetText(budget).text}: ${LOWER_BATCH} or max_length`,
    on,
  );
}

/** gradient_checkpointing as the estimate has it, in words (the CLI's line, the Train page's plan). */
export function checkpointingNote(e: TrainingMemoryEstimate): string {
  const state = `gradient checkpointing: ${e.recompute ? 'on' : 'off'}`;
  const a = e.automatic;
  if (!a) return state;
  return e.recompute
    ? `${state} (automatic: the run does not fit without it, about ${formatBytes(a.without)})`
    : `${state} (automatic: the run fits without it; about ${formatBytes(a.with)} with it)`;
}

/**
 * A run's configuration as it ran: gradient_checkpointing as its estimate decided it (what the
 * CLI writes to training_config.json and the TRL hand-off passes on: TRL's field is a boolean).
 * Without an estimate (a run that never started) the configuration is returned as it is.
 */
export function configAsRun<C extends { gradient_checkpointing: boolean | null }>(config: C, e: TrainingMemoryEstimate | undefined): C {
  return e ? { ...config, gradient_checkpointing: e.recompute } : config;
}
