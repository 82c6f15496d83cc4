import { createBrowserEngine } from '../../src/engine/browser.js';
import type { Engine } from '../../src/engine/gpu/engine.js';

let shared: Promise<Engine> | undefined;

export function testEngine(): Promise<Engine> {
  shared ??= createBrowserEngine();
  return shared;
}
