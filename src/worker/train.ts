// Training runs in the engine Worker: reads a run's row and its dataset from the workspace
// database (src/db works in Workers), loads the run's model if another is active, and steps the
// engine's Trainer, one GPU-lock turn per optimizer step (generation interleaves between steps).
// A checkpoint (Trainer.checkpoint() bytes) goes to IndexedDB with the run's metrics so far every
// save_steps and when the run stops; a resume starts from it and continues bit for bit. Reference
// log-probs are cached in IndexedDB by fingerprint. The LoRA adapter is plugged into the model
// only while a step (or a sample that asked for this run's adapter) holds the GPU.
//
// Everything the module needs of its surroundings comes through TrainHost, so Node tests run it
// in-process on Dawn with fake-indexeddb.
import type { PrefRecord } from '../data/records.js';
import { iterateRecords, latestCheckpoint, requireRun, saveCheckpoint, updateRun, dbRefCache, getRun, type PrefDb, type RunRow, type RunStatus } from '../db/index.js';
import { memoryBudget } from '../engine/gpu/budget.js';
import type { Engine } from '../engine/gpu/engine.js';
import { LoraAdapter, LoraRankError, loraScale, planLora } from '../engine/lora/adapter.js';
import { referenceFromAdapter, type ReferenceBlocks } from '../engine/training/reference.js';
import { loraAdapterConfig, loraBackend } from '../engine/training/backend.js';
import { exampleShape, parseTrainingConfig, type TrainingConfig } from '../engine/training/config.js';
import { noDataMessage, prepareRun, recordPlace, type PreparedRun } from '../engine/training/prepare.js';
import { estimateTrainingMemory, resolveTrainingMemory, TrainingMemoryError, type TrainingMemoryEstimate } from '../engine/training/memory.js';
import { sha256Hex } from '../engine/training/ref-cache.js';
import { totalSteps } from '../engine/training/schedule.js';
import type { TrainingTokenizer } from '../engine/training/tokenize.js';
import { Trainer, decodeCheckpoint, encodeCheckpoint, type TrainerCheckpoint } from '../engine/training/trainer.js';
import type { TransformerModel } from '../engine/transformer/model.js';
import { WorkerTaskError, settle } from './errors.js';
import type { AdapterResolver } from './generate.js';
import type { PlanRequest, RunOutcome, RunPlan, TrainEvent, TrainWorkerApi } from './train-protocol.js';

/** A model on the GPU, ready to train. */
export interface TrainModel {
  id: string;
  name: string;
  model: TransformerModel;
  tokenizer: TrainingTokenizer | null;
  /** GPU bytes of its weights. */
  weightBytes: number;
  /** Identifies the base weights (reference cache, checkpoints). */
  fingerprint: string;
}

export interface TrainHost {
  workspace(): Promise<PrefDb>;
  /** Runs a GPU job once every job queued before it is done (engine.ts withGpu). */
  withGpu<T>(job: (engine: Engine) => Promise<T>): Promise<T>;
  /** Model `id` on the GPU (loaded first when another one, or none, is active). */
  model(id: string): Promise<TrainModel>;
  /**
   * Chooses the kernel variants for a run's step (its rows, its adapter's rank) before it trains,
   * from the tuning cache or measured (worker/tuning.ts tuneForTraining); absent: none chosen.
   */
  tuneKernels?(model: TransformerModel, config: TrainingConfig, log: (line: string) => void): Promise<void>;
}

/** A model's fingerprint from what identifies its stored files (id, date, file sizes). */
export function manifestFingerprint(m: { id: string; addedAt: string; files: { path: string; size: number }[] }): Promise<string> {
  return sha256Hex(JSON.stringify([m.id, m.addedAt, m.files.map((f) => [f.path, f.size])]));
}

const MAX_SKIPPED_SHOWN = 5;

async function readDataset(db: PrefDb, datasetId: string): Promise<PrefRecord[]> {
  const out: PrefRecord[] = [];
  for await (const page of iterateRecords(db, datasetId)) for (const r of page) out.push(r);
  return out;
}

/** The run preparation every surface shares (engine/training/prepare.ts), for the run's model. */
function prepare(records: readonly PrefRecord[], m: TrainModel, config: TrainingConfig): PreparedRun {
  if (!m.tokenizer) throw new WorkerTaskError('no-tokenizer', `${m.name} has no tokenizer.json, so the data cannot be tokenized`);
  return prepareRun(records, m.tokenizer, m.model.config, config);
}

/** The first few records left out, where they are and why (the plan shows them). */
function skippedLines(records: readonly PrefRecord[], run: PreparedRun): string[] {
  return run.skipped.slice(0, MAX_SKIPPED_SHOWN).map((s) => `${recordPlace(records, s.record)}: ${s.reason}`);
}

interface Current {
  runId: string;
  stop: 'pause' | 'stop' | null;
  lost: string | null;
  model: TransformerModel | null;
  adapter: LoraAdapter | null;
}

export interface TrainModule {
  api: TrainWorkerApi;
  /** Plugs trained adapters into generation (generate.ts setAdapterResolver). */
  resolveAdapter: AdapterResolver;
  /** Why the active model must stay on the GPU (a run is training on it), or null. */
  modelInUse(): string | null;
}

export function createTrainModule(host: TrainHost): TrainModule {
  let current: Current | null = null;

  async function plan(request: PlanRequest): Promise<RunPlan> {
    const config = parseTrainingConfig(request.config);
    const db = await host.workspace();
    const m = await host.model(request.modelId);
    const records = await readDataset(db, request.datasetId);
    const data = prepare(records, m, config);
    const noData = noDataMessage(config, data);
    // The same figures the Trainer checks (trainer.ts), from the adapter's plan: nothing allocated.
    let refusal = noData;
    let lora = { count: 0, rankSum: 0 };
    try {
      const plan = planLora(m.model, loraAdapterConfig(config.lora, config.seed));
      lora = { count: plan.parameterCount, rankSum: plan.rankSumPerLayer };
    } catch (e) {
      if (!(e instanceof LoraRankError)) throw e;
      refusal ??= e.message;
    }
    const report = await host.withGpu(async (engine) => engine.report);
    const limits = report.limits;
    const budget = memoryBudget(report, config.memory_budget_bytes);
    const shape = exampleShape(config);
    // Loops, not Math.max(...): a spread over every example overflows the call stack.
    let perExample = shape === 'pair' ? 2 : 1;
    let longest = 1;
    for (const e of data.examples) {
      if (shape !== 'pair' && shape !== 'kto') perExample = Math.max(perExample, e.sequences.length);
      for (const s of e.sequences) longest = Math.max(longest, s.promptIds.length + s.completionIds.length);
    }
    // gradient_checkpointing as the Trainer will decide it (automatic: on only when the run fits only with it).
    let memory: TrainingMemoryEstimate;
    try {
      memory = resolveTrainingMemory(
        config.gradient_checkpointing,
        (recompute) => estimateTrainingMemory(m.model.config, m.weightBytes, lora.count, perExample * config.per_device_train_batch_size, longest, lora.rankSum, recompute, m.model.headPartCount),
        budget,
        limits.maxStorageBufferBindingSize,
        limits.maxComputeWorkgroupsPerDimension,
      );
    } catch (e) {
      if (!(e instanceof TrainingMemoryError)) throw e;
      memory = e.estimate;
      refusal ??= e.message;
    }
    return {
      examples: data.counts,
      skipped: skippedLines(records, data),
      warnings: data.warnings,
      totalSteps: data.counts.train > 0 ? totalSteps(config, data.counts.train) : 0,
      loraParameters: lora.count,
      memory,
      budgetBytes: budget.bytes,
      budgetSource: budget.source,
      refusal,
    };
  }

  async function initialAdapter(db: PrefDb, run: RunRow): Promise<Record<string, Float32Array> | null> {
    if (!run.initFromRunId) return null;
    const from = await getRun(db, run.initFromRunId);
    const ck = from && (await latestCheckpoint(db, from.id));
    if (!from || !ck) throw new WorkerTaskError('no-adapter', `the run this one continues from (${run.initFromRunId}) has no saved adapter any more`);
    if (from.modelId !== run.modelId) throw new WorkerTaskError('adapter-model-mismatch', `"${from.name}" was trained on ${from.modelName}, this run uses ${run.modelName}`);
    return decodeCheckpoint(ck.bytes).adapter;
  }

  /** The reference of a run whose reference is another run's final adapter (iterative DPO). */
  async function referenceOf(db: PrefDb, run: RunRow): Promise<ReferenceBlocks | null> {
    if (!run.referenceRunId) return null;
    const from = await getRun(db, run.referenceRunId);
    const ck = from && (await latestCheckpoint(db, from.id));
    if (!from || !ck) throw new WorkerTaskError('no-adapter', `the run whose adapter is this run's reference (${run.referenceRunId}) has no saved adapter any more`);
    if (from.modelId !== run.modelId) throw new WorkerTaskError('adapter-model-mismatch', `"${from.name}" was trained on ${from.modelName}, this run uses ${run.modelName}`);
    const l = from.config.lora;
    return referenceFromAdapter(new Map(Object.entries(decodeCheckpoint(ck.bytes).adapter)), l.r, loraScale({ r: l.r, alpha: l.lora_alpha, useRslora: l.use_rslora }));
  }

  async function train(runId: string, emit: (e: TrainEvent) => void): Promise<RunOutcome> {
    if (current) throw new WorkerTaskError('busy', `another run is training (${current.runId}): pause or stop it first`);
    const ctx: Current = { runId, stop: null, lost: null, model: null, adapter: null };
    current = ctx;
    const db = await host.workspace();
    let run: RunRow;
    try {
      run = await requireRun(db, runId);
    } catch (e) {
      current = null;
      throw e;
    }
    if (!['queued', 'paused', 'interrupted'].includes(run.status)) {
      current = null;
      throw new WorkerTaskError('not-resumable', `run "${run.name}" is ${run.status}: only queued, paused or interrupted runs can train`);
    }
    const config = run.config;
    let step = run.step;
    let totalSteps = run.totalSteps;
    const status = async (s: RunStatus, error?: string) => {
      await updateRun(db, runId, { status: s, error, totalSteps });
      emit({ type: 'status', runId, status: s, step, totalSteps, ...(error ? { error } : {}) });
    };
    await status('running');
    let trainer: Trainer | null = null;
    let lostWatch: Promise<void> = new Promise(() => {});
    try {
      const m = await host.model(run.modelId);
      ctx.model = m.model;
      lostWatch = m.model.engine.device.lost.then((info) => {
        ctx.lost = `the GPU device was lost (${info.reason || 'unknown'}${info.message ? `: ${info.message}` : ''})`;
        ctx.stop ??= 'pause';
      });
      const data = prepare(await readDataset(db, run.datasetId), m, config);
      const noData = noDataMessage(config, data);
      if (noData) throw new WorkerTaskError('no-data', noData);
      for (const w of data.warnings) emit({ type: 'progress', runId, message: `warning: ${w}` });
      await host.tuneKernels?.(m.model, config, (message) => emit({ type: 'progress', runId, message }));
      const ck = await latestCheckpoint(db, runId);
      const resume: TrainerCheckpoint | null = ck ? decodeCheckpoint(ck.bytes) : null;
      const init = resume ? null : await initialAdapter(db, run);
      // A resumed run takes the reference saved in its checkpoint (Trainer.resume).
      const reference = resume ? null : await referenceOf(db, run);
      const refCache = dbRefCache(db);
      trainer = await host.withGpu(async () => {
        const adapter = LoraAdapter.create(m.model, loraAdapterConfig(config.lora, config.seed));
        ctx.adapter = adapter;
        try {
          if (init) adapter.load(init);
          const options = {
            backend: loraBackend(m.model, adapter, m.weightBytes, reference),
            config,
            examples: data.examples,
            modelFingerprint: m.fingerprint,
            refCache,
            onProgress: (message: string) => emit({ type: 'progress', runId, message }),
          };
          return resume ? await Trainer.resume(options, resume) : await Trainer.create(options);
        } finally {
          adapter.detach();
        }
      });
      totalSteps = trainer.totalSteps;
      step = trainer.stepCount;
      const t = trainer;
      const adapter = ctx.adapter!;
      await updateRun(db, runId, { totalSteps, examples: { train: t.train.length, test: t.test.length, skipped: data.counts.skipped }, memory: t.memory });
      if (resume) emit({ type: 'progress', runId, message: `resumed from the checkpoint at step ${resume.step}` });
      emit({ type: 'status', runId, status: 'running', step, totalSteps });
      let saved = resume ? resume.step : -1;
      const checkpoint = async (s: RunStatus) => {
        const c = await host.withGpu(() => t.checkpoint());
        await saveCheckpoint(db, runId, c.step, encodeCheckpoint(c), { metrics: c.history, status: s, totalSteps, error: undefined });
        saved = c.step;
        emit({ type: 'checkpoint', runId, step: c.step });
      };
      while (!t.done && !ctx.stop) {
        const metrics = await host.withGpu(async () => {
          adapter.attach();
          try {
            return await t.step();
          } finally {
            adapter.detach();
          }
        });
        step = t.stepCount;
        emit({ type: 'metrics', runId, metrics, totalSteps });
        if (step % config.save_steps === 0) await checkpoint('running');
      }
      const end: RunStatus = t.done ? 'done' : ctx.stop === 'stop' ? 'stopped' : 'paused';
      if (ctx.lost) throw new Error(ctx.lost);
      if (saved !== step) await checkpoint(end);
      await status(end);
      return { status: end, step, totalSteps };
    } catch (e) {
      // A lost device shows up as whichever GPU call fails first; give its promise a moment.
      await Promise.race([lostWatch, new Promise((r) => setTimeout(r, 100))]);
      const ck = await latestCheckpoint(db, runId).catch(() => undefined);
      if (ctx.lost) {
        const error = `${ctx.lost}; the checkpoint at step ${ck?.step ?? 0} is intact: resume to continue from it`;
        step = ck?.step ?? 0;
        await status('interrupted', error);
        return { status: 'interrupted', step, totalSteps, error };
      }
      const error = e instanceof Error ? e.message : String(e);
      step = ck?.step ?? step;
      await status('failed', error);
      throw e;
    } finally {
      trainer?.destroy();
      const ad = ctx.adapter;
      if (ad) await host.withGpu(async () => ad.destroy()).catch(() => ad.detach());
      current = null;
    }
  }

  const resolveAdapter: AdapterResolver = async (adapterId, model, modelId) => {
    const live = current;
    if (live?.runId === adapterId && live.adapter && live.model === model) {
      const ad = live.adapter;
      ad.attach();
      return () => ad.detach();
    }
    const db = await host.workspace();
    const run = await getRun(db, adapterId);
    if (!run) throw new WorkerTaskError('no-adapter', `no trained adapter "${adapterId}": its run may have been deleted`, { adapterId });
    if (run.modelId !== modelId) {
      throw new WorkerTaskError('adapter-model-mismatch', `the adapter of "${run.name}" was trained on ${run.modelName}: load that model to sample with it`, { adapterId });
    }
    const ck = await latestCheckpoint(db, adapterId);
    if (!ck) throw new WorkerTaskError('no-adapter', `"${run.name}" has no checkpoint yet: let it train a few steps first`, { adapterId });
    const ad = LoraAdapter.create(model, loraAdapterConfig(run.config.lora, run.config.seed));
    try {
      ad.load(decodeCheckpoint(ck.bytes).adapter);
    } catch (e) {
      ad.destroy();
      throw e;
    }
    return () => ad.destroy();
  };

  const api: TrainWorkerApi = {
    planRun: (request) => settle(() => plan(request)),
    async trainRun(runId, onEvent) {
      const emit = (e: TrainEvent) => void Promise.resolve(onEvent?.(e)).catch(() => {});
      return settle(() => train(runId, emit));
    },
    async pauseRun(runId) {
      if (current?.runId === runId) current.stop ??= 'pause';
    },
    async stopRun(runId) {
      if (current?.runId === runId) current.stop = 'stop';
    },
    async runningRun() {
      return current?.runId ?? null;
    },
  };
  const modelInUse = () =>
    current ? `a training run (${current.runId}) is using the current model: pause or stop it before loading or removing a model` : null;

  return { api, resolveAdapter, modelInUse };
}
