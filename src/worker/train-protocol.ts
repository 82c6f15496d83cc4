// The training half of the engine Worker's API (src/worker/train.ts), as the main thread sees it
// through comlink. Training lives in the engine Worker, not a Worker of its own: the model's
// weights are on that Worker's GPUDevice, and WebGPU buffers cannot be shared between devices.
// The Worker's GPU lock (engine.ts withGpu) is taken per optimizer step, so sampling from the
// playground or the labeling workspace interleaves with a run instead of waiting for its end.
import type { TrainingConfigInput } from '../engine/training/config.js';
import type { TrainingMemoryEstimate } from '../engine/training/memory.js';
import type { StepMetrics } from '../engine/training/trainer.js';
import type { RunStatus } from '../db/runs-types.js';
import type { WorkerResult } from './protocol.js';

/** What a run would be, computed before it starts: data, steps, memory and whether it fits. */
export interface RunPlan {
  examples: { train: number; test: number; skipped: number };
  /** The first few records left out and why ("record 12: ..."). */
  skipped: string[];
  warnings: string[];
  totalSteps: number;
  loraParameters: number;
  memory: TrainingMemoryEstimate;
  budgetBytes: number;
  /** Where the budget comes from ("set by memory_budget_bytes", or what the adapter allows). */
  budgetSource: string;
  /** Why the run cannot start (does not fit, no data), with the numbers; null when it can. */
  refusal: string | null;
}

export interface PlanRequest {
  modelId: string;
  datasetId: string;
  config: TrainingConfigInput;
}

export type TrainEvent =
  | { type: 'status'; runId: string; status: RunStatus; step: number; totalSteps: number; error?: string }
  | { type: 'metrics'; runId: string; metrics: StepMetrics; totalSteps: number }
  | { type: 'checkpoint'; runId: string; step: number }
  | { type: 'progress'; runId: string; message: string };

export interface RunOutcome {
  status: RunStatus;
  step: number;
  totalSteps: number;
  error?: string;
}

export interface TrainWorkerApi {
  /** Tokenises the dataset for the method and estimates the run's GPU memory; allocates nothing lasting. */
  planRun(request: PlanRequest): Promise<WorkerResult<RunPlan>>;
  /**
   * Runs (or resumes from its last checkpoint) the stored run `runId` until it is done, paused,
   * stopped, or its GPU device is lost; events as it goes. The run's row says everything it needs.
   */
  trainRun(runId: string, onEvent?: (e: TrainEvent) => void): Promise<WorkerResult<RunOutcome>>;
  /** Stops after the current step with a checkpoint; the run can resume. */
  pauseRun(runId: string): Promise<void>;
  /** Stops after the current step with a checkpoint; the run ends (its adapter is kept). */
  stopRun(runId: string): Promise<void>;
  /** The run this Worker is stepping, if any. */
  runningRun(): Promise<string | null>;
}
