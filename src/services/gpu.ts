// The engine Worker seen from the main thread: created once, behind a module-level promise, so
// React StrictMode (effects run twice) and several callers share one Worker and one GPUDevice.
import * as Comlink from 'comlink';
import type { AdapterReport } from '../engine/gpu/device.js';
import type { EngineWorkerApi } from '../worker/protocol.js';
import type { KernelTuningReport } from '../worker/tuning.js';

export type GpuProbe =
  | { kind: 'ready'; report: AdapterReport }
  /** No WebGPU, no adapter, or an adapter below the engine's required limits. */
  | { kind: 'unavailable'; reason: string; secureContext: boolean }
  /** The Worker failed to load or did not answer: a bug or a blocked script, not missing WebGPU. */
  | { kind: 'error'; reason: string };

/** Adapter requests take ~1 s on a software adapter; far longer means something is stuck. */
const INIT_TIMEOUT_MS = 30_000;

interface EngineConnection {
  api: Comlink.Remote<EngineWorkerApi>;
  /** Rejects when the Worker script fails to load or throws at top level. */
  failed: Promise<never>;
}

let connection: EngineConnection | null = null;
let probe: Promise<GpuProbe> | null = null;

function connect(): EngineConnection {
  if (connection) return connection;
  const worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), {
    type: 'module',
    name: 'prefstudio-engine',
  });
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (event) => {
      reject(new Error(event.message || 'the engine worker failed to load'));
    });
  });
  failed.catch(() => {}); // observed by whoever races it; never an unhandled rejection
  connection = { api: Comlink.wrap<EngineWorkerApi>(worker), failed };
  return connection;
}

async function runProbe(): Promise<GpuProbe> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the engine worker did not answer within ${INIT_TIMEOUT_MS / 1000} s`)),
      INIT_TIMEOUT_MS,
    );
  });
  try {
    const { api, failed } = connect();
    const report = await Promise.race([api.init(), failed, timedOut]);
    return { kind: 'ready', report };
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    if (err.name === 'GpuUnavailableError') {
      return { kind: 'unavailable', reason: err.message, secureContext: globalThis.isSecureContext !== false };
    }
    return { kind: 'error', reason: err.message };
  } finally {
    clearTimeout(timer); // a timer left running would reject, unheard, 30 s later
  }
}

/** The engine Worker's API (the same Worker as the probe), for services that use the engine. */
export function engineWorker(): Comlink.Remote<EngineWorkerApi> {
  return connect().api;
}

/** The kernel variants chosen for the active model on this adapter, and why (issue 16). */
export function kernelTuning(): Promise<KernelTuningReport> {
  return connect().api.kernelTuning();
}

/** Measures the kernel variants again for the active model (also on a software adapter). */
export function tuneKernels(): Promise<KernelTuningReport> {
  return connect().api.tuneKernels();
}

/** Forces variants ("matmul_forward=tiled8,..."; "" = automatic); rejects naming a bad value. */
export async function forceKernelVariants(text: string): Promise<KernelTuningReport> {
  const r = await connect().api.forceKernelVariants(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** Starts the engine Worker if needed and reports its GPU adapter. Never rejects. */
export function probeGpu(): Promise<GpuProbe> {
  probe ??= runProbe();
  return probe;
}
