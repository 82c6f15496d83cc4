// The training benchmark's core, the same in the page and in Node: DPO steps with LoRA on a model,
// reference log-probs cached before timing (as the Trainer does once per run), against a forward
// pass with the adapter over the same tokens; per-phase times of one step; peak GPU memory of a
// step beside the theoretical minimum. Nothing here touches the DOM or Node APIs.
import type { Engine } from '../src/engine/gpu/engine.js';
import { LoraAdapter } from '../src/engine/lora/adapter.js';
import { loraAdapterConfig, loraBackend } from '../src/engine/training/backend.js';
import { parseTrainingConfig } from '../src/engine/training/config.js';
import { savedFloatsPerTokenLayer } from '../src/engine/training/memory.js';
import { MemoryRefCache } from '../src/engine/training/ref-cache.js';
import type { Example } from '../src/engine/training/tokenize.js';
import { Trainer, type PolicyPass, type TrainingBackend } from '../src/engine/training/trainer.js';
import type { TransformerModel } from '../src/engine/transformer/model.js';
import { measure, type AdapterInfo, type TimingOptions } from './core.js';
import { batchIds, type ForwardReport } from './forward-core.js';

/** B preference pairs (2·B sequences) of T tokens each: a quarter prompt, the rest completion. */
export interface TrainShape {
  B: number;
  T: number;
}

export interface TrainSettings {
  loraR: number;
  targets: 'all-linear' | string[];
  /** gradient_checkpointing: keep block inputs only, recompute in the backward. */
  gradientCheckpointing?: boolean;
}

export const DEFAULT_TRAIN_SETTINGS: TrainSettings = { loraR: 8, targets: 'all-linear' };

export interface PhaseTimes {
  /** Policy forward keeping activations, to its log-probs on the host side of the loss. */
  policyForwardMs: number;
  /** DPO loss and its gradient by the log-probs (reads the metrics back). */
  lossMs: number;
  /** Model backward: LoRA gradients. */
  backwardMs: number;
  /** Gradient norm, clipping, AdamW. */
  optimizerMs: number;
  totalMs: number;
}

export interface MemoryFigures {
  /** Peak pool bytes during one step (pool trimmed and peak reset before it). */
  peakBytes: number;
  /** weights + adapter (values, gradients, two AdamW moments) + saved activations. */
  minimumBytes: number;
  parts: { weights: number; adapter: number; activations: number };
  /** The Trainer's own estimate before a run (memory.ts), for comparison. */
  estimateBytes: number;
  ratio: number;
}

export type TrainResult =
  | {
      status: 'ok';
      tokens: number;
      stepMs: number;
      forwardMs: number;
      tokensPerSec: number;
      /** Step time / forward time over the same tokens (goal ≤ 3.5). */
      stepOverForward: number;
      stepSamplesMs: number[];
      forwardSamplesMs: number[];
      phases: PhaseTimes;
      memory: MemoryFigures;
      loraParameters: number;
    }
  | { status: 'error'; message: string };

export interface TrainShapeResult extends TrainShape {
  result: TrainResult;
}

/** What the suite returns, in the page and in Node alike. */
export interface TrainReport {
  adapter: AdapterInfo;
  model: ForwardReport['model'];
  settings: TrainSettings;
  results: TrainShapeResult[];
}

/** The synthetic run: fixed-length pairs, so every sequence has exactly T tokens (no padding). */
function examples({ B, T }: TrainShape, V: number): Example[] {
  const P = Math.max(1, Math.floor(T / 4));
  const ids = Array.from(batchIds({ B: 2 * B + 1, T }, V));
  const out: Example[] = [];
  for (let i = 0; i < B; i++) {
    const prompt = ids.slice(2 * i * T, 2 * i * T + P);
    const chosen = ids.slice(2 * i * T + P, 2 * i * T + T);
    const rejected = ids.slice((2 * i + 1) * T + P, (2 * i + 1) * T + T);
    out.push({ record: i, split: 'train', kind: 'pair', sequences: [{ promptIds: prompt, completionIds: chosen }, { promptIds: prompt, completionIds: rejected }] });
  }
  return out;
}

/** Wraps a backend to time the phases of a step; `on` switches the (synchronising) timing on. */
type PhaseMarks = Partial<PhaseTimes> & { backwardStart?: number };

function timedBackend(inner: TrainingBackend, phases: PhaseMarks, on: { value: boolean }): TrainingBackend {
  const e = inner.engine;
  return {
    engine: e,
    modelConfig: inner.modelConfig,
    weightBytes: inner.weightBytes,
    params: () => inner.params(),
    score: (batch, o) => inner.score(batch, o),
    async policy(batch, o): Promise<PolicyPass> {
      if (!on.value) return inner.policy(batch, o);
      await e.sync();
      const t0 = performance.now();
      const pass = await inner.policy(batch, o);
      await e.sync();
      const t1 = performance.now();
      phases.policyForwardMs = t1 - t0;
      return {
        ...pass,
        backward(d, dtail) {
          phases.lossMs = performance.now() - t1;
          const t2 = performance.now();
          pass.backward(d, dtail);
          e.submit();
          // The queue completes in order: this resolves when the backward's work is done.
          void e.device.queue.onSubmittedWorkDone().then(() => (phases.backwardMs = performance.now() - t2));
          phases.backwardStart = t2;
        },
      };
    },
  };
}

export async function benchTrainShape(engine: Engine, model: TransformerModel, shape: TrainShape, settings: TrainSettings, o: TimingOptions): Promise<TrainResult> {
  const config = parseTrainingConfig({
    method: 'dpo',
    learning_rate: 1e-4,
    max_steps: 1_000_000,
    per_device_train_batch_size: shape.B,
    per_device_eval_batch_size: shape.B,
    seed: 1,
    lora: { r: settings.loraR, lora_alpha: settings.loraR, target_modules: settings.targets },
    gradient_checkpointing: settings.gradientCheckpointing ?? false,
  });
  // Weights were uploaded by the caller; what the pool holds now is theirs.
  engine.pool.trim();
  const weights = engine.pool.stats.bytesAllocated;
  const adapter = LoraAdapter.create(model, loraAdapterConfig(config.lora, config.seed));
  const phases: PhaseMarks = {};
  const timing = { value: false };
  const backend = timedBackend(loraBackend(model, adapter, weights), phases, timing);
  const ex = examples(shape, model.config.vocabSize);
  let trainer: Trainer | null = null;
  try {
    trainer = await Trainer.create({ backend, config, examples: ex, modelFingerprint: 'bench', refCache: new MemoryRefCache(), precomputeReferences: true });
    const t = trainer;
    const seqs = ex.flatMap((e) => e.sequences);
    const tokens = seqs.length * shape.T;
    const stepT = await measure(() => t.step(), () => engine.sync(), { ...o, iters: o.iters ?? 1 });
    const fwdT = await measure(() => backend.score(seqs, { adapter: true }), () => engine.sync(), { ...o, iters: o.iters ?? 1 });

    // One more step with a sync between phases, from a trimmed pool with its peak reset.
    await engine.sync();
    engine.pool.trim();
    engine.pool.stats.peakBytesAllocated = engine.pool.stats.bytesAllocated;
    timing.value = true;
    const t0 = performance.now();
    await t.step();
    await engine.sync();
    const total = performance.now() - t0;
    timing.value = false;
    const peakBytes = engine.pool.stats.peakBytesAllocated;
    const afterBackward = (phases.backwardStart ?? t0) + (phases.backwardMs ?? 0);
    const p: PhaseTimes = {
      policyForwardMs: phases.policyForwardMs ?? NaN,
      lossMs: phases.lossMs ?? NaN,
      backwardMs: phases.backwardMs ?? NaN,
      optimizerMs: t0 + total - afterBackward,
      totalMs: total,
    };

    const c = model.config;
    const params = backend.params();
    const loraParameters = params.reduce((a, q) => a + q.value.size, 0);
    const rankSum = params.filter((q) => /lora_A/.test(q.name)).reduce((a, q) => a + (q.shape[0] ?? 0), 0) / c.layers;
    // Minimum: what the backward must keep, per token and layer (the forward's saved activations
    // and the LoRA x·Aᵀ rows), plus the final norm's input; nothing for scratch or the LM head.
    // With gradient checkpointing: every block's input, the last output and one block rebuilt at a time.
    const perLayer = savedFloatsPerTokenLayer(c, rankSum);
    const activations = tokens * (settings.gradientCheckpointing ? (c.layers + 1) * c.hidden + perLayer : c.layers * perLayer + c.hidden) * 4;
    const parts = { weights, adapter: 16 * loraParameters, activations };
    const minimumBytes = parts.weights + parts.adapter + parts.activations;
    return {
      status: 'ok',
      tokens,
      stepMs: stepT.msPerIter,
      forwardMs: fwdT.msPerIter,
      tokensPerSec: tokens / (stepT.msPerIter / 1000),
      stepOverForward: stepT.msPerIter / fwdT.msPerIter,
      stepSamplesMs: stepT.samplesMs,
      forwardSamplesMs: fwdT.samplesMs,
      phases: p,
      memory: { peakBytes, minimumBytes, parts, estimateBytes: t.memory.total, ratio: peakBytes / minimumBytes },
      loraParameters,
    };
  } finally {
    trainer?.destroy();
    adapter.destroy();
  }
}

export function trainError(e: unknown): TrainResult {
  return { status: 'error', message: e instanceof Error ? e.message : String(e) };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** One progress line per shape. */
export function describeTrain({ B, T }: TrainShape, r: TrainResult): string {
  if (r.status !== 'ok') return `${B}x${T} train: ERROR ${r.message}`;
  const p = r.phases;
  return (
    `${B}x${T} train: ${r.tokensPerSec.toFixed(1)} tokens/s, step ${r.stepMs.toFixed(0)} ms, forward ${r.forwardMs.toFixed(0)} ms, ` +
    `step/forward ${r.stepOverForward.toFixed(2)}x; phases: policy fwd ${p.policyForwardMs.toFixed(0)}, loss ${p.lossMs.toFixed(0)}, ` +
    `backward ${p.backwardMs.toFixed(0)}, optimizer ${p.optimizerMs.toFixed(0)} ms; peak ${mib(r.memory.peakBytes)} vs minimum ` +
    `${mib(r.memory.minimumBytes)} (${r.memory.ratio.toFixed(2)}x)`
  );
}
