// Rows of the training tables (schema v3). A run's configuration is the engine's TrainingConfig as
// plain JSON (TRL/PEFT names); metrics are the Trainer's StepMetrics (TRL names). Type imports only:
// the db layer runs no engine code.
import type { TrainingConfig } from '../engine/training/config.js';
import type { TrainingMemoryEstimate } from '../engine/training/memory.js';
import type { RefLogps } from '../engine/training/ref-cache.js';
import type { StepMetrics } from '../engine/training/trainer.js';

/**
 * queued: saved, not started yet;  running: a Worker is stepping it;  paused: stopped by the
 * person with a checkpoint, resumable;  interrupted: the tab closed, the browser crashed or the
 * GPU device was lost while it ran, resumable from its last checkpoint;  stopped: ended early by
 * the person (its adapter is usable);  done: every step taken;  failed: an error that a resume
 * would repeat (bad data, does not fit).
 */
export type RunStatus = 'queued' | 'running' | 'paused' | 'interrupted' | 'stopped' | 'done' | 'failed';

export const RESUMABLE_STATUSES: readonly RunStatus[] = ['paused', 'interrupted'];
/** Runs whose adapter is final: sampling and "continue from this adapter". */
export const FINISHED_STATUSES: readonly RunStatus[] = ['stopped', 'done'];

export interface RunRow {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  status: RunStatus;
  /** The run's whole configuration, as validated by parseTrainingConfig. */
  config: TrainingConfig;
  datasetId: string;
  datasetName: string;
  modelId: string;
  modelName: string;
  /** The run whose final adapter this run starts from (iterative rounds). */
  initFromRunId?: string;
  /** The reference is the base model plus this run's final adapter (iterative DPO); absent: the base. */
  referenceRunId?: string;
  /** Optimizer steps of the last checkpoint, and of the whole run. */
  step: number;
  totalSteps: number;
  /** Every step's metrics up to the last checkpoint (the loss curve a resume continues). */
  metrics: StepMetrics[];
  /** Examples per split after tokenisation, and records left out. */
  examples?: { train: number; test: number; skipped: number };
  memory?: TrainingMemoryEstimate;
  /** Why it failed or was interrupted. */
  error?: string;
}

export interface CheckpointRow {
  id?: number;
  runId: string;
  step: number;
  createdAt: number;
  /** encodeCheckpoint() bytes: adapter, AdamW moments, step, data order and random state. */
  bytes: Uint8Array;
}

export interface RefCacheRow {
  /** exampleKey(model fingerprint, token ids): the data, the model and the settings that shape them. */
  key: string;
  value: RefLogps;
  createdAt: number;
}
