// What the CLI reads besides model folders (src/engine/model/source-node.ts) and datasets
// (src/data/io/node-file.ts): PEFT adapters (a folder or a zip of one), settings files (--config,
// a run's training_config.json), checkpoints (--resume) and reference-cache entries. All of it
// goes through src/data/io/node-read.ts: regular files only (a device or a FIFO is refused before
// a byte is read), each capped at the size its role allows (INPUT_LIMITS) with an error naming
// the file and the limit, and an adapter folder's files resolved inside the folder (a link out of
// it is refused).

import { constants as bufferConstants } from 'node:buffer';
import { promises as fs } from 'node:fs';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftFiles, readPeftZip } from '../engine/export/peft.js';
import type { AdapterData } from '../engine/export/modules.js';
import { SETTINGS } from '../engine/methods/settings.js';
import { valueFromText } from '../engine/methods/text.js';
import { ONNX_DTYPES, type OnnxDtype } from '../engine/model/layout.js';
import { GiB, MiB, NodeFolder, isMissing, readFileBounded, readTextBounded } from '../data/io/node-read.js';

/** --dtype: which variant of a model folder to load by precision (src/engine/model/layout.ts). */
export const DTYPE_USAGE = `  --dtype <name>             the folder's variant by precision: ${ONNX_DTYPES.join(', ')} (default: fp16 where present, then fp32)`;

/** --dtype of a command that runs the model on the GPU: without it (or --onnx), the variant the GPU memory budget recommends (src/cli/hub-model.ts openModel). */
export const DTYPE_BUDGET_USAGE = `  --dtype <name>             the variant by precision: ${ONNX_DTYPES.join(', ')}
                             (default: the first of fp16, fp32, 4-bit, 8-bit whose weights fit the GPU memory
                             budget, ${SETTINGS.memory_budget_bytes.flag}, else the smallest: the Models page's choice, said on stderr)`;

/** --memory-budget in a command without the training settings (logprobs): the registry's setting, its flag and text. */
export const MEMORY_BUDGET_USAGE = `  ${SETTINGS.memory_budget_bytes.flag} <size>     GPU memory the model variant is chosen by (4GiB, 512MiB, ...; default: what the
                             GPU adapter allows, src/engine/gpu/budget.ts)`;

/** A --memory-budget value as the registry reads it (a size, or none/auto); throws a message naming the flag. */
export function parseMemoryBudget(value: string): number | null {
  const st = SETTINGS.memory_budget_bytes;
  let v: unknown;
  try {
    v = valueFromText(st.input, value);
  } catch (e) {
    throw new Error(`${st.flag} ${(e as Error).message}`);
  }
  const r = st.schema.safeParse(v);
  if (!r.success) throw new Error(`${st.flag} "${value}": ${r.error.issues[0]?.message ?? 'not a size in bytes'}`);
  return r.data;
}

/** --f16-weights: the load-time conversion (LoadOptions.f16Weights). */
export const F16_WEIGHTS_USAGE = `  --f16-weights              convert f32 linear weights to f16 as the model loads (half their GPU memory; 4-bit ones stay packed)`;

/** The --dtype value, checked; undefined when the flag is absent. */
export function parseDtype(value: string | undefined): OnnxDtype | undefined {
  if (value === undefined) return undefined;
  if (!(ONNX_DTYPES as readonly string[]).includes(value)) throw new Error(`--dtype "${value}" is not one of ${ONNX_DTYPES.join(', ')}`);
  return value as OnnxDtype;
}

/** The most bytes one read can hold in Node (4 GiB on Node 20). */
const MAX_BUFFER = Math.min(bufferConstants.MAX_LENGTH, 4 * GiB);

/** The most bytes each kind of file may have, checked before it is read. */
export const INPUT_LIMITS = {
  /** adapter_config.json, training_config.json, a --config file: settings are a few KB. */
  settings: 16 * MiB,
  /**
   * adapter_model.safetensors, and an adapter zip: rank 256 on every linear layer of an 8B model
   * is about 1.4 GB in f32; one Node buffer holds at most 4 GiB.
   */
  adapter: MAX_BUFFER,
  /** A checkpoint: the adapter, its two AdamW moments and the run's state; one Node buffer at most. */
  checkpoint: MAX_BUFFER,
  /** One reference-cache entry (an example's reference log-probs). */
  refCacheEntry: 16 * MiB,
} as const;

/** A settings file (JSON text). */
export function readSettingsText(path: string): Promise<string> {
  return readTextBounded(path, INPUT_LIMITS.settings, 'a settings file');
}

/** A training checkpoint (--resume). */
export async function readCheckpointBytes(path: string): Promise<Uint8Array> {
  return readFileBounded(path, INPUT_LIMITS.checkpoint, 'a checkpoint');
}

/** A text file that may be absent (undefined then), within `limit`. */
export async function readOptionalText(path: string, limit: number, role: string): Promise<string | undefined> {
  try {
    return await readTextBounded(path, limit, role);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/**
 * A PEFT adapter: a folder holding adapter_config.json and adapter_model.safetensors (read inside
 * the folder only), or a zip of one. Undefined when there is no such file or folder.
 */
export async function readAdapterFrom(path: string): Promise<AdapterData | undefined> {
  const st = await fs.stat(path).catch(() => null);
  if (!st) return undefined;
  if (!st.isDirectory()) return readPeftZip(await readFileBounded(path, INPUT_LIMITS.adapter, 'an adapter zip'), path);
  const folder = await NodeFolder.open(path);
  if (!folder) return undefined;
  const files: Record<string, Uint8Array> = {};
  const config = await folder.read(ADAPTER_CONFIG, INPUT_LIMITS.settings, 'an adapter_config.json');
  if (config) files[ADAPTER_CONFIG] = config;
  const weights = await folder.read(ADAPTER_WEIGHTS, INPUT_LIMITS.adapter, 'adapter weights');
  if (weights) files[ADAPTER_WEIGHTS] = weights;
  return readPeftFiles(files, path);
}
