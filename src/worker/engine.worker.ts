// The engine Worker: owns the GPUDevice and the Engine, off the main thread so long GPU work
// never blocks the UI. The main thread talks to it through comlink (src/services/gpu.ts).
import * as Comlink from 'comlink';
import { createBrowserEngine } from '../engine/browser.js';
import type { Engine } from '../engine/gpu/engine.js';
import type { EngineWorkerApi } from './protocol.js';

let engine: Promise<Engine> | null = null;

function getEngine(): Promise<Engine> {
  if (!engine) {
    engine = createBrowserEngine();
    // Forget a failed start so a later init() tries again instead of replaying the failure.
    engine.catch(() => {
      engine = null;
    });
  }
  return engine;
}

const api: EngineWorkerApi = {
  async init() {
    return (await getEngine()).report;
  },
};

Comlink.expose(api);
