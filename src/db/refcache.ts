// Reference log-probs by fingerprint key (the Trainer's RefLogpCache interface over IndexedDB).
// A key names the model and the exact token ids of an example, so a change of model, data or of
// any setting that shapes the tokens gives a new key: stale entries are never read, and
// clearRefCache() frees their space.
import type { RefLogpCache, RefLogps } from '../engine/training/ref-cache.js';
import { guardQuota } from './datasets.js';
import type { PrefDb } from './schema.js';

export function dbRefCache(db: PrefDb): RefLogpCache & { hits: number; misses: number } {
  return {
    hits: 0,
    misses: 0,
    async get(key: string): Promise<RefLogps | undefined> {
      const row = await db.refcache.get(key);
      if (row) this.hits++;
      else this.misses++;
      return row?.value;
    },
    async set(key: string, value: RefLogps): Promise<void> {
      await guardQuota(() => db.refcache.put({ key, value, createdAt: Date.now() }), 'storage is full: a reference log-prob was not cached');
    },
  };
}

export async function refCacheCount(db: PrefDb): Promise<number> {
  return db.refcache.count();
}

export async function clearRefCache(db: PrefDb): Promise<void> {
  await db.refcache.clear();
}
