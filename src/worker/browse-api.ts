// The dataset browser's work, done in the browse Worker so the page never scans 100,000 records
// on its main thread: search, filters and statistics (ids first from the indexes, then one scan
// that also fills an in-memory summary, so later searches and filters read no records), the
// deduplication scan, the train/test split, and the edits and deletes with their undo (the rows
// to put back stay here, the page holds only a token). browse.worker.ts exposes it through
// comlink; tests call it directly. Every job can be cancelled; a newer search cancels the last.
import { assertRecord } from '../data/validate.js';
import { recordContent, type PrefRecord, type RecordKind, type Split, type Turns } from '../data/records.js';
import {
  deleteRecords,
  getDataset,
  getRecords,
  indexedIds,
  putRecords,
  scanDataset,
  scanRecords,
  updateRecord,
  DatasetNotFoundError,
  type PrefDb,
  type StoredRecord,
} from '../db/index.js';
import { hash64 } from '../services/label-tasks.js';

export type LabelFilter = 'any' | 'preferred' | 'tie' | 'bothBad' | 'desirable' | 'undesirable';
export type Label = Exclude<LabelFilter, 'any'>;

export interface BrowseFilter {
  search: string;
  kind: RecordKind | 'any';
  split: Split | 'any';
  label: LabelFilter;
  tag: string | 'any';
}

export const NO_FILTER: BrowseFilter = { search: '', kind: 'any', split: 'any', label: 'any', tag: 'any' };

export interface LengthStats {
  min: number;
  median: number;
  mean: number;
  max: number;
}

export interface BrowseStats {
  count: number;
  byKind: Record<RecordKind, number>;
  bySplit: Record<Split, number>;
  /** Label balance: pairs with a preference, ties, both bad; unpaired desirable / undesirable. */
  labels: Record<Label, number>;
  /** Characters of the prompt, and of each response. */
  promptLength: LengthStats | null;
  responseLength: LengthStats | null;
  /** Tags of the whole dataset with their counts (for the tag filter). */
  tags: [string, number][];
}

export type Row = StoredRecord & { id: number };

/** Ids in ascending order (a typed array crosses the Worker boundary as one copy, or none). */
export type IdList = Float64Array;

export interface BrowseProgress {
  /** Records read so far, of `total` (absent when no record had to be read). */
  scanned?: number;
  total?: number;
  /** The matching ids, when known before the statistics (from the indexes): show them now. */
  ids?: IdList;
}

export interface BrowseResult {
  ids: IdList;
  stats: BrowseStats;
}

export interface BrowseApi {
  browse(jobId: string, datasetId: string, filter: BrowseFilter, onProgress?: (p: BrowseProgress) => void): Promise<BrowseResult>;
  /** Stops a running job; it rejects with an AbortError. */
  cancel(jobId: string): void;
  /** Removes the later copies of records with the same content; `token` undoes it. */
  deduplicate(jobId: string, datasetId: string, onProgress?: (p: BrowseProgress) => void): Promise<{ removed: number; token: string | null }>;
  remove(ids: IdList | number[]): Promise<{ removed: number; token: string | null }>;
  edit(id: number, record: unknown): Promise<{ token: string }>;
  /** Seeded: the same seed and ids give the same split. */
  split(ids: IdList | number[], testFraction: number, seed: number): Promise<{ changed: number; token: string | null }>;
  /** Puts back what the change with this token replaced, then forgets the token. */
  undo(token: string): Promise<{ restored: number }>;
  /** Forgets tokens the page will not undo (its undo stack is bounded). */
  forget(tokens: string[]): void;
}

export function labelOf(r: PrefRecord): Label | null {
  if (r.kind === 'pair') return r.tie ? 'tie' : r.bothBad ? 'bothBad' : 'preferred';
  if (r.kind === 'unpaired') return r.label ? 'desirable' : 'undesirable';
  return null;
}

export function turnsText(t: Turns): string {
  return typeof t === 'string' ? t : t.map((m) => m.content).join('\n');
}

export function responsesOf(r: PrefRecord): Turns[] {
  switch (r.kind) {
    case 'pair':
      return [r.chosen, r.rejected];
    case 'unpaired':
      return [r.completion];
    case 'ranking':
    case 'candidates':
      return r.responses;
    case 'stepwise':
      return [...r.steps, ...(r.chosenStep !== null ? [r.chosenStep] : []), ...(r.rejectedStep !== null ? [r.rejectedStep] : [])];
    case 'prompt':
      return [];
  }
}

/** The text a search looks in: prompt, system, responses, rationale and tags, lower-cased. */
function haystack(r: PrefRecord): string {
  return [turnsText(r.prompt), r.system ?? '', ...responsesOf(r).map(turnsText), r.rationale ?? '', ...r.tags].join('\u0000').toLowerCase();
}

/** Does a record match? The search looks in the prompt, system, responses, tags and rationale. */
export function matches(r: PrefRecord, f: BrowseFilter, needle = f.search.trim().toLowerCase()): boolean {
  if (f.kind !== 'any' && r.kind !== f.kind) return false;
  if (f.split !== 'any' && r.split !== f.split) return false;
  if (f.label !== 'any' && labelOf(r) !== f.label) return false;
  if (f.tag !== 'any' && !r.tags.includes(f.tag)) return false;
  return !needle || haystack(r).includes(needle);
}

export function lengthStats(values: ArrayLike<number>): LengthStats | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, mean: sum / sorted.length, max: sorted.at(-1)! };
}

/** JSON with object keys sorted: equal content gives equal text whatever order keys were written in. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What dedup compares: the content, without provenance, split, tags or rationale. */
export function contentKey(r: Row): string {
  const { id: _id, datasetId: _d, ...record } = r;
  return stableJson(recordContent(record));
}

/** Which of `count` records go to test: a seeded Fisher-Yates shuffle, the first round(count *
 *  testFraction) positions. */
export function testPositions(count: number, testFraction: number, seed: number): Set<number> {
  if (!(testFraction >= 0 && testFraction <= 1)) throw new Error('the test fraction must be between 0 and 1');
  const order = Array.from({ length: count }, (_, i) => i);
  let s = seed >>> 0 || 1;
  const rand = () => ((s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296;
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Set(order.slice(0, Math.round(count * testFraction)));
}

/** One record as the browser's filters and statistics see it. */
interface Summary {
  id: number;
  kind: RecordKind;
  split: Split;
  label: Label | null;
  tags: string[];
  promptLength: number;
  responseLengths: number[];
  /** Lower-cased search text; absent past the memory budget (a search reads that record). */
  hay?: string;
}

function summarise(r: Row, keepText: boolean): Summary {
  const s: Summary = {
    id: r.id,
    kind: r.kind,
    split: r.split,
    label: labelOf(r),
    tags: r.tags,
    promptLength: turnsText(r.prompt).length,
    responseLengths: responsesOf(r).map((t) => turnsText(t).length),
  };
  if (keepText) s.hay = haystack(r);
  return s;
}

function summaryMatches(s: Summary, f: BrowseFilter): boolean {
  return (
    (f.kind === 'any' || s.kind === f.kind) &&
    (f.split === 'any' || s.split === f.split) &&
    (f.label === 'any' || s.label === f.label) &&
    (f.tag === 'any' || s.tags.includes(f.tag))
  );
}

/** A dataset's summaries, valid while the dataset's `updatedAt` and count are what they were. */
interface DatasetCache {
  stamp: string;
  rows: Summary[];
}

/** 64 Mi characters: a few hundred MB of a Worker's memory at most. */
const TEXT_BUDGET = 64 * 1024 * 1024;
/** How often progress crosses to the page, in ms. */
const PROGRESS_EVERY = 150;

function stampOf(d: { updatedAt: number; counts: { total: number } }): string {
  return `${d.updatedAt}:${d.counts.total}`;
}

function emptyStats(): BrowseStats {
  return {
    count: 0,
    byKind: { pair: 0, unpaired: 0, ranking: 0, stepwise: 0, prompt: 0, candidates: 0 },
    bySplit: { train: 0, test: 0 },
    labels: { preferred: 0, tie: 0, bothBad: 0, desirable: 0, undesirable: 0 },
    promptLength: null,
    responseLength: null,
    tags: [],
  };
}

/** Adds matching summaries up into statistics (tags count the whole dataset). */
class StatsBuilder {
  readonly ids: number[] = [];
  readonly stats = emptyStats();
  private prompts: number[] = [];
  private responses: number[] = [];
  private tags = new Map<string, number>();

  add(s: Summary, matched: boolean): void {
    for (const t of s.tags) this.tags.set(t, (this.tags.get(t) ?? 0) + 1);
    if (!matched) return;
    const st = this.stats;
    this.ids.push(s.id);
    st.count++;
    st.byKind[s.kind]++;
    st.bySplit[s.split]++;
    if (s.label) st.labels[s.label]++;
    this.prompts.push(s.promptLength);
    for (const l of s.responseLengths) this.responses.push(l);
  }

  finish(): BrowseResult {
    this.stats.promptLength = lengthStats(this.prompts);
    this.stats.responseLength = lengthStats(this.responses);
    this.stats.tags = [...this.tags].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return { ids: Float64Array.from(this.ids), stats: this.stats };
  }
}

/** Lets a cancel message in (the Worker runs one thing at a time). */
const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export interface BrowseOptions {
  /** Search text kept in memory for all datasets together, in characters; beyond it a search
   *  reads the records again. */
  textBudget?: number;
}

export function createBrowseApi(workspace: () => Promise<PrefDb>, options: BrowseOptions = {}): BrowseApi {
  const textBudget = options.textBudget ?? TEXT_BUDGET;
  const jobs = new Map<string, AbortController>();
  const caches = new Map<string, DatasetCache>();
  const undo = new Map<string, Row[]>();
  let tokens = 0;

  async function job<T>(jobId: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    jobs.get(jobId)?.abort();
    jobs.set(jobId, controller);
    try {
      return await run(controller.signal);
    } finally {
      if (jobs.get(jobId) === controller) jobs.delete(jobId);
    }
  }

  function keep(rows: Row[]): string | null {
    if (rows.length === 0) return null;
    const token = `u${++tokens}`;
    undo.set(token, rows);
    return token;
  }

  async function stamp(db: PrefDb, datasetId: string): Promise<string> {
    const d = await getDataset(db, datasetId);
    if (!d) throw new DatasetNotFoundError(datasetId);
    return stampOf(d);
  }

  function textInCaches(): number {
    let n = 0;
    for (const c of caches.values()) for (const s of c.rows) n += s.hay?.length ?? 0;
    return n;
  }

  /** Runs our own write, then brings the summaries it touched up to date (so an edit does not
   *  cost a rescan). `removed`: ids it deletes; `put`: rows it writes. A summary that was already
   *  stale before the write (someone else wrote) is dropped instead. */
  async function writeThrough(db: PrefDb, write: () => Promise<void>, removed: Iterable<number>, put: Row[]): Promise<void> {
    const fresh = new Set<string>();
    for (const [datasetId, cache] of caches) {
      const d = await getDataset(db, datasetId);
      if (d && stampOf(d) === cache.stamp) fresh.add(datasetId);
    }
    await write();
    const gone = new Set(removed);
    const byDataset = new Map<string, Row[]>();
    for (const r of put) byDataset.set(r.datasetId, [...(byDataset.get(r.datasetId) ?? []), r]);
    for (const [datasetId, cache] of caches) {
      const rows = byDataset.get(datasetId) ?? [];
      const replaced = new Set(rows.map((r) => r.id));
      const kept = cache.rows.filter((s) => !gone.has(s.id) && !replaced.has(s.id));
      if (kept.length === cache.rows.length && rows.length === 0) continue;
      const d = await getDataset(db, datasetId);
      if (!d || !fresh.has(datasetId)) {
        caches.delete(datasetId);
        continue;
      }
      const next = rows.length ? [...kept, ...rows.map((r) => summarise(r, true))].sort((a, b) => a.id - b.id) : kept;
      caches.set(datasetId, { stamp: stampOf(d), rows: next });
    }
  }

  async function removeIds(ids: IdList | number[]): Promise<{ removed: number; token: string | null }> {
    const db = await workspace();
    const list = Array.from(ids);
    const before = (await getRecords(db, list)).filter((r): r is Row => r !== undefined);
    await writeThrough(db, () => deleteRecords(db, list), list, []);
    return { removed: before.length, token: keep(before) };
  }

  /** Statistics and ids from the summaries, a slice at a time so a cancel gets in. A search
   *  reads only the records whose text is not kept (past the memory budget). */
  async function fromCache(db: PrefDb, datasetId: string, cache: DatasetCache, f: BrowseFilter, signal: AbortSignal, onProgress?: (p: BrowseProgress) => void): Promise<BrowseResult> {
    const needle = f.search.trim().toLowerCase();
    const textHits = new Set<number>();
    if (needle) {
      const unkept = cache.rows.filter((s) => s.hay === undefined && summaryMatches(s, f)).map((s) => s.id);
      let last = Date.now();
      await scanRecords(db, datasetId, unkept, (r) => void (haystack(r).includes(needle) && textHits.add(r.id)), {
        signal,
        onPage: (scanned, total) => {
          const now = Date.now();
          if (now - last < PROGRESS_EVERY || scanned === total) return;
          last = now;
          onProgress?.({ scanned, total });
        },
      });
    }
    const acc = new StatsBuilder();
    for (let at = 0; at < cache.rows.length; at += 20_000) {
      signal.throwIfAborted();
      const end = Math.min(at + 20_000, cache.rows.length);
      for (let i = at; i < end; i++) {
        const s = cache.rows[i]!;
        acc.add(s, summaryMatches(s, f) && (!needle || (s.hay !== undefined ? s.hay.includes(needle) : textHits.has(s.id))));
      }
      await yieldToEvents();
    }
    signal.throwIfAborted();
    return acc.finish();
  }

  return {
    browse(jobId, datasetId, f, onProgress) {
      // Registered at once (before any await), so a cancel that follows the call finds it.
      return job(jobId, async (signal) => {
        const db = await workspace();
        const before = await stamp(db, datasetId);
        const cached = caches.get(datasetId);
        const needle = f.search.trim().toLowerCase();
        if (cached && cached.stamp === before) return fromCache(db, datasetId, cached, f, signal, onProgress);

        // The indexes answer kind, split and tag at once: the table shows rows while the scan runs.
        if (!needle && f.label === 'any') {
          const ids = await indexedIds(db, datasetId, {
            ...(f.kind !== 'any' ? { kind: f.kind } : {}),
            ...(f.split !== 'any' ? { split: f.split } : {}),
            ...(f.tag !== 'any' ? { tag: f.tag } : {}),
          });
          signal.throwIfAborted();
          onProgress?.({ ids: Float64Array.from(ids) });
        }

        caches.delete(datasetId);
        const budget = textBudget - textInCaches();
        let textChars = 0;
        let keepText = true;
        const rows: Summary[] = [];
        const acc = new StatsBuilder();
        let last = Date.now();
        await scanDataset(
          db,
          datasetId,
          (r) => {
            const s = summarise(r, keepText);
            if (keepText) {
              textChars += s.hay!.length;
              // Past the budget the rest of the dataset keeps no text (a search reads those).
              if (textChars > budget) {
                keepText = false;
                delete s.hay;
              }
            }
            rows.push(s);
            acc.add(s, summaryMatches(s, f) && (!needle || (s.hay ?? haystack(r)).includes(needle)));
          },
          {
            signal,
            onPage: (scanned, total) => {
              const now = Date.now();
              if (now - last < PROGRESS_EVERY || scanned === total) return;
              last = now;
              onProgress?.({ scanned, total });
            },
          },
        );
        // Kept only if nothing was written meanwhile (by another tab, an import, the Label page).
        if ((await stamp(db, datasetId)) === before) caches.set(datasetId, { stamp: before, rows });
        return acc.finish();
      });
    },

    cancel(jobId) {
      jobs.get(jobId)?.abort();
    },

    deduplicate(jobId, datasetId, onProgress) {
      return job(jobId, async (signal) => {
        const db = await workspace();
        // A fresh scan (never the summaries: what is deleted must be what is stored). The first
        // record with a content hash is kept; a later one with the same hash is a candidate,
        // confirmed below by comparing the full content, so a hash collision deletes nothing.
        const first = new Map<string, number>();
        const candidates: [dupe: number, original: number][] = [];
        let last = Date.now();
        await scanDataset(
          db,
          datasetId,
          (r) => {
            const key = hash64(contentKey(r));
            const seen = first.get(key);
            if (seen === undefined) first.set(key, r.id);
            else candidates.push([r.id, seen]);
          },
          {
            signal,
            onPage: (scanned, total) => {
              const now = Date.now();
              if (now - last < PROGRESS_EVERY) return;
              last = now;
              onProgress?.({ scanned, total });
            },
          },
        );
        const dupes: number[] = [];
        for (let at = 0; at < candidates.length; at += 1000) {
          signal.throwIfAborted();
          const slice = candidates.slice(at, at + 1000);
          const recs = await getRecords(db, slice.flatMap(([d, o]) => [d, o]));
          slice.forEach(([dupe], i) => {
            const a = recs[2 * i] as Row | undefined;
            const b = recs[2 * i + 1] as Row | undefined;
            if (a && b && contentKey(a) === contentKey(b)) dupes.push(dupe);
          });
        }
        signal.throwIfAborted();
        return removeIds(dupes);
      });
    },

    remove: removeIds,

    async edit(id, record) {
      const db = await workspace();
      const [before] = (await getRecords(db, [id])) as (Row | undefined)[];
      if (!before) throw new Error(`record ${id} is gone`);
      // What updateRecord stores: the validated record, with its id and dataset.
      const after: Row = { ...assertRecord(record), id, datasetId: before.datasetId };
      await writeThrough(db, () => updateRecord(db, id, record), [], [after]);
      return { token: keep([before])! };
    },

    async split(ids, testFraction, seed) {
      const db = await workspace();
      const test = testPositions(ids.length, testFraction, seed);
      const list = Array.from(ids);
      const before: Row[] = [];
      const after: Row[] = [];
      for (let at = 0; at < list.length; at += 5000) {
        const page = await getRecords(db, list.slice(at, at + 5000));
        page.forEach((r, i) => {
          if (!r) return;
          const split: Split = test.has(at + i) ? 'test' : 'train';
          if (r.split !== split) {
            before.push(r as Row);
            after.push({ ...(r as Row), split });
          }
        });
      }
      await writeThrough(db, () => putRecords(db, after), [], after);
      return { changed: after.length, token: keep(before) };
    },

    async undo(token) {
      const rows = undo.get(token);
      if (!rows) throw new Error('nothing to undo: this change is no longer remembered');
      const db = await workspace();
      await writeThrough(db, () => putRecords(db, rows), [], rows);
      undo.delete(token);
      return { restored: rows.length };
    },

    forget(list) {
      for (const t of list) undo.delete(t);
    },
  };
}
