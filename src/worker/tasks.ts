// Cancellable Worker tasks. comlink cannot carry an AbortSignal, so each long call gets a task id
// from the caller and `cancel(taskId)` aborts it here.

const running = new Map<string, AbortController>();

/** Runs `job` with a signal that cancel(taskId) aborts; the id is free again when it settles. */
export async function runTask<T>(taskId: string, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (running.has(taskId)) throw new Error(`task ${taskId} is already running`);
  const controller = new AbortController();
  running.set(taskId, controller);
  try {
    return await job(controller.signal);
  } finally {
    running.delete(taskId);
  }
}

export function cancelTask(taskId: string): void {
  running.get(taskId)?.abort();
}

/** The error a cancelled task ends with (DOMException's own name, so fetch aborts look alike). */
export function abortError(what = 'cancelled'): Error {
  const e = new Error(what);
  e.name = 'AbortError';
  return e;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}
