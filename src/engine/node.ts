// Node entry of the engine (CLI, tests, benchmarks).
import { Engine } from './gpu/engine.js';
import type { AcquireOptions } from './gpu/device.js';
import { acquireNodeGpu } from './gpu/node-device.js';
export { nodeAdapterReport } from './gpu/node-device.js';
import { nodeShaders } from './gpu/shaders-node.js';
import { parseForced } from './tuning/choices.js';

export async function createNodeEngine(options: AcquireOptions = {}): Promise<Engine> {
  const engine = new Engine(await acquireNodeGpu(options), nodeShaders);
  if (process.env.PREFSTUDIO_DEBUG_WGSL) engine.debug.printWgsl = true;
  // Forced kernel variants (issue 16): debugging and benchmarks, e.g. matmul_forward=tiled8.
  if (process.env.PREFSTUDIO_KERNEL_VARIANTS) {
    try {
      engine.choices.forced = parseForced(process.env.PREFSTUDIO_KERNEL_VARIANTS);
    } catch (e) {
      engine.destroy();
      throw new Error(`PREFSTUDIO_KERNEL_VARIANTS: ${(e as Error).message}`);
    }
  }
  return engine;
}
