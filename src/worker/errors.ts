// Errors into WorkerFailure values: what the UI shows must keep the ModelLoadError code and its
// details, which comlink's own error transfer (name and message only) would drop.
import { ModelLoadError } from '../engine/model/errors.js';
import type { WorkerFailure, WorkerResult } from './protocol.js';

/** A failure that is the user's to fix (no model selected, ...), with a stable code. */
export class WorkerTaskError extends Error {
  override readonly name = 'WorkerTaskError';
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function toFailure(error: unknown): WorkerFailure {
  if (error instanceof ModelLoadError || error instanceof WorkerTaskError) {
    return { name: error.name, code: error.code, message: error.message, details: plain(error.details) };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  if (e.name === 'AbortError') return { name: 'AbortError', code: 'aborted', message: 'cancelled' };
  if (e.name === 'GpuUnavailableError') return { name: e.name, code: 'gpu-unavailable', message: e.message };
  if (e.name === 'QuotaExceededError') {
    return { name: e.name, code: 'storage-full', message: `not enough browser storage to keep this model (${e.message})` };
  }
  return { name: e.name || 'Error', code: 'error', message: e.message || String(error) };
}

/** Runs `job` and answers with its value or its failure; never rejects. */
export async function settle<T>(job: () => Promise<T>): Promise<WorkerResult<T>> {
  try {
    return { ok: true, value: await job() };
  } catch (error) {
    return { ok: false, error: toFailure(error) };
  }
}

/** Details must survive structured clone: drop what cannot (functions, class instances). */
function plain(details: Record<string, unknown>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  } catch {
    return {};
  }
}
