// Browser / Worker entry of the engine.
import { Engine } from './gpu/engine.js';
import { acquireBrowserGpu, type AcquireOptions } from './gpu/device.js';
import { browserShaders } from './gpu/shaders-browser.js';

export async function createBrowserEngine(options: AcquireOptions = {}): Promise<Engine> {
  return new Engine(await acquireBrowserGpu(options), browserShaders);
}
