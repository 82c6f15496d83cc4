// `--variants`: which forward variants of our matmul the matmul suite times besides `ours` (the
// engine's choice), in the page and in Node.
import type { Engine } from '../src/engine/gpu/engine.js';
import { applicableVariants } from '../src/engine/tuning/variants.js';

/** The variant names to time: ['all'] = every one the adapter can run. */
export function variantList(engine: Engine, wanted: string[] | undefined): string[] {
  if (!wanted || wanted.length === 0) return [];
  const applicable = applicableVariants('matmul_forward', engine.report).map((v) => v.name);
  return wanted.includes('all') ? applicable : wanted;
}
