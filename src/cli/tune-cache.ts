// Kernel tuning in the CLI (issue 16): the file the tuner's choices are kept in, per adapter
// identity, and the settings that steer it. Read through node-read (bounded), written through
// output.ts (temporary file, then rename), so two processes never see half a file.
//
//   PREFSTUDIO_TUNE_CACHE=FILE   where the choices live (default: $XDG_CACHE_HOME or
//                                ~/.cache, then prefstudio/kernel-tuning.json); "off": no file
//   PREFSTUDIO_TUNE=on|off       tune at first use (default: on, except on software adapters,
//                                where speed says nothing and the safe kernels are kept)
//   PREFSTUDIO_KERNEL_VARIANTS   force variants: matmul_forward=tiled8,matmul_dinp=safe (applied by
//                                createNodeEngine, src/engine/node.ts, to every Node engine)
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { readTextBounded, isMissing, MiB } from '../data/io/node-read.js';
import { writeOutputFile } from './output.js';
import type { Engine } from '../engine/gpu/engine.js';
import { isSoftwareAdapter, kernelsForModel, tuneModelKernels } from '../engine/tuning/matmul-runner.js';
import type { TuneCache, TuneOutcome, TuneRecord } from '../engine/tuning/tuner.js';
import type { TunedKernel } from '../engine/tuning/variants.js';
import type { TransformerConfig } from '../engine/transformer/config.js';
import type { ModelWeights } from '../engine/transformer/model.js';

const MAX_CACHE_BYTES = 4 * MiB;

/** The cache file: `flag` (--tune-cache), else PREFSTUDIO_TUNE_CACHE, else the user's cache dir; null = none. */
export function tuneCachePath(flag?: string): string | null {
  const chosen = flag ?? process.env.PREFSTUDIO_TUNE_CACHE;
  if (chosen === 'off' || chosen === '') return null;
  if (chosen) return chosen;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'prefstudio', 'kernel-tuning.json');
}

interface CacheFile {
  format: 'prefstudio-kernel-tuning';
  version: 1;
  records: Record<string, TuneRecord>;
}

async function readCacheFile(path: string): Promise<CacheFile> {
  try {
    const parsed = JSON.parse(await readTextBounded(path, MAX_CACHE_BYTES, 'kernel tuning cache')) as CacheFile;
    if (parsed?.format === 'prefstudio-kernel-tuning' && parsed.version === 1 && typeof parsed.records === 'object') return parsed;
  } catch (e) {
    if (!isMissing(e) && !(e instanceof SyntaxError)) throw e;
  }
  // Missing or unreadable as a cache: start afresh (it only costs a measurement).
  return { format: 'prefstudio-kernel-tuning', version: 1, records: {} };
}

/** A JSON file holding one record per adapter identity. */
export function fileTuneCache(path: string): TuneCache {
  return {
    async load(key) {
      return (await readCacheFile(path)).records[key] ?? null;
    },
    async save(record) {
      const file = await readCacheFile(path);
      file.records[record.key] = record;
      await mkdir(dirname(path), { recursive: true });
      await writeOutputFile(path, JSON.stringify(file, null, 1) + '\n', { sync: false });
    },
  };
}

export interface CliTuneOptions {
  cacheFlag?: string;
  /** Tune even on a software adapter (prefstudio gpu --tune). */
  force?: boolean;
  kernels?: readonly TunedKernel[];
  /** The model's weights on the GPU: a block-quantized base adds matmul_nbits_forward (kernelsForModel). */
  weights?: ModelWeights;
  budgetMs?: number;
  /** The LoRA adapter's rank: its passes are tuned where `kernels` names lora_xa / lora_dyb / lora_grad. */
  loraRank?: number;
  /** One line per measured variant (stderr in the commands). */
  log?: (line: string) => void;
}

/**
 * At first use of a model: choose the matmul variants for its shapes at M rows, from the cache
 * or by measuring (bounded time, progress lines). Returns null when tuning is off here.
 */
export async function tuneForModel(engine: Engine, cfg: TransformerConfig, M: number, o: CliTuneOptions = {}): Promise<TuneOutcome | null> {
  const setting = process.env.PREFSTUDIO_TUNE;
  if (setting === 'off') return null;
  if (!o.force && setting !== 'on' && isSoftwareAdapter(engine)) return null;
  const path = tuneCachePath(o.cacheFlag);
  const forModel = o.weights && o.kernels ? kernelsForModel(o.kernels, o.weights) : null;
  const outcome = await tuneModelKernels(engine, cfg, M, path ? fileTuneCache(path) : null, {
    budgetMs: o.budgetMs ?? 3000,
    kernels: forModel?.kernels ?? o.kernels,
    quant: forModel?.quant,
    loraRank: o.loraRank,
    onProgress: (p) => o.log?.(`tuning kernels ${p.done}/${p.total}: ${p.note}`),
  });
  return outcome;
}
