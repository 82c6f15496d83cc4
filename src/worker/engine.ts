// The Worker's one Engine (one GPUDevice) and the lock every GPU job takes, so an upload, a
// generation and (later) a training step never interleave their dispatches.
import { createBrowserEngine } from '../engine/browser.js';
import type { Engine } from '../engine/gpu/engine.js';

let engine: Promise<Engine> | null = null;

export function getEngine(): Promise<Engine> {
  if (!engine) {
    const started = createBrowserEngine();
    engine = started;
    // Forget a failed start so a later call tries again instead of replaying the failure; forget
    // a lost device too, so the next job (a resumed training run) gets a new one.
    started.then(
      (e) => void e.device.lost.then(() => {
        if (engine === started) engine = null;
      }),
      () => {
        if (engine === started) engine = null;
      },
    );
  }
  return engine;
}

let gpuQueue: Promise<unknown> = Promise.resolve();

/** Runs `job` once every GPU job queued before it has finished (failed or not). */
export function withGpu<T>(job: (engine: Engine) => Promise<T>): Promise<T> {
  const run = gpuQueue.then(async () => job(await getEngine()));
  gpuQueue = run.catch(() => {});
  return run;
}
