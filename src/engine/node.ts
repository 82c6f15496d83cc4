// Node entry of the engine (CLI, tests, benchmarks).
import { Engine } from './gpu/engine.js';
import type { AcquireOptions } from './gpu/device.js';
import { acquireNodeGpu } from './gpu/node-device.js';
import { nodeShaders } from './gpu/shaders-node.js';

export async function createNodeEngine(options: AcquireOptions = {}): Promise<Engine> {
  const engine = new Engine(await acquireNodeGpu(options), nodeShaders);
  if (process.env.PREFSTUDIO_DEBUG_WGSL) engine.debug.printWgsl = true;
  return engine;
}
