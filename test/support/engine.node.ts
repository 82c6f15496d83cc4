import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/gpu/engine.js';

let shared: Promise<Engine> | undefined;

/** One engine per test file (each file runs in its own worker). */
export function testEngine(): Promise<Engine> {
  shared ??= createNodeEngine();
  return shared;
}
