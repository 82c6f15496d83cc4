// Shared bits of the export tests: a non-zero random adapter for a loaded model, our engine's
// logits with an adapter plugged in, and onnxruntime-web's logits of a model folder in memory.
import * as ort from 'onnxruntime-web';
import { testEngine } from '#test-engine';
import { adapterModules, loraAName, loraBName, moduleSlots, type AdapterData } from '../../src/engine/export/modules.js';
import type { MergedOnnx } from '../../src/engine/export/merge.js';
import { LoraAdapter, matchesTarget } from '../../src/engine/lora/adapter.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { referenceLogits, referenceSession } from '../../src/engine/model/ort-reference.js';
import { memorySource } from '../../src/engine/model/source.js';
import type { LoraSettings } from '../../src/engine/training/config.js';
import { seededRandom } from '../../src/engine/transformer/sampling.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { folderFiles } from '../model/helpers.js';

ort.env.wasm.numThreads = 1;

export interface Batch {
  B: number;
  T: number;
  ids: number[];
}

export function randomBatch(vocab: number, B = 2, T = 6, seed = 3): Batch {
  const rnd = seededRandom(seed);
  return { B, T, ids: Array.from({ length: B * T }, () => 3 + Math.floor(rnd() * (vocab - 3))) };
}

/**
 * A PEFT adapter with random non-zero A and B (B is zero only at PEFT's init, which would
 * prove nothing), scaled so that it moves the logits by O(0.1..1).
 */
export function randomAdapter(model: LoadedModel, lora: Partial<LoraSettings> = {}, seed = 11): AdapterData {
  const settings: LoraSettings = { r: 4, lora_alpha: 8, lora_dropout: 0, use_rslora: false, target_modules: 'all-linear', ...lora };
  const rnd = seededRandom(seed);
  const tensors = new Map<string, Float32Array>();
  for (const s of moduleSlots(model)) {
    if (!matchesTarget(s.path, settings.target_modules)) continue;
    const r = settings.r;
    tensors.set(loraAName(s.path), Float32Array.from({ length: r * s.inFeatures }, () => (2 * rnd() - 1) / Math.sqrt(s.inFeatures)));
    tensors.set(loraBName(s.path), Float32Array.from({ length: s.outFeatures * r }, () => (2 * rnd() - 1) * 0.2));
  }
  return { lora: settings, baseModel: 'test/tiny', tensors };
}

/** Our engine's (B, T, V) logits with the adapter loaded into a LoraAdapter (null: the base model). */
export async function engineLogits(model: LoadedModel, adapter: AdapterData | null, batch: Batch): Promise<Float32Array> {
  const engine = await testEngine();
  const tm = TransformerModel.create(engine, model.config, model.transformerWeights());
  let ad: LoraAdapter | null = null;
  try {
    if (adapter) {
      adapterModules(model, adapter); // same checks as the exporters
      const l = adapter.lora;
      ad = LoraAdapter.create(tm, { r: l.r, alpha: l.lora_alpha, dropout: 0, useRslora: l.use_rslora, targetModules: l.target_modules });
      ad.load(adapter.tensors);
    }
    return await tm.logits({ B: batch.B, T: batch.T, ids: Int32Array.from(batch.ids), mask: null });
  } finally {
    ad?.destroy();
    tm.destroy();
  }
}

/** A model folder in memory: the fixture's files with the .onnx (and its data) replaced by `merged`. */
export async function loadMerged(dir: string, original: LoadedModel, merged: MergedOnnx): Promise<LoadedModel> {
  const files: Record<string, Uint8Array> = folderFiles(dir);
  const folder = original.onnx.file.includes('/') ? original.onnx.file.slice(0, original.onnx.file.lastIndexOf('/') + 1) : '';
  for (const d of original.externalData()) delete files[folder + d.path];
  files[original.onnx.file] = merged.onnx;
  if (merged.data) {
    const data = new Uint8Array(merged.data.size);
    let at = 0;
    for (const c of merged.data.chunks) {
      data.set(c, at);
      at += c.byteLength;
    }
    files[folder + merged.data.fileName] = data;
  }
  return loadModel(memorySource(files, `merged ${dir}`), { onnx: original.onnx.file, acknowledge: ['tokenizer-vocab-mismatch'] });
}

/** onnxruntime-web (wasm, Node) logits of a loaded model. */
export async function ortLogits(model: LoadedModel, batch: Batch): Promise<Float32Array> {
  const session = await referenceSession(ort, model);
  try {
    return await referenceLogits(ort, session, model, batch);
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}
