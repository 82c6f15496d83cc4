// The dataset browser's work on the workspace: one pass over a dataset gives the ids that match
// the search and filters plus their statistics (the table then reads only the rows in view), and
// the bulk edits (deduplicate, train/test split, delete, edit) each return what they replaced so
// an undo can put it back.
import { recordContent, type PrefRecord, type RecordKind, type Split, type Turns } from '../data/records.js';
import { getRecords, putRecords, scanDataset, updateRecord, deleteRecords, type StoredRecord } from '../db/index.js';
import { workspace } from './data.js';
import { hash64 } from './label-tasks.js';

export type LabelFilter = 'any' | 'preferred' | 'tie' | 'bothBad' | 'desirable' | 'undesirable';

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
  labels: Record<Exclude<LabelFilter, 'any'>, number>;
  /** Characters of the prompt, and of each response. */
  promptLength: LengthStats | null;
  responseLength: LengthStats | null;
  /** Tags of the whole dataset with their counts (for the tag filter). */
  tags: [string, number][];
}

export type Row = StoredRecord & { id: number };

export function labelOf(r: PrefRecord): Exclude<LabelFilter, 'any'> | null {
  if (r.kind === 'pair') return r.tie ? 'tie' : r.bothBad ? 'bothBad' : 'preferred';
  if (r.kind === 'unpaired') return r.label ? 'desirable' : 'undesirable';
  return null;
}

function text(t: Turns): string {
  return typeof t === 'string' ? t : t.map((m) => m.content).join('\n');
}

export function responsesOf(r: PrefRecord): Turns[] {
  switch (r.kind) {
    case 'pair':
      return [r.chosen, r.rejected];
    case 'unpaired':
      return [r.completion];
    case 'ranking':
      return r.responses;
    case 'stepwise':
      return [...r.steps, ...(r.chosenStep !== null ? [r.chosenStep] : []), ...(r.rejectedStep !== null ? [r.rejectedStep] : [])];
  }
}

/** Does a record match? The search looks in the prompt, system, responses, tags and rationale. */
export function matches(r: PrefRecord, f: BrowseFilter, needle = f.search.trim().toLowerCase()): boolean {
  if (f.kind !== 'any' && r.kind !== f.kind) return false;
  if (f.split !== 'any' && r.split !== f.split) return false;
  if (f.label !== 'any' && labelOf(r) !== f.label) return false;
  if (f.tag !== 'any' && !r.tags.includes(f.tag)) return false;
  if (!needle) return true;
  const hay = [text(r.prompt), r.system ?? '', ...responsesOf(r).map(text), r.rationale ?? '', ...r.tags];
  return hay.some((h) => h.toLowerCase().includes(needle));
}

function lengthStats(values: number[]): LengthStats | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, mean, max: sorted.at(-1)! };
}

/** The matching ids (in id order) and statistics of what matched. */
export async function browse(datasetId: string, f: BrowseFilter): Promise<{ ids: number[]; stats: BrowseStats }> {
  const db = await workspace();
  const ids: number[] = [];
  const stats: BrowseStats = {
    count: 0,
    byKind: { pair: 0, unpaired: 0, ranking: 0, stepwise: 0 },
    bySplit: { train: 0, test: 0 },
    labels: { preferred: 0, tie: 0, bothBad: 0, desirable: 0, undesirable: 0 },
    promptLength: null,
    responseLength: null,
    tags: [],
  };
  const prompts: number[] = [];
  const responses: number[] = [];
  const tags = new Map<string, number>();
  const needle = f.search.trim().toLowerCase();
  await scanDataset(db, datasetId, (r) => {
    for (const t of r.tags) tags.set(t, (tags.get(t) ?? 0) + 1);
    if (!matches(r, f, needle)) return;
    ids.push(r.id);
    stats.count++;
    stats.byKind[r.kind]++;
    stats.bySplit[r.split]++;
    const l = labelOf(r);
    if (l) stats.labels[l]++;
    prompts.push(text(r.prompt).length);
    for (const t of responsesOf(r)) responses.push(text(t).length);
  });
  stats.promptLength = lengthStats(prompts);
  stats.responseLength = lengthStats(responses);
  stats.tags = [...tags].sort((a, b) => b[1] - a[1]);
  return { ids, stats };
}

export async function loadRows(ids: number[]): Promise<Row[]> {
  return (await getRecords(await workspace(), ids)).filter((r): r is Row => r !== undefined);
}

/** Records whose content (everything but provenance) repeats an earlier one: the later copies. */
export async function findDuplicates(datasetId: string): Promise<number[]> {
  const db = await workspace();
  const seen = new Set<string>();
  const dupes: number[] = [];
  await scanDataset(db, datasetId, (r) => {
    const { id: _id, datasetId: _d, ...record } = r;
    const key = hash64(stableJson(recordContent(record)));
    if (seen.has(key)) dupes.push(r.id);
    else seen.add(key);
  });
  return dupes;
}

/** Deletes records; returns them as they were (for undo). */
export async function removeRows(ids: number[]): Promise<Row[]> {
  const db = await workspace();
  const before = await loadRows(ids);
  await deleteRecords(db, ids);
  return before;
}

/** Puts records back as they were (undo of a delete, an edit or a split). */
export async function restoreRows(rows: Row[]): Promise<void> {
  if (rows.length) await putRecords(await workspace(), rows);
}

export async function editRow(id: number, record: unknown): Promise<Row> {
  const [before] = await loadRows([id]);
  if (!before) throw new Error(`record ${id} is gone`);
  await updateRecord(await workspace(), id, record);
  return before;
}

/**
 * Puts `testFraction` of the given records in the test split and the rest in train, by a seeded
 * shuffle (the same seed gives the same split). Returns the records as they were.
 */
export async function assignSplit(ids: number[], testFraction: number, seed: number): Promise<Row[]> {
  if (!(testFraction >= 0 && testFraction <= 1)) throw new Error('the test fraction must be between 0 and 1');
  const before = await loadRows(ids);
  const order = before.map((_, i) => i);
  let s = seed >>> 0 || 1;
  const rand = () => ((s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296;
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const nTest = Math.round(before.length * testFraction);
  const test = new Set(order.slice(0, nTest));
  const after = before.map((r, i) => ({ ...r, split: (test.has(i) ? 'test' : 'train') as Split }));
  const changed = after.filter((r, i) => r.split !== before[i]!.split);
  await putRecords(await workspace(), changed);
  return before.filter((r, i) => r.split !== after[i]!.split);
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
