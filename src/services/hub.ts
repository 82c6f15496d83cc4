// The Hub on the page (src/hub/client.ts does the talking): list a dataset repository's files by
// split and fetch one for the Data page's import flow; push a run's adapter (PEFT files + a model
// card) or a labelled dataset (TRL's format + a card) to a repository with the user's token.
// The token: only in memory, unless the person asks to keep it on this device (localStorage); it
// goes into no log, download or hand-off.

import { TrlExporter } from '../data/export/trl.js';
import type { PrefRecord } from '../data/records.js';
import { peftFiles } from '../engine/export/peft.js';
import type { MethodId } from '../engine/methods/registry.js';
import type { TrainingConfig } from '../engine/training/config.js';
import { datasetSplits, downloadRepoFile, listRepoFiles, pushFiles, type DatasetSplitFiles, type PushResult } from '../hub/client.js';
import { adapterModelCard, datasetCard } from '../hub/model-card.js';
import type { AdapterData, LoadedModel } from './export.js';

const TOKEN_KEY = 'prefstudio.hubToken';

/** The Hub's address: huggingface.co, or (tests, a local mirror) a server on this machine. */
let hubUrl: string | undefined;
export function useHubEndpoint(url: string | undefined): void {
  hubUrl = url;
}

/** A token kept on this device by request, or null. */
export function keptToken(): string | null {
  return globalThis.localStorage?.getItem(TOKEN_KEY) ?? null;
}

/** Keeps the token on this device (`keep`), or forgets any kept one. */
export function keepToken(token: string | null): void {
  if (token) globalThis.localStorage?.setItem(TOKEN_KEY, token);
  else globalThis.localStorage?.removeItem(TOKEN_KEY);
}

export async function hubDatasetSplits(id: string, revision: string, token?: string): Promise<DatasetSplitFiles[]> {
  return datasetSplits(await listRepoFiles(id, 'dataset', { hubUrl, revision, accessToken: token || undefined }), id);
}

/** One file of a dataset repository, named for the import flow. */
export async function hubDatasetFile(id: string, path: string, revision: string, token?: string): Promise<{ blob: Blob; fileName: string }> {
  const blob = await downloadRepoFile(id, 'dataset', path, { hubUrl, revision, accessToken: token || undefined });
  return { blob, fileName: path.split('/').pop()! };
}

export interface AdapterPush {
  repo: string;
  token: string;
  private: boolean;
  model: LoadedModel;
  adapter: AdapterData;
  /** The run's settings, when the adapter is a run's. */
  config: TrainingConfig | null;
  /** Hub id of the base model, when known (src/hub-id.ts resolves it). */
  baseModel?: string;
  data?: { name: string; records?: number; hubId?: string };
  metrics?: Record<string, number>;
  steps?: number;
}

export async function pushAdapter(p: AdapterPush): Promise<PushResult> {
  const files: Record<string, Uint8Array | string> = { ...peftFiles(p.model, p.adapter) };
  const c = p.config;
  files['README.md'] = adapterModelCard({
    baseModel: p.baseModel,
    baseModelName: p.model.source.label,
    method: c?.method as MethodId | undefined,
    lora: p.adapter.lora,
    data: p.data,
    metrics: p.metrics,
    steps: p.steps,
    settings: c ? { learning_rate: c.learning_rate, max_steps: c.max_steps, per_device_train_batch_size: c.per_device_train_batch_size, seed: c.seed } : undefined,
  });
  return pushFiles(p.repo, 'model', files, { hubUrl, accessToken: p.token, private: p.private, title: `PrefStudio: ${c?.method ?? 'LoRA'} adapter` });
}

/** A labelled dataset in TRL's preference format (data/train.jsonl, data/test.jsonl) with a card. */
export async function pushDataset(p: { repo: string; token: string; private: boolean; name: string; records: readonly PrefRecord[] }): Promise<PushResult & { rows: number }> {
  const exporter = new TrlExporter({ shape: 'preference' });
  const lines: Record<'train' | 'test', string[]> = { train: [], test: [] };
  for (const r of p.records) for (const row of exporter.convert(r)) lines[r.split === 'test' ? 'test' : 'train'].push(JSON.stringify(row));
  if (lines.train.length + lines.test.length === 0) throw new Error(`${p.name}: no record can be written as a preference pair (${exporter.skippedCount} skipped)`);
  const files: Record<string, string> = { 'README.md': datasetCard({ name: p.name, records: lines.train.length + lines.test.length, format: 'preference' }) };
  if (lines.train.length) files['data/train.jsonl'] = lines.train.join('\n') + '\n';
  if (lines.test.length) files['data/test.jsonl'] = lines.test.join('\n') + '\n';
  const r = await pushFiles(p.repo, 'dataset', files, { hubUrl, accessToken: p.token, private: p.private, title: `PrefStudio: ${p.name}` });
  return { ...r, rows: lines.train.length + lines.test.length };
}
