// The browse Worker's logic (createBrowseApi, called in-process over fake-indexeddb) against a
// naive computation on a few hundred random records of every kind: search, filters and
// statistics (first scan, from the in-memory summaries, and with no search text kept), the ids
// the indexes give before the scan, deduplication, the seeded split, undo, and cancel.
import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PrefRecord, Turns } from '../../src/data/records.js';
import { addRecords, createDataset, openWorkspace, type PrefDb, type StoredRecord } from '../../src/db/index.js';
import { browse, useBrowseBackend } from '../../src/services/data-browser.js';
import { useDataServices } from '../../src/services/data.js';
import { createBrowseApi, NO_FILTER, type BrowseApi, type BrowseFilter, type BrowseProgress, type Row } from '../../src/worker/browse-api.js';

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['Apple', 'banana', 'cherry', 'date', 'Elder', 'fig', 'grape', 'zebra'];
const TAGS = ['red', 'green', 'blue'];

function randomRecords(n: number, seed: number): PrefRecord[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const words = (k: number) => Array.from({ length: 1 + Math.floor(rand() * k) }, () => pick(WORDS)).join(' ');
  // A record is all plain text or all conversational.
  let conversational = false;
  const turns = (): Turns => (conversational ? [{ role: 'assistant', content: words(6) }] : words(6));
  const out: PrefRecord[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 10 && rand() < 0.08) {
      // A copy of an earlier record's content, with other provenance, split and tags.
      out.push({ ...out[Math.floor(rand() * i)]!, createdAt: 10_000 + i, split: pick(['train', 'test'] as const), tags: [pick(TAGS)] });
      continue;
    }
    const kind = pick(['pair', 'pair', 'unpaired', 'ranking', 'stepwise'] as const);
    conversational = kind !== 'stepwise' && rand() < 0.2;
    const base = {
      source: { type: 'manual' as const },
      createdAt: i,
      split: pick(['train', 'test'] as const),
      tags: TAGS.filter(() => rand() < 0.3),
      prompt: conversational ? [{ role: 'user' as const, content: `q${i} ${words(5)}` }] : `q${i} ${words(5)}`,
      ...(!conversational && rand() < 0.2 ? { system: words(3) } : {}),
      ...(rand() < 0.1 ? { rationale: words(3) } : {}),
    };
    if (kind === 'pair') out.push({ kind, ...base, chosen: turns(), rejected: turns(), ...(rand() < 0.15 ? { tie: true } : rand() < 0.15 ? { bothBad: true } : {}) });
    else if (kind === 'unpaired') out.push({ kind, ...base, completion: turns(), label: rand() < 0.6 });
    else if (kind === 'ranking') out.push({ kind, ...base, responses: [turns(), turns(), turns()], ranks: [3, 1, 2] });
    else out.push({ kind, ...base, steps: [words(4), words(4)], chosenStep: rand() < 0.8 ? words(4) : null, rejectedStep: words(4) });
  }
  return out;
}

// The naive computation, written out again on purpose (not the Worker's helpers).
const flat = (t: Turns) => (typeof t === 'string' ? t : t.map((m) => m.content).join('\n'));
function naiveResponses(r: PrefRecord): Turns[] {
  if (r.kind === 'pair') return [r.chosen, r.rejected];
  if (r.kind === 'unpaired') return [r.completion];
  if (r.kind === 'ranking' || r.kind === 'candidates') return r.responses;
  if (r.kind === 'prompt') return [];
  return [...r.steps, ...(r.chosenStep === null ? [] : [r.chosenStep]), ...(r.rejectedStep === null ? [] : [r.rejectedStep])];
}
function naiveLabel(r: PrefRecord): string | null {
  if (r.kind === 'pair') return r.tie ? 'tie' : r.bothBad ? 'bothBad' : 'preferred';
  if (r.kind === 'unpaired') return r.label ? 'desirable' : 'undesirable';
  return null;
}
function naiveMatch(r: PrefRecord, f: BrowseFilter): boolean {
  if (f.kind !== 'any' && r.kind !== f.kind) return false;
  if (f.split !== 'any' && r.split !== f.split) return false;
  if (f.label !== 'any' && naiveLabel(r) !== f.label) return false;
  if (f.tag !== 'any' && !r.tags.includes(f.tag)) return false;
  const needle = f.search.trim().toLowerCase();
  if (!needle) return true;
  return [flat(r.prompt), r.system ?? '', ...naiveResponses(r).map(flat), r.rationale ?? '', ...r.tags].some((h) => h.toLowerCase().includes(needle));
}
function naiveLengths(xs: number[]) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length / 2;
  return { min: s[0], max: s.at(-1), mean: xs.reduce((a, b) => a + b, 0) / xs.length, median: s.length % 2 ? s[Math.floor(m)] : (s[m - 1]! + s[m]!) / 2 };
}
function naive(rows: Row[], f: BrowseFilter) {
  const hit = rows.filter((r) => naiveMatch(r, f));
  const count = (key: (r: Row) => string | null) => {
    const c: Record<string, number> = {};
    for (const r of hit) {
      const k = key(r);
      if (k) c[k] = (c[k] ?? 0) + 1;
    }
    return c;
  };
  return {
    ids: hit.map((r) => r.id),
    count: hit.length,
    byKind: count((r) => r.kind),
    bySplit: count((r) => r.split),
    labels: count(naiveLabel),
    promptLength: naiveLengths(hit.map((r) => flat(r.prompt).length)),
    responseLength: naiveLengths(hit.flatMap((r) => naiveResponses(r).map((t) => flat(t).length))),
  };
}
/** Content equality for dedup: everything but provenance, split, tags, rationale; key order ignored. */
function sameContent(a: Row, b: Row): boolean {
  const strip = (r: Row) => {
    const { id: _i, datasetId: _d, source: _s, createdAt: _c, split: _p, tags: _t, rationale: _r, annotator: _a, annotatedAt: _at, ...rest } = r as Row & { annotator?: string; annotatedAt?: number };
    return rest;
  };
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, canon(x)])) : v;
  return JSON.stringify(canon(strip(a))) === JSON.stringify(canon(strip(b)));
}
const nonzero = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0));

const FILTERS: Partial<BrowseFilter>[] = [
  {},
  { kind: 'pair' },
  { kind: 'unpaired', label: 'desirable' },
  { split: 'test', tag: 'red' },
  { label: 'tie' },
  { search: 'ZEBRA' },
  { search: 'apple ban', split: 'train' },
  { search: 'q1', kind: 'ranking' },
  { search: 'blue' },
  { search: 'nothing matches this' },
];

let db: PrefDb;
let api: BrowseApi;
let datasetId = '';
const all = async () => (await db.records.where('datasetId').equals(datasetId).sortBy('id')) as Row[];

beforeEach(async () => {
  db = await openWorkspace(`browse-worker-${Math.random()}`);
  const other = await createDataset(db, 'other');
  const d = await createDataset(db, 'd');
  datasetId = d.id;
  // Another dataset's records interleaved in the id range: never part of the answers.
  const recs = randomRecords(300, 7);
  for (let at = 0; at < recs.length; at += 50) {
    await addRecords(db, d.id, recs.slice(at, at + 50));
    await addRecords(db, other.id, randomRecords(5, at));
  }
  api = createBrowseApi(async () => db);
});

afterEach(async () => {
  db.close();
  await db.delete();
});

async function expectLikeNaive(a: BrowseApi, f: BrowseFilter, progress?: BrowseProgress[]) {
  const got = await a.browse(`job-${Math.random()}`, datasetId, f, progress ? (p) => progress.push(p) : undefined);
  const want = naive(await all(), f);
  expect(Array.from(got.ids)).toEqual(want.ids);
  expect(got.stats.count).toBe(want.count);
  expect(nonzero(got.stats.byKind)).toEqual(want.byKind);
  expect(nonzero(got.stats.bySplit)).toEqual(want.bySplit);
  expect(nonzero(got.stats.labels)).toEqual(want.labels);
  expect(got.stats.promptLength).toEqual(want.promptLength);
  expect(got.stats.responseLength).toEqual(want.responseLength);
  const tags = new Map<string, number>();
  for (const r of await all()) for (const t of r.tags) tags.set(t, (tags.get(t) ?? 0) + 1);
  expect(new Map(got.stats.tags)).toEqual(tags);
}

describe('browse Worker logic', () => {
  it('search, filters and statistics equal a naive computation: first scan, from the summaries, with part or none of the text kept', async () => {
    for (const f of FILTERS) {
      const filter = { ...NO_FILTER, ...f };
      // A fresh API each time: the first scan; then the same API again: from its summaries.
      const cold = createBrowseApi(async () => db);
      await expectLikeNaive(cold, filter);
      await expectLikeNaive(cold, filter);
      // Search text kept for none, or for the first records only: a search reads the others.
      for (const textBudget of [100, 5000]) {
        const tight = createBrowseApi(async () => db, { textBudget });
        await expectLikeNaive(tight, filter);
        await expectLikeNaive(tight, filter);
      }
    }
  });

  it('gives the ids from the indexes before the scan when no record needs reading', async () => {
    for (const f of [{}, { kind: 'stepwise' as const }, { split: 'test' as const, tag: 'green' }]) {
      const progress: BrowseProgress[] = [];
      await expectLikeNaive(createBrowseApi(async () => db), { ...NO_FILTER, ...f }, progress);
      const early = progress.find((p) => p.ids);
      expect(Array.from(early!.ids!)).toEqual(naive(await all(), { ...NO_FILTER, ...f }).ids);
    }
  });

  it('sees writes made elsewhere (the summaries are dropped when the dataset changed)', async () => {
    await expectLikeNaive(api, { ...NO_FILTER, search: 'zebra' });
    await addRecords(db, datasetId, [{ kind: 'unpaired', source: { type: 'manual' }, createdAt: 1, split: 'test', tags: [], prompt: 'a new zebra', completion: 'x', label: true }]);
    await expectLikeNaive(api, { ...NO_FILTER, search: 'zebra' });
  });

  it('keeps its summaries right through its own edits, deletes, splits and undos', async () => {
    const f = { ...NO_FILTER, search: 'apple' };
    await expectLikeNaive(api, f);
    const rows = await all();
    const { id: _i, datasetId: _d, ...record } = rows[3]!;
    const edit = await api.edit(rows[3]!.id, { ...record, prompt: 'now with an apple', tags: ['red'] });
    await expectLikeNaive(api, f);
    const removed = await api.remove(rows.slice(10, 40).map((r) => r.id));
    await expectLikeNaive(api, f);
    const split = await api.split(rows.slice(50, 150).map((r) => r.id), 0.5, 3);
    await expectLikeNaive(api, { ...f, split: 'test' });
    await api.undo(split.token!);
    await api.undo(removed.token!);
    await api.undo(edit.token);
    expect(await all()).toEqual(rows);
    await expectLikeNaive(api, f);
  });

  it('deduplicates exactly the later copies, and undo puts them back', async () => {
    const before = await all();
    const want: number[] = [];
    before.forEach((r, i) => {
      if (before.slice(0, i).some((e) => sameContent(e, r))) want.push(r.id);
    });
    expect(want.length).toBeGreaterThan(5);
    const progress: BrowseProgress[] = [];
    const { removed, token } = await api.deduplicate('d1', datasetId, (p) => progress.push(p));
    expect(removed).toBe(want.length);
    expect((await all()).map((r) => r.id)).toEqual(before.map((r) => r.id).filter((id) => !want.includes(id)));
    expect((await api.deduplicate('d2', datasetId)).token).toBeNull();
    await api.undo(token!);
    expect(await all()).toEqual(before);
  });

  it('splits the given records: round(n * fraction) to test, the same for the same seed, others untouched', async () => {
    const before = await all();
    const ids = before.filter((r) => r.kind === 'pair').map((r) => r.id);
    const { token } = await api.split(ids, 0.3, 11);
    const after = await all();
    const given = new Set(ids);
    expect(after.filter((r) => given.has(r.id) && r.split === 'test')).toHaveLength(Math.round(ids.length * 0.3));
    expect(after.filter((r) => !given.has(r.id))).toEqual(before.filter((r) => !given.has(r.id)));
    const firstTest = after.filter((r) => r.split === 'test').map((r) => r.id);
    await api.undo(token!);
    expect(await all()).toEqual(before);
    await api.split(ids, 0.3, 11);
    expect((await all()).filter((r) => r.split === 'test').map((r) => r.id)).toEqual(firstTest);
    await expect(api.split(ids, 1.5, 1)).rejects.toThrow(/between 0 and 1/);
  });

  it('cancels: a job stops with an AbortError, and a new search cancels the one still running', async () => {
    const running = api.browse('j1', datasetId, { ...NO_FILTER, search: 'fig' });
    api.cancel('j1');
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    const dedup = api.deduplicate('j2', datasetId);
    api.cancel('j2');
    await expect(dedup).rejects.toMatchObject({ name: 'AbortError' });
    expect(await all()).toHaveLength(300); // nothing removed

    useDataServices({ db });
    useBrowseBackend(api);
    const first = browse(datasetId, { ...NO_FILTER, search: 'fig' });
    const second = browse(datasetId, { ...NO_FILTER, search: 'grape' });
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    expect(Array.from((await second).ids)).toEqual(naive(await all(), { ...NO_FILTER, search: 'grape' }).ids);
  });

  it('undo of a forgotten change says so', async () => {
    const { token } = await api.remove([(await all())[0]!.id]);
    api.forget([token!]);
    await expect(api.undo(token!)).rejects.toThrow(/no longer remembered/);
  });
});
