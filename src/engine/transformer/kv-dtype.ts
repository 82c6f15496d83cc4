// The KV cache's dtype, one fact for the engine (generate.ts), the settings (loop/config.ts) and
// the CLI flags: f16 halves the cache, and is the default where the GPU reads halves natively.

import type { Engine } from '../gpu/engine.js';

export type KvCacheDType = 'f32' | 'f16';
export const KV_CACHE_CHOICES = ['auto', 'f32', 'f16'] as const;
export type KvCacheChoice = (typeof KV_CACHE_CHOICES)[number];

/** 'auto': f16 where the device has shader-f16 (the attention reads the halves), f32 elsewhere. */
export function defaultKvCache(engine: Pick<Engine, 'hasF16'>): KvCacheDType {
  return engine.hasF16 ? 'f16' : 'f32';
}

/** The dtype a choice (or none) gives on this device. */
export function kvCacheDType(engine: Pick<Engine, 'hasF16'>, choice: KvCacheChoice | undefined): KvCacheDType {
  return !choice || choice === 'auto' ? defaultKvCache(engine) : choice;
}
