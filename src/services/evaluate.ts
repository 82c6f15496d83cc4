// Evaluation seen from the page: scoring through the engine Worker (src/worker/evaluate.ts),
// imported PEFT adapters (read here, kept in the Worker), generations side by side with the same
// seed, blind A/B judgements and their win rate with a Wilson interval, judged pairs saved back
// as preference records with their provenance, and the run history (rename, delete, fingerprint
// of the data, a report zip). Tests put in a fake-indexeddb workspace and an in-process backend.
import * as Comlink from 'comlink';
import { zipSync } from 'fflate';
import type { PairRecord, PrefRecord, Turns } from '../data/records.js';
import { recordContent } from '../data/records.js';
import { addRecords, createDataset, getRun as dbGetRun, iterateRecords, latestCheckpoint, updateRun, type RunRow } from '../db/index.js';
import type { FileLike } from '../engine/model/source.js';
import { sha256Hex } from '../engine/training/ref-cache.js';
import { decodeCheckpoint, type StepMetrics } from '../engine/training/trainer.js';
import {
  PEFT_ADAPTER_PREFIX,
  type EvaluateProgress,
  type EvaluateRequest,
  type EvaluateResult,
  type EvaluateWorkerApi,
} from '../worker/evaluate-protocol.js';
import type { GenerateRequest, GenerationSummary, WorkerFailure, WorkerResult } from '../worker/protocol.js';
import { workspace } from './data.js';
import { openAdapter } from './export.js';
import { engineWorker } from './gpu.js';
import { deleteRun as trainDeleteRun } from './train.js';

export type { EvaluateProgress, EvaluateRequest, EvaluateResult };
/** A prompt as readable text (a conversation as "role: content" lines, system first). */
export { promptText } from '../engine/model/prompt.js';

/** What evaluation needs of the engine Worker. */
export interface EvaluateBackend extends EvaluateWorkerApi {
  generate(taskId: string, request: GenerateRequest): Promise<WorkerResult<GenerationSummary>>;
  cancel(taskId: string): Promise<void>;
}

let backend: EvaluateBackend | null = null;

/** Tests: evaluate through this backend (the Worker module in-process) instead of the engine Worker. */
export function useEvaluateBackend(b: EvaluateBackend | null): void {
  backend = b;
}

function evaluateBackend(): EvaluateBackend {
  if (backend) return backend;
  const remote = engineWorker();
  return {
    registerAdapter: (id, a) => remote.registerAdapter(id, a),
    forgetAdapter: (id) => remote.forgetAdapter(id),
    evaluate: (taskId, request, onProgress) => remote.evaluate(taskId, request, onProgress && Comlink.proxy(onProgress)),
    // The base model unless the request names an adapter (not the Train page's sampling choice).
    generate: (taskId, request) => remote.generate(taskId, request),
    cancel: (taskId) => remote.cancel(taskId),
  };
}

function failure(e: unknown): WorkerFailure {
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name || 'Error', code: 'worker', message: err.message };
}

let taskCount = 0;
const newTaskId = (kind: string) => `${kind}-${++taskCount}-${Date.now().toString(36)}`;

export interface RunningEvaluation {
  taskId: string;
  result: Promise<WorkerResult<EvaluateResult>>;
  cancel(): void;
}

export function evaluate(request: EvaluateRequest, onProgress?: (p: EvaluateProgress) => void): RunningEvaluation {
  const taskId = newTaskId('evaluate');
  const b = evaluateBackend();
  const result = b.evaluate(taskId, request, onProgress).catch((e: unknown): WorkerResult<EvaluateResult> => ({ ok: false, error: failure(e) }));
  return { taskId, result, cancel: () => void b.cancel(taskId).catch(() => {}) };
}

// ---- imported PEFT adapters ----

export interface ImportedAdapterInfo {
  id: string;
  name: string;
  baseModel: string;
  r: number;
  alpha: number;
  tensors: number;
}

/** Reads a PEFT adapter (folder files or one zip) and hands it to the Worker under a new id. */
export async function importAdapter(files: readonly FileLike[], name?: string): Promise<ImportedAdapterInfo> {
  if (files.length === 0) throw new Error('pick a PEFT adapter: its folder (adapter_config.json, adapter_model.safetensors) or a zip of it');
  const data = await openAdapter(files);
  const label = name ?? (files[0]!.webkitRelativePath?.split('/')[0] || files[0]!.name.replace(/\.zip$/, ''));
  const id = `${PEFT_ADAPTER_PREFIX}${crypto.randomUUID()}`;
  await evaluateBackend().registerAdapter(id, { name: label, lora: data.lora, baseModel: data.baseModel, tensors: data.tensors });
  return { id, name: label, baseModel: data.baseModel, r: data.lora.r, alpha: data.lora.lora_alpha, tensors: data.tensors.size };
}

export async function forgetAdapter(id: string): Promise<void> {
  await evaluateBackend().forgetAdapter(id);
}

// ---- generations side by side ----

export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  maxNewTokens: number;
  seed: number;
}

/** A prompt to sample: text or a record's whole conversation, with its system prompt. */
export interface EvalPrompt {
  prompt: Turns;
  system?: string;
}

/** One side of a comparison: the base model (adapterId null) or an adapter, with its label. */
export interface Side {
  adapterId: string | null;
  label: string;
}

export interface SideBySide extends EvalPrompt {
  a: string;
  b: string;
}

/**
 * Samples every prompt with side a and side b, the same seed and settings for both, so only the
 * adapter differs. A prompt is its whole conversation and system prompt, through the chat template
 * when the tokenizer has one (useChatTemplate 'auto', the default). `onEach` sees each finished
 * prompt; the signal stops between generations.
 */
export async function generateSideBySide(
  prompts: readonly (string | EvalPrompt)[],
  sides: readonly [Side, Side],
  settings: SamplingSettings,
  options: { signal?: AbortSignal; onEach?: (row: SideBySide, index: number) => void; useChatTemplate?: boolean | 'auto' } = {},
): Promise<SideBySide[]> {
  const b = evaluateBackend();
  const out: SideBySide[] = [];
  const one = async (p: EvalPrompt, side: Side): Promise<string> => {
    const taskId = newTaskId('sample');
    const stop = () => void b.cancel(taskId).catch(() => {});
    options.signal?.addEventListener('abort', stop);
    try {
      const r = await b.generate(taskId, {
        prompt: p.prompt, ...(p.system !== undefined ? { system: p.system } : {}),
        useChatTemplate: options.useChatTemplate ?? 'auto', stopStrings: [], ...settings, ...(side.adapterId ? { adapterId: side.adapterId } : {}),
      });
      if (!r.ok) throw Object.assign(new Error(`${side.label}: ${r.error.message}`), { name: r.error.name });
      return r.value.text;
    } finally {
      options.signal?.removeEventListener('abort', stop);
    }
  };
  for (const [i, given] of prompts.entries()) {
    if (options.signal?.aborted) break;
    const p: EvalPrompt = typeof given === 'string' ? { prompt: given } : given;
    const row: SideBySide = { ...p, a: await one(p, sides[0]), b: await one(p, sides[1]) };
    out.push(row);
    options.onEach?.(row, i);
  }
  return out;
}

/** Distinct prompts of a dataset's split (or all), first `count`: each record's whole prompt (every turn) and system prompt. */
export async function datasetPrompts(datasetId: string, split: 'train' | 'test' | 'all', count: number): Promise<EvalPrompt[]> {
  const db = await workspace();
  const seen = new Map<string, EvalPrompt>();
  for await (const page of iterateRecords(db, datasetId)) {
    for (const r of page) {
      if (split !== 'all' && r.split !== split) continue;
      const empty = typeof r.prompt === 'string' ? !r.prompt.trim() : r.prompt.length === 0;
      if (!empty) seen.set(JSON.stringify([r.prompt, r.system ?? null]), { prompt: r.prompt, ...(r.system !== undefined ? { system: r.system } : {}) });
      if (seen.size >= count) return [...seen.values()];
    }
  }
  return [...seen.values()];
}

// ---- blind A/B judging ----

export type Verdict = 'left' | 'right' | 'tie' | 'skip';

/** A pair shown blind: which side (a or b) is on the left was drawn at random. */
export interface BlindItem extends SideBySide {
  left: 'a' | 'b';
  verdict?: Verdict;
}

export function blindItems(rows: readonly SideBySide[], random: () => number = Math.random): BlindItem[] {
  return rows.map((r) => ({ ...r, left: random() < 0.5 ? 'a' : 'b' }));
}

/** Which side won a judged item: 'a', 'b', 'tie', or null (skipped or not judged). */
export function winner(item: BlindItem): 'a' | 'b' | 'tie' | null {
  if (item.verdict === 'tie') return 'tie';
  if (item.verdict !== 'left' && item.verdict !== 'right') return null;
  const right = item.left === 'a' ? 'b' : 'a';
  return item.verdict === 'left' ? item.left : right;
}

export interface Interval {
  low: number;
  high: number;
}

/**
 * Wilson score interval of a proportion with `successes` out of `n` (z = 1.96: 95 %):
 *   (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)
 * Ties count as half a success (a fractional count is fine in the formula).
 */
export function wilsonInterval(successes: number, n: number, z = 1.959963984540054): Interval {
  if (n <= 0) return { low: 0, high: 1 };
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

export interface WinRate {
  /** Side a's wins, losses (b's wins) and ties among judged items; skips do not count. */
  wins: number;
  losses: number;
  ties: number;
  n: number;
  /** (wins + ties / 2) / n; NaN with nothing judged. */
  rate: number;
  interval: Interval;
}

export function winRate(items: readonly BlindItem[]): WinRate {
  let wins = 0, losses = 0, ties = 0;
  for (const it of items) {
    const w = winner(it);
    if (w === 'a') wins++;
    else if (w === 'b') losses++;
    else if (w === 'tie') ties++;
  }
  const n = wins + losses + ties;
  const s = wins + ties / 2;
  return { wins, losses, ties, n, rate: n > 0 ? s / n : NaN, interval: wilsonInterval(s, n) };
}

export interface JudgedProvenance {
  /** The base model's name. */
  model: string;
  sides: readonly [Side, Side];
  sampling: SamplingSettings;
  annotator?: string;
}

/**
 * Judged items as preference pairs (ties and skips left out), with where each response came from.
 * A conversation keeps its turns and system prompt; its responses become assistant messages.
 */
export function judgedRecords(items: readonly BlindItem[], p: JudgedProvenance, now = Date.now()): PairRecord[] {
  const out: PairRecord[] = [];
  for (const it of items) {
    const w = winner(it);
    if (w !== 'a' && w !== 'b') continue;
    const [win, lose] = w === 'a' ? [p.sides[0], p.sides[1]] : [p.sides[1], p.sides[0]];
    const response = (text: string): Turns => (typeof it.prompt === 'string' ? text : [{ role: 'assistant', content: text }]);
    out.push({
      kind: 'pair',
      prompt: it.prompt,
      ...(it.system !== undefined ? { system: it.system } : {}),
      chosen: response(w === 'a' ? it.a : it.b),
      rejected: response(w === 'a' ? it.b : it.a),
      source: {
        type: 'generated',
        model: p.model,
        // The record source has one adapter field: both sides, chosen first.
        adapter: `chosen: ${win.label}; rejected: ${lose.label}`,
        sampling: { temperature: p.sampling.temperature, topP: p.sampling.topP, topK: p.sampling.topK, maxTokens: p.sampling.maxNewTokens, seed: p.sampling.seed },
      },
      ...(p.annotator ? { annotator: p.annotator } : {}),
      annotatedAt: now,
      createdAt: now,
      split: 'train',
      tags: ['blind-ab', `chosen:${win.label}`, `rejected:${lose.label}`],
    });
  }
  return out;
}

/** Saves the judged pairs into a dataset (an existing id, or a new one by name); returns the dataset id and count. */
export async function saveJudgedPairs(
  items: readonly BlindItem[],
  p: JudgedProvenance,
  target: { datasetId: string } | { newName: string },
): Promise<{ datasetId: string; saved: number }> {
  const records = judgedRecords(items, p);
  if (records.length === 0) throw new Error('no judged pair to save: ties and skips are not preference pairs');
  const db = await workspace();
  const datasetId = 'datasetId' in target ? target.datasetId : (await createDataset(db, target.newName.trim() || 'judged pairs')).id;
  const ids = await addRecords(db, datasetId, records);
  return { datasetId, saved: ids.length };
}

// ---- run history ----

export async function renameRun(id: string, name: string): Promise<void> {
  const n = name.trim();
  if (!n) throw new Error('a run needs a name');
  await updateRun(await workspace(), id, { name: n });
}

export function deleteRun(id: string): Promise<void> {
  return trainDeleteRun(id);
}

export async function getRun(id: string): Promise<RunRow | undefined> {
  return dbGetRun(await workspace(), id);
}

/** A fingerprint of a dataset's records now (content and split, in id order; not ids or dates). */
export async function datasetFingerprint(datasetId: string): Promise<{ fingerprint: string; records: number }> {
  const db = await workspace();
  const parts: string[] = [];
  for await (const page of iterateRecords(db, datasetId)) for (const r of page) parts.push(JSON.stringify([recordContent(r as PrefRecord), r.split]));
  return { fingerprint: (await sha256Hex(parts.join('\n'))).slice(0, 16), records: parts.length };
}

/** The fingerprint of the examples the run trained on, from its last checkpoint (null: none yet). */
export async function trainedDataFingerprint(runId: string): Promise<string | null> {
  const ck = await latestCheckpoint(await workspace(), runId);
  return ck ? decodeCheckpoint(ck.bytes).dataFingerprint.slice(0, 16) || null : null;
}

/** The metric names a run logged, in a stable order (loss first). */
export function metricKeys(metrics: readonly StepMetrics[]): string[] {
  const keys = new Set<string>();
  for (const m of metrics) for (const [k, v] of Object.entries(m)) if (k !== 'step' && typeof v === 'number') keys.add(k);
  return [...keys].sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : a.localeCompare(b)));
}

export function metricsCsv(metrics: readonly StepMetrics[]): string {
  const keys = ['step', ...metricKeys(metrics)];
  const cell = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '');
  return [keys.join(','), ...metrics.map((m) => keys.map((k) => cell((m as Record<string, unknown>)[k])).join(','))].join('\n') + '\n';
}

export interface ReportChart {
  /** File name without extension ('loss'). */
  name: string;
  png: Uint8Array;
}

/**
 * A run's report as a zip: README.md (summary), config.json (the whole TrainingConfig), run.json
 * (the row without its metrics), metrics.json and metrics.csv (every step, TRL names), charts/*.png,
 * and evaluation.json when an evaluation is given.
 */
export function runReportZip(run: RunRow, charts: readonly ReportChart[], extra: { dataFingerprint?: string; evaluation?: EvaluateResult } = {}): Uint8Array {
  const enc = new TextEncoder();
  const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');
  const { metrics, ...row } = run;
  const last = metrics.at(-1);
  const summary = [
    `# ${run.name}`,
    '',
    `- status: ${run.status}, step ${run.step} of ${run.totalSteps}`,
    `- method: ${run.config.method}${run.config.beta !== undefined ? `, beta ${run.config.beta}` : ''}`,
    `- model: ${run.modelName} (${run.modelId})`,
    `- dataset: ${run.datasetName} (${run.datasetId})${extra.dataFingerprint ? `, fingerprint ${extra.dataFingerprint}` : ''}`,
    `- LoRA: r ${run.config.lora.r}, alpha ${run.config.lora.lora_alpha}, targets ${JSON.stringify(run.config.lora.target_modules)}`,
    `- created ${new Date(run.createdAt).toISOString()}`,
    ...(last ? ['', '## Last logged step', '', ...metricKeys([last]).map((k) => `- ${k}: ${(last as Record<string, number>)[k]}`)] : []),
    ...(extra.evaluation
      ? ['', `## Evaluation (${extra.evaluation.split} split, beta ${extra.evaluation.beta}, ${extra.evaluation.pairs.length} pairs)`, '', '| model | accuracy | mean margin |', '|---|---|---|',
          ...extra.evaluation.models.map((m) => `| ${m.name} | ${m.accuracy.toFixed(3)} | ${m.meanMargin.toFixed(4)} |`)]
      : []),
    '',
    ...(charts.length ? ['## Charts', '', ...charts.map((c) => `![${c.name}](charts/${c.name}.png)`), ''] : []),
  ].join('\n');
  const files: Record<string, Uint8Array> = {
    'README.md': enc.encode(summary),
    'config.json': json(run.config),
    'run.json': json(row),
    'metrics.json': json(metrics),
    'metrics.csv': enc.encode(metricsCsv(metrics)),
  };
  for (const c of charts) files[`charts/${c.name.replace(/[^\w.-]+/g, '_')}.png`] = c.png;
  if (extra.evaluation) files['evaluation.json'] = json(extra.evaluation);
  return zipSync(files);
}
