// Training runs seen from the page: run rows and checkpoints in the workspace database (the same
// connection as the data service), and the engine Worker's training calls (comlink). The Worker
// writes checkpoints itself; the page creates runs, starts, pauses, resumes and stops them, and
// follows their events. Tests put in a fake-indexeddb workspace and an in-process backend.
import * as Comlink from 'comlink';
import {
  createRun as dbCreateRun,
  deleteRun as dbDeleteRun,
  getRun as dbGetRun,
  latestCheckpoint,
  listRuns as dbListRuns,
  markInterrupted,
  updateRun,
  type NewRun,
  type RunRow,
} from '../db/index.js';
import { zipFiles } from '../engine/export/peft.js';
import { parseTrainingConfig, type TrainingConfig, type TrainingConfigInput } from '../engine/training/config.js';
import { peftAdapterFiles, type HostTensor } from '../engine/training/peft.js';
import { decodeCheckpoint } from '../engine/training/trainer.js';
import type { WorkerResult } from '../worker/protocol.js';
import type { PlanRequest, RunOutcome, RunPlan, TrainEvent, TrainWorkerApi } from '../worker/train-protocol.js';
import { saveBlob, workspace } from './data.js';
import { engineWorker } from './gpu.js';

export type { PlanRequest, RunOutcome, RunPlan, TrainEvent };

let backend: TrainWorkerApi | null = null;

/** Tests: train through this backend (the Worker module in-process) instead of the engine Worker. */
export function useTrainBackend(b: TrainWorkerApi | null): void {
  backend = b;
}

function trainBackend(): TrainWorkerApi {
  if (backend) return backend;
  const remote = engineWorker();
  // Callbacks cross the boundary as proxies; everything else is structured-cloned.
  return {
    planRun: (request) => remote.planRun(request),
    trainRun: (runId, onEvent) => remote.trainRun(runId, onEvent && Comlink.proxy(onEvent)),
    pauseRun: (runId) => remote.pauseRun(runId),
    stopRun: (runId) => remote.stopRun(runId),
    runningRun: () => remote.runningRun(),
  };
}

/** A Worker that died rejects instead of answering: report it as a failure all the same. */
async function answer<T>(call: () => Promise<WorkerResult<T>>): Promise<WorkerResult<T>> {
  try {
    return await call();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { ok: false, error: { name: err.name || 'Error', code: 'worker', message: err.message } };
  }
}

export async function listRuns(): Promise<RunRow[]> {
  return dbListRuns(await workspace());
}

export async function getRun(id: string): Promise<RunRow | undefined> {
  return dbGetRun(await workspace(), id);
}

export async function createRun(run: NewRun): Promise<RunRow> {
  return dbCreateRun(await workspace(), run);
}

export async function deleteRun(id: string): Promise<void> {
  if (id === (await trainBackend().runningRun().catch(() => null))) throw new Error('the run is training: stop it before deleting it');
  await dbDeleteRun(await workspace(), id);
}

/** The form's settings validated, defaults filled in: what the run row keeps. */
export function runConfig(input: TrainingConfigInput): TrainingConfig {
  return parseTrainingConfig(input);
}

/** Ends a paused or interrupted run where its last checkpoint is (its adapter stays usable). */
export async function endRun(id: string): Promise<void> {
  await updateRun(await workspace(), id, { status: 'stopped' });
}

/** Whether a run has a saved adapter (a checkpoint) to sample with or continue from. */
export async function hasAdapter(id: string): Promise<boolean> {
  return (await latestCheckpoint(await workspace(), id)) !== undefined;
}

/**
 * The run's adapter at its last checkpoint as a PEFT folder zipped (adapter_config.json,
 * adapter_model.safetensors), the files `prefstudio train` writes. The checkpoint keeps each
 * tensor flat under its PEFT name; PEFT's shapes are A (r, in) and B (out, r).
 */
export async function runAdapterZip(id: string): Promise<{ name: string; bytes: Uint8Array }> {
  const db = await workspace();
  const run = await dbGetRun(db, id);
  if (!run) throw new Error(`run ${id} no longer exists`);
  const checkpoint = await latestCheckpoint(db, id);
  if (!checkpoint) throw new Error(`run "${run.name}" has no checkpoint yet: its adapter is saved at its first checkpoint`);
  const { adapter } = decodeCheckpoint(checkpoint.bytes);
  const r = run.config.lora.r;
  const tensors: HostTensor[] = Object.entries(adapter).map(([name, data]) => ({
    name,
    shape: name.endsWith('.lora_A.weight') ? [r, data.length / r] : [data.length / r, r],
    data,
  }));
  const targets = [...new Set(Object.keys(adapter).map((n) => n.replace(/\.lora_[AB]\.weight$/, '').split('.').pop()!))];
  // GPT-2's Conv1D modules: PEFT marks them fan_in_fan_out.
  const fanInFanOut = Object.keys(adapter).some((n) => n.includes('.attn.c_attn.'));
  const files = peftAdapterFiles(run.config.lora, run.modelName, targets, fanInFanOut, tensors);
  return { name: `${run.name.replace(/[^\w.-]+/g, '_')}-adapter.zip`, bytes: zipFiles(files) };
}

/** Saves the run's adapter as a PEFT zip (a download). */
export async function downloadRunAdapter(id: string): Promise<void> {
  const { name, bytes } = await runAdapterZip(id);
  saveBlob(new Blob([bytes as BlobPart]), name);
}

/** Saves a run's settings as training_config.json (a download; `prefstudio train --config` and the Train page read it back). */
export async function downloadSettings(config: TrainingConfig): Promise<void> {
  saveBlob(new Blob([JSON.stringify(config, null, 2) + '\n'], { type: 'application/json' }), 'training_config.json');
}

/** At start: runs a gone tab left running (a reload, a crash) are marked interrupted. */
export async function recoverInterrupted(): Promise<string[]> {
  const running = await trainBackend().runningRun().catch(() => null);
  return markInterrupted(await workspace(), running ? [running] : []);
}

export function planRun(request: PlanRequest): Promise<WorkerResult<RunPlan>> {
  return answer(() => trainBackend().planRun(request));
}

/** Trains (or resumes) a stored run; resolves when it is done, paused, stopped or interrupted. */
export function trainRun(runId: string, onEvent: (e: TrainEvent) => void): Promise<WorkerResult<RunOutcome>> {
  return answer(() => trainBackend().trainRun(runId, onEvent));
}

export function pauseRun(runId: string): Promise<void> {
  return trainBackend().pauseRun(runId);
}

export function stopRun(runId: string): Promise<void> {
  return trainBackend().stopRun(runId);
}

export function runningRun(): Promise<string | null> {
  return trainBackend().runningRun();
}

// ---- which adapter the playground and the labeling workspace sample with ----

const SAMPLING_KEY = 'prefstudio.samplingAdapter';
let samplingAdapter: string | null | undefined;

/** The run whose adapter generation uses (GenerateRequest.adapterId); null: the base model. */
export function samplingAdapterId(): string | null {
  if (samplingAdapter === undefined) {
    try {
      samplingAdapter = globalThis.localStorage?.getItem(SAMPLING_KEY) ?? null;
    } catch {
      samplingAdapter = null;
    }
  }
  return samplingAdapter;
}

export function setSamplingAdapterId(runId: string | null): void {
  samplingAdapter = runId;
  try {
    if (runId) globalThis.localStorage?.setItem(SAMPLING_KEY, runId);
    else globalThis.localStorage?.removeItem(SAMPLING_KEY);
  } catch {
    // Storage blocked: the choice lasts for this page only.
  }
}
