// The dataset browser's work on the workspace. Every scan (search, filters, statistics,
// deduplication, split) and every bulk edit runs in the browse Worker; the page gets id lists and
// reads only the rows in view. A new search cancels the one still running.
import * as Comlink from 'comlink';
import { getRecords } from '../db/index.js';
import type { BrowseApi, BrowseFilter, BrowseProgress, BrowseResult, IdList, Row } from '../worker/browse-api.js';
import { workspace } from './data.js';

export type { BrowseApi, BrowseFilter, BrowseProgress, BrowseResult, BrowseStats, IdList, LabelFilter, LengthStats, Row } from '../worker/browse-api.js';
export { labelOf, NO_FILTER, responsesOf, stableJson } from '../worker/browse-api.js';

let backend: BrowseApi | null = null;

/** Tests: run the browse work in-process (createBrowseApi over a fake-indexeddb workspace). */
export function useBrowseBackend(api: BrowseApi): void {
  backend = api;
}

/** The browse Worker (created on first use). */
export function browseBackend(): BrowseApi {
  if (backend) return backend;
  const worker = new Worker(new URL('../worker/browse.worker.ts', import.meta.url), { type: 'module', name: 'prefstudio-browse' });
  const remote = Comlink.wrap<BrowseApi>(worker);
  const progress = (f?: (p: BrowseProgress) => void) => f && Comlink.proxy(f);
  backend = {
    browse: (jobId, datasetId, filter, onProgress) => remote.browse(jobId, datasetId, filter, progress(onProgress)),
    cancel: (jobId) => void remote.cancel(jobId),
    deduplicate: (jobId, datasetId, onProgress) => remote.deduplicate(jobId, datasetId, progress(onProgress)),
    remove: (ids) => remote.remove(ids),
    edit: (id, record) => remote.edit(id, record),
    split: (ids, testFraction, seed) => remote.split(ids, testFraction, seed),
    undo: (token) => remote.undo(token),
    forget: (tokens) => void remote.forget(tokens),
  };
  return backend;
}

export function isCancelled(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

let browseJobs = 0;
let currentBrowse: string | null = null;

/** The matching ids (in id order) and statistics of what matched; cancels the previous browse.
 *  `onProgress` may give the ids before the statistics. */
export function browse(datasetId: string, filter: BrowseFilter, onProgress?: (p: BrowseProgress) => void): Promise<BrowseResult> {
  const api = browseBackend();
  if (currentBrowse) api.cancel(currentBrowse);
  const jobId = `browse-${++browseJobs}`;
  currentBrowse = jobId;
  return api.browse(jobId, datasetId, filter, onProgress).finally(() => {
    if (currentBrowse === jobId) currentBrowse = null;
  });
}

let dedupJobs = 0;

/** Removes the later copies of records with the same content (everything but provenance). */
export function deduplicate(datasetId: string, onProgress?: (p: BrowseProgress) => void): Promise<{ removed: number; token: string | null }> {
  return browseBackend().deduplicate(`dedup-${++dedupJobs}`, datasetId, onProgress);
}

/** The rows the table shows: a page of ids, read here (a small read). */
export async function loadRows(ids: number[]): Promise<Row[]> {
  return (await getRecords(await workspace(), ids)).filter((r): r is Row => r !== undefined);
}

export const removeRows = (ids: IdList | number[]) => browseBackend().remove(ids);
export const editRow = (id: number, record: unknown) => browseBackend().edit(id, record);
/** Puts `testFraction` of the given records in test and the rest in train, by a seeded shuffle. */
export const assignSplit = (ids: IdList | number[], testFraction: number, seed: number) => browseBackend().split(ids, testFraction, seed);
export const undoChange = (token: string) => browseBackend().undo(token);
export const forgetChanges = (tokens: string[]) => {
  if (tokens.length) browseBackend().forget(tokens);
};
