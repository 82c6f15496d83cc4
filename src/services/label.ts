// The Label page's services: the queue and labels in the workspace database (every decision is
// written at once, with its record, in one transaction), annotator settings kept in this browser,
// and candidates sampled from the current model (on-policy) through the Models service.
import type { RecordSource, Turns } from '../data/records.js';
import {
  getRecords,
  labelsOf,
  labelsOfSharedTasks,
  listDatasets,
  recordIds,
  saveLabel,
  undoLabel,
  type DatasetRow,
  type LabelRow,
  type NewLabel,
  type StoredRecord,
} from '../db/index.js';
import { SETTINGS } from '../engine/methods/settings.js';
import { stepContext } from '../engine/training/tokenize.js';
import { workspace } from './data.js';
import { agreement, type AgreementReport } from './label-agreement.js';
import { activeModel, generate } from './models.js';

export async function labelSources(): Promise<DatasetRow[]> {
  return listDatasets(await workspace());
}

export interface QueueState {
  /** Record ids still to label: never seen first, then skipped ones. */
  queue: number[];
  total: number;
  labelled: number;
  /** Records whose latest label by this annotator is a skip. */
  skippedIds: number[];
}

/** The annotator's queue on a dataset, from what is stored (so a reload resumes where it was). */
export async function loadQueue(sourceId: string, annotator: string): Promise<QueueState> {
  const db = await workspace();
  const ids = await recordIds(db, sourceId);
  const latest = new Map<number, LabelRow>();
  for (const l of await labelsOf(db, sourceId, annotator)) latest.set(l.sourceRecordId, l);
  const fresh: number[] = [];
  const skipped: number[] = [];
  let labelled = 0;
  for (const id of ids) {
    const l = latest.get(id);
    if (!l) fresh.push(id);
    else if (l.decision.type === 'skip') skipped.push(id);
    else labelled++;
  }
  return { queue: [...fresh, ...skipped], total: ids.length, labelled, skippedIds: skipped };
}

export async function loadRecord(id: number): Promise<(StoredRecord & { id: number }) | undefined> {
  const [r] = await getRecords(await workspace(), [id]);
  return r as (StoredRecord & { id: number }) | undefined;
}

export async function recordLabel(label: NewLabel, record: unknown | null) {
  return saveLabel(await workspace(), label, record);
}

/** Undoes the annotator's latest label on a dataset; returns it (undefined when there is none). */
export async function undoLatest(sourceId: string, annotator: string): Promise<LabelRow | undefined> {
  const db = await workspace();
  const last = (await labelsOf(db, sourceId, annotator)).at(-1);
  if (!last?.id) return undefined;
  return undoLabel(db, last.id);
}

export async function agreementReport(): Promise<AgreementReport> {
  return agreement(await labelsOfSharedTasks(await workspace()));
}

// Settings that belong to this browser, not to the data: who is labelling, and the guidelines.
const ANNOTATOR_KEY = 'prefstudio.label.annotator';
const GUIDELINES_KEY = 'prefstudio.label.guidelines';
const SOURCE_KEY = 'prefstudio.label.source';

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export const DEFAULT_GUIDELINES = [
  'Prefer the response that answers the prompt correctly, completely and honestly.',
  'Then prefer the clearer, more concise and more helpful one.',
  'Tie: both are equally good. Both bad: neither should be learned from.',
  'Unsure or off-topic for you: skip, and leave it to someone else.',
].join('\n');

export interface LabelSettings {
  annotator: string;
  guidelines: string;
  /** The dataset last labelled here, so a reload comes back to it. */
  sourceId: string | null;
}

export function readLabelSettings(): LabelSettings {
  const s = storage();
  return {
    annotator: s?.getItem(ANNOTATOR_KEY) ?? '',
    guidelines: s?.getItem(GUIDELINES_KEY) ?? DEFAULT_GUIDELINES,
    sourceId: s?.getItem(SOURCE_KEY) ?? null,
  };
}

export function writeLabelSettings(patch: Partial<LabelSettings>): void {
  const s = storage();
  if (patch.annotator !== undefined) s?.setItem(ANNOTATOR_KEY, patch.annotator);
  if (patch.guidelines !== undefined) s?.setItem(GUIDELINES_KEY, patch.guidelines);
  if (patch.sourceId) s?.setItem(SOURCE_KEY, patch.sourceId);
}

export interface GeneratedCandidates {
  /** Text for a text prompt; one assistant message each for a conversation (a record is one or the other). */
  candidates: Turns[];
  source: RecordSource;
}

/**
 * On-policy candidates: `n` samples for the prompt from the model active in the engine Worker
 * (Models page). Rejects with a clear message when no model is loaded. The prompt is the record's
 * whole prompt (every turn) and system prompt, tokenized as training will tokenize the record:
 * a conversation (or a system prompt) through the chat template, text as the tokenizer encodes it.
 * Sampling uses the base model unless the Train page chose an adapter (services/models generate).
 */
export async function generateCandidates(
  input: { prompt: Turns; system?: string },
  n = 2,
  settings = { temperature: 0.9, topK: 0, topP: 0.95, maxNewTokens: 128 },
): Promise<GeneratedCandidates> {
  const active = await activeModel();
  if (!active) throw new Error('no model is loaded: load one on the Models page to generate candidates');
  const conversational = typeof input.prompt !== 'string';
  const seed = Math.floor(Math.random() * 2 ** 31);
  const candidates: Turns[] = [];
  for (let i = 0; i < n; i++) {
    const task = generate({
      prompt: input.prompt,
      ...(input.system !== undefined ? { system: input.system } : {}),
      useChatTemplate: conversational || input.system !== undefined,
      stopStrings: [],
      seed: seed + i,
      ...settings,
    });
    const r = await task.result;
    if (!r.ok) throw new Error(r.error.message);
    candidates.push(conversational ? [{ role: 'assistant', content: r.value.text }] : r.value.text);
  }
  return {
    candidates,
    source: {
      type: 'generated',
      model: active.manifest.name,
      sampling: { temperature: settings.temperature, topP: settings.topP, topK: settings.topK, maxTokens: settings.maxNewTokens, seed },
    },
  };
}

export interface GeneratedStep {
  /** The step, trimmed (cut before the step separator or a newline). */
  text: string;
  /** The model that wrote it. */
  model: string;
}

/**
 * A correct version of the first wrong step of a step-wise record, from the model active in the
 * engine Worker (with the adapter the Train page samples with, if any): the model continues the
 * prompt and the accepted steps joined as step_dpo joins them (training/tokenize.ts stepContext,
 * the step separator's default), the text tokenized as training tokenizes a step-wise record
 * (no chat template), and stops at the step separator or a newline.
 */
export async function generateStep(
  input: { prompt: Turns; system?: string; steps: readonly string[] },
  settings: { temperature: number; topK: number; topP: number; maxNewTokens: number; seed: number },
): Promise<GeneratedStep> {
  if (typeof input.prompt !== 'string') throw new Error('step-wise records are plain text: this prompt is a conversation, so step_dpo cannot train it');
  if (input.system !== undefined) throw new Error('a system prompt needs conversational records: step_dpo cannot train this record');
  const active = await activeModel();
  if (!active) throw new Error('no model is loaded: load one on the Models page to generate a step');
  const separator = SETTINGS.step_separator.default;
  // A sample that ends the step at once (a separator or EOS first) is drawn again, twice at most.
  for (let attempt = 0; attempt < 3; attempt++) {
    const task = generate({
      prompt: stepContext(input.prompt, input.steps, separator),
      useChatTemplate: false,
      stopStrings: [...new Set([separator, '\n'])],
      ...settings,
      seed: settings.seed + attempt,
    });
    const r = await task.result;
    if (!r.ok) throw new Error(r.error.message);
    const text = r.value.text.trim();
    if (text) return { text, model: active.manifest.name };
  }
  throw new Error('the model ended the step without writing one, three times: generate again, or type the step');
}
