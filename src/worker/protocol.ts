// The engine Worker's API as the main thread sees it through comlink. Values cross by structured
// clone; errors arrive as Error objects that keep their `name` (comlink copies name and message).
import type { AdapterReport } from '../engine/gpu/device.js';

export interface EngineWorkerApi {
  /**
   * Creates the engine (once) and reports its GPU adapter. Rejects with a GpuUnavailableError
   * (by name) when there is no WebGPU, no adapter, or the adapter is too small.
   */
  init(): Promise<AdapterReport>;
}
