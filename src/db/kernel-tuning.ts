// The kernel tuner's cache in IndexedDB (issue 16): one TuneRecord per adapter identity key, read
// and written by the engine Worker (src/worker/tuning.ts) through the TuneCache interface.
import type { TuneCache, TuneRecord } from '../engine/tuning/tuner.js';
import type { PrefDb } from './schema.js';

function valid(r: unknown): r is TuneRecord {
  const x = r as TuneRecord | undefined;
  return !!x && typeof x.key === 'string' && typeof x.updated === 'string' && Array.isArray(x.choices) &&
    x.choices.every((c) => typeof c?.kernel === 'string' && typeof c.variant === 'string' && typeof c.shapeClass === 'string');
}

export function dbTuneCache(db: PrefDb): TuneCache {
  return {
    async load(key) {
      const row = await db.kernelTuning.get(key);
      return valid(row) ? row : null;
    },
    async save(record) {
      if (!valid(record)) throw new Error('kernel tuning: a record without key, date or choices was not saved');
      await db.kernelTuning.put(record);
    },
  };
}

/** Forgets every adapter's choices (the GPU panel's "measure again"). */
export async function clearKernelTuning(db: PrefDb): Promise<void> {
  await db.kernelTuning.clear();
}
