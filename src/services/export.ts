// Export on the page: a base model (a folder the user picks, or one of the studio's stored models)
// and a PEFT adapter (a folder or zip the user picks, or a run of this studio) → the downloads of
// src/engine/export. Host-only work (no GPU); it runs on the main thread, which is
// fine for the small models a browser tunes (a merge reads and writes every weight once).
import type { MethodId } from '../engine/methods/registry.js';
import { fileListSource, type FileLike } from '../engine/model/source.js';
import { loadModel, type LoadedModel } from '../engine/model/load.js';
import { ggufLoraAdapter } from '../engine/export/gguf.js';
import { ggufModel, type GgufModelType } from '../engine/export/gguf-model.js';
import { mergeOnnx } from '../engine/export/merge.js';
import { adapterModules, type AdapterData } from '../engine/export/modules.js';
import { peftFiles, readPeftFiles, readPeftZip, zipFiles } from '../engine/export/peft.js';
import { trlHandoff } from '../engine/export/trl.js';
import { HUB_ID_EXAMPLE, resolveHubBaseModel, type BaseModelInput, type BaseModelResolution } from '../hub-id.js';
import { importAll } from '../data/import/pipeline.js';
import { blobSource } from '../data/io/source.js';
import { parseTrainingConfig, type TrainingConfig } from '../engine/training/config.js';
import { configAsRun } from '../engine/training/memory.js';
import type { PrefRecord } from '../data/records.js';
import { iterateRecords, type RunRow } from '../db/index.js';
import { saveBlob, workspace } from './data.js';
import { modelStore } from './model-store.js';
import { getRun, hasAdapter, listRuns, runAdapterZip } from './train.js';
import type { ModelManifest } from '../worker/protocol.js';

export type { AdapterData, LoadedModel };

// The tokenizer is read too: the whole-model GGUF carries the vocabulary and the chat template.
const LOAD_FOR_EXPORT = { acknowledge: ['tokenizer-vocab-mismatch'] };

export async function openModel(files: readonly FileLike[]): Promise<LoadedModel> {
  return loadModel(fileListSource(files), LOAD_FOR_EXPORT);
}

/** A model of the studio's library (kept in OPFS by the Models page), read from its stored files. */
export async function openStoredModel(id: string): Promise<LoadedModel> {
  const manifest = await modelStore.get(id);
  if (!manifest) throw new Error(`no stored model "${id}": it may have been deleted in another tab`);
  // Paths under one top folder (the id), which fileListSource strips: the manifest's paths then match.
  const files: FileLike[] = (await modelStore.files(id)).map(({ path, file }) => ({
    name: file.name,
    size: file.size,
    webkitRelativePath: `${id}/${path}`,
    arrayBuffer: () => file.arrayBuffer(),
    slice: (start, end) => file.slice(start, end),
  }));
  return loadModel(fileListSource(files, manifest.name), { ...LOAD_FOR_EXPORT, onnx: manifest.onnxFile });
}

/** The studio's runs that have a saved adapter (a checkpoint), newest first. */
export async function runsWithAdapter(): Promise<RunRow[]> {
  const runs = await listRuns();
  const has = await Promise.all(runs.map((r) => hasAdapter(r.id)));
  return runs.filter((_, i) => has[i]);
}

/** A run's adapter at its last checkpoint (the PEFT files the Train page downloads) and its settings. */
export async function openRunAdapter(runId: string): Promise<{ adapter: AdapterData; config: TrainingConfig; run: RunRow }> {
  const run = await getRun(runId);
  if (!run) throw new Error(`run ${runId} no longer exists`);
  const { name, bytes } = await runAdapterZip(runId);
  // The configuration as the run ran it: gradient_checkpointing as its Trainer decided (the TRL hand-off passes a boolean).
  return { adapter: readPeftZip(bytes, name), config: configAsRun(run.config, run.memory), run };
}

/** A PEFT adapter from its two files, a picked folder, or one zip. */
export async function openAdapter(files: readonly FileLike[]): Promise<AdapterData> {
  if (files.length === 1 && files[0]!.name.endsWith('.zip')) return readPeftZip(new Uint8Array(await files[0]!.arrayBuffer()), files[0]!.name);
  const byName: Record<string, Uint8Array> = {};
  for (const f of files) if (/adapter_(config\.json|model\.safetensors)$/.test(f.name)) byName[f.webkitRelativePath || f.name] = new Uint8Array(await f.arrayBuffer());
  return readPeftFiles(byName, files.length === 1 ? files[0]!.name : `${files.length} files`);
}

/** The run settings prefstudio train writes next to an adapter, when one was picked with it. */
export async function openRunConfig(files: readonly FileLike[]): Promise<TrainingConfig | null> {
  const f = files.find((x) => x.name === 'training_config.json');
  return f ? parseTrainingConfig(JSON.parse(new TextDecoder().decode(await f.arrayBuffer())) as unknown) : null;
}

/** Checks the adapter against the model; throws naming the tensor. */
export function checkAdapter(model: LoadedModel, adapter: AdapterData): number {
  return adapterModules(model, adapter).length;
}

const stem = (model: LoadedModel) => model.onnx.file.split('/').pop()!.replace(/\.onnx$/, '');

export function downloadPeftZip(model: LoadedModel, adapter: AdapterData): void {
  saveBlob(new Blob([zipFiles(peftFiles(model, adapter)) as BlobPart]), 'adapter.zip');
}

export function downloadGguf(model: LoadedModel, adapter: AdapterData, dtype: 'f32' | 'f16' = 'f32', method?: MethodId): void {
  const bytes = ggufLoraAdapter(adapterModules(model, adapter), { family: model.family, config: model.config, alpha: adapter.lora.lora_alpha, r: adapter.lora.r, useRslora: adapter.lora.use_rslora, dtype, method });
  saveBlob(new Blob([bytes as BlobPart]), `adapter-${dtype}.gguf`);
}

/** The whole model, the adapter merged, as one llama.cpp GGUF (refused naming why llama.cpp could not run it). */
export function downloadGgufModel(model: LoadedModel, adapter: AdapterData, type: GgufModelType = 'f16', method?: MethodId): { fallbacks: string[] } {
  const g = ggufModel(model, adapter, { type, method, name: `${stem(model)}-merged` });
  saveBlob(new Blob(g.chunks as BlobPart[]), `${stem(model)}-merged-${type}.gguf`);
  return { fallbacks: g.fallbacks };
}

/** The merged .onnx alone, or with its external data as two downloads. */
export function downloadMerged(model: LoadedModel, adapter: AdapterData): { files: number } {
  const merged = mergeOnnx(model, adapter, { fileName: `${stem(model)}-merged.onnx` });
  saveBlob(new Blob([merged.onnx as BlobPart]), merged.fileName);
  if (merged.data) saveBlob(new Blob(merged.data.chunks as BlobPart[]), merged.data.fileName);
  return { files: merged.data ? 2 : 1 };
}

/** Settings for the hand-off of an adapter that came without its run's: the method picked, its LoRA. */
export function handoffConfig(method: string, adapter: AdapterData): TrainingConfig {
  return parseTrainingConfig({ method, lora: adapter.lora });
}

/** Where the hand-off's records come from: a file (any format the Data page imports) or a dataset of the studio. */
export type HandoffData = { kind: 'file'; file: File } | { kind: 'studio'; datasetId: string };

/** A studio dataset's records in id order, as the Data page stores them (split included). */
async function studioRecords(datasetId: string): Promise<PrefRecord[]> {
  const records: PrefRecord[] = [];
  for await (const page of iterateRecords(await workspace(), datasetId)) for (const r of page) records.push(r);
  return records;
}

/** The records of a hand-off's data (a file read by the importer, or a studio dataset). */
export async function handoffRecords(data: HandoffData): Promise<PrefRecord[]> {
  return data.kind === 'file' ? (await importAll(blobSource(data.file))).records : studioRecords(data.datasetId);
}

/** How the Export page asks for the base model's Hub id, in messages. */
const BASE_MODEL_FIELD: BaseModelInput = { name: 'the base model', example: HUB_ID_EXAMPLE, source: "the Export page's base model field" };

/**
 * The hand-off's base model (src/hub-id.ts): the Hub id typed on the page, else the model's own:
 * the adapter's base_model_name_or_path, config.json's _name_or_path, or the Hub URL a model of
 * the library was loaded from (`loadedFrom`: its manifest's source).
 */
export function handoffBaseModel(model: LoadedModel, adapter: AdapterData, given: string, loadedFrom?: ModelManifest['source']): BaseModelResolution {
  const nameOrPath = model.configFiles.config?._name_or_path;
  return resolveHubBaseModel({ given, adapter: adapter.baseModel, config: typeof nameOrPath === 'string' ? nameOrPath : undefined, url: loadedFrom?.url }, BASE_MODEL_FIELD);
}

export interface HandoffBaseModel {
  model: LoadedModel;
  /** What the page's field holds (empty: the model's own id). */
  given: string;
  loadedFrom?: ModelManifest['source'];
}

/** TRL hand-off folder as one zip, from the dataset and the run's settings; refuses a base model
 *  that is not a Hub id, naming what was found. */
export async function downloadTrl(adapter: AdapterData, config: TrainingConfig, data: HandoffData, base: HandoffBaseModel): Promise<{ rows: number; skipped: number; baseModel: string }> {
  const baseModel = handoffBaseModel(base.model, adapter, base.given, base.loadedFrom);
  if (!baseModel.ok) throw new Error(baseModel.message);
  const records = data.kind === 'file' ? (await importAll(blobSource(data.file))).records : await studioRecords(data.datasetId);
  const h = trlHandoff({ config: { ...config, lora: adapter.lora }, records, baseModel: baseModel.id, baseModelFrom: baseModel.from });
  const enc = new TextEncoder();
  const zip = zipFiles(Object.fromEntries(Object.entries(h.files).map(([k, v]) => [`trl-handoff/${k}`, enc.encode(v)])));
  saveBlob(new Blob([zip as BlobPart]), 'trl-handoff.zip');
  return { rows: h.rows.train + h.rows.test, skipped: h.skipped.length, baseModel: baseModel.id };
}
