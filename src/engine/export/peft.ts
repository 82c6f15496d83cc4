// PEFT adapter folders and zips for export and import. The file formats themselves are
// training/peft.ts's (adapter_config.json, adapter_model.safetensors); this adds the zip (fflate)
// and the check of an adapter against the model it is meant for.

import { unzipSync, zipSync } from 'fflate';
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
  const tensors = new Map([...st.tensors].map(([k, t]) => [k, t.data]));
  return { lora: cfg.lora, baseModel: cfg.baseModel, tensors };
}

/** A PEFT adapter from a zip of its folder. */
export function readPeftZip(bytes: Uint8Array, label = 'adapter zip'): AdapterData {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => f.name.endsWith(ADAPTER_CONFIG) || f.name.endsWith(ADAPTER_WEIGHTS) });
  } catch (e) {
    throw new Error(`${label}: not a zip file (${(e as Error).message})`);
  }
  return readPeftFiles(files, label);
}
