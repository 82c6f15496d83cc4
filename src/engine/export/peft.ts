// PEFT adapter folders and zips for export and import. The file formats themselves are
// training/peft.ts's (adapter_config.json, adapter_model.safetensors); this adds the zip (fflate)
// and the check of an adapter against the model it is meant for.

import { zipSync } from 'fflate';
import type { InflateLimits } from '../../data/io/limits.js';
import { readZipEntry, zipEntries, ZipFormatError, type ZipEntry } from '../../data/io/zip.js';
import { assertFinite } from '../finite.js';
import type { LoadedModel } from '../model/load.js';
import { parseAdapterConfig, peftAdapterFiles, readSafetensors } from '../training/peft.js';
import { adapterModules, loraAName, loraBName, type AdapterData, type AdapterModule } from './modules.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** The two files of a PEFT adapter for this model, tensors in model order (A then B per module). */
export function peftFiles(model: Pick<LoadedModel, 'arch' | 'config' | 'weights'>, adapter: AdapterData, modules: AdapterModule[] = adapterModules(model, adapter)): Record<string, Uint8Array> {
  const r = adapter.lora.r;
  const tensors = modules.flatMap((m) => [
    { name: loraAName(m.slot.path), shape: [r, m.slot.inFeatures], data: m.a },
    { name: loraBName(m.slot.path), shape: [m.slot.outFeatures, r], data: m.b },
  ]);
  const targets = [...new Set(modules.map((m) => m.slot.path.split('.').pop()!))];
  return peftAdapterFiles(adapter.lora, adapter.baseModel, targets, model.arch === 'gpt2', tensors);
}

/** Files in one zip (stored, not deflated: float tensors barely compress). */
export function zipFiles(files: Record<string, Uint8Array>): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, [v, { level: 0 }] as [Uint8Array, { level: 0 }]])));
}

/**
 * A PEFT adapter from its files, by name; the two files may sit in one subfolder (a zipped
 * folder). `label` names the source in errors.
 */
export function readPeftFiles(files: Record<string, Uint8Array>, label = 'adapter'): AdapterData {
  const find = (name: string) => {
    const hits = Object.keys(files).filter((k) => k === name || k.endsWith(`/${name}`));
    if (hits.length === 0) throw new Error(`${label}: no ${name} (found: ${Object.keys(files).join(', ') || 'nothing'})`);
    if (hits.length > 1) throw new Error(`${label}: several ${name} files (${hits.join(', ')}); give one adapter`);
    return [hits[0]!, files[hits[0]!]!] as const;
  };
  const [cfgPath, cfgBytes] = find(ADAPTER_CONFIG);
  const [stPath, stBytes] = find(ADAPTER_WEIGHTS);
  const cfg = parseAdapterConfig(new TextDecoder().decode(cfgBytes), `${label}: ${cfgPath}`);
  const st = readSafetensors(stBytes, `${label}: ${stPath}`);
  const tensors = new Map<string, Float32Array>();
  const r = cfg.lora.r;
  for (const [name, t] of st.tensors) {
    // PEFT's shapes: lora_A (r, in), lora_B (out, r); a transposed tensor has the right size but not this shape.
    const role = /\.lora_A\.weight$/.test(name) ? 'A' : /\.lora_B\.weight$/.test(name) ? 'B' : null;
    if (role && !(t.shape.length === 2 && t.shape[role === 'A' ? 0 : 1] === r)) {
      const flipped = t.shape.length === 2 && t.shape[role === 'A' ? 1 : 0] === r ? ' (transposed?)' : '';
      const peft = role === 'A' ? '[r, in]' : '[out, r]';
      throw new Error(`${label}: adapter tensor ${name} has shape [${t.shape.join(', ')}]${flipped}; PEFT's lora_${role} is ${peft} with r = ${r} from ${cfgPath}`);
    }
    assertFinite(`${label}: adapter tensor ${name}`, t.data, ': the adapter is broken (saved from a run that diverged?); refused');
    tensors.set(name, t.data);
  }
  return { lora: cfg.lora, baseModel: cfg.baseModel, tensors };
}

/** Most bytes adapter_config.json may inflate to (settings are a few KB). */
const MAX_ZIPPED_CONFIG = 16 * 1024 * 1024;

/**
 * A PEFT adapter from a zip of its folder. Only the two files are inflated, each within the
 * decompression limits (src/data/io/limits.ts) checked while it inflates; `limits` tightens them.
 */
export function readPeftZip(bytes: Uint8Array, label = 'adapter zip', limits: Partial<InflateLimits> = {}): AdapterData {
  let entries: ZipEntry[];
  try {
    entries = zipEntries(bytes);
  } catch (e) {
    throw new Error(`${label}: not a zip file (${(e as Error).message})`);
  }
  const files: Record<string, Uint8Array> = {};
  for (const entry of entries) {
    const config = entry.name.endsWith(ADAPTER_CONFIG);
    if (!config && !entry.name.endsWith(ADAPTER_WEIGHTS)) continue;
    const cap = config ? { ...limits, maxBytes: Math.min(limits.maxBytes ?? Infinity, MAX_ZIPPED_CONFIG) } : limits;
    try {
      files[entry.name] = readZipEntry(bytes, entry, `${label}: ${entry.name}`, cap);
    } catch (e) {
      if (e instanceof ZipFormatError) throw new Error(`${label}: a damaged zip (${e.message.replace(`${label}: `, '')})`);
      throw e;
    }
  }
  return readPeftFiles(files, label);
}
