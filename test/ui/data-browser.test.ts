// The dataset browser's store over a fake-indexeddb workspace: filters and search, statistics,
// rows read by page, deduplication, train/test split, edit and delete, each undone exactly.
import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PrefRecord } from '../../src/data/records.js';
import { addRecords, createDataset, getDataset, openWorkspace, type PrefDb } from '../../src/db/index.js';
import { useBrowseBackend } from '../../src/services/data-browser.js';
import { useDataServices } from '../../src/services/data.js';
import { createBrowseApi } from '../../src/worker/browse-api.js';
import { rowCache, useBrowserStore } from '../../src/stores/data-browser.js';

let db: PrefDb;
const store = () => useBrowserStore.getState();

function records(): PrefRecord[] {
  const base = (i: number) => ({ source: { type: 'manual' as const }, createdAt: i, split: 'train' as const, tags: i % 2 ? ['odd'] : [] });
  const out: PrefRecord[] = [];
  for (let i = 0; i < 30; i++) out.push({ kind: 'pair', ...base(i), prompt: `question ${i}`, chosen: 'yes', rejected: 'no'.repeat(i % 3 + 1), ...(i === 3 ? { tie: true } : {}) });
  for (let i = 0; i < 10; i++) out.push({ kind: 'unpaired', ...base(i), prompt: `rate ${i}`, completion: '<b>bold</b>', label: i < 7 });
  // Two exact copies of earlier records (provenance differs: still duplicates).
  out.push({ ...(out[5] as PrefRecord), createdAt: 999 });
  // Same content with its keys in another order.
  const { completion, label, ...rest } = out[31] as Extract<PrefRecord, { kind: 'unpaired' }>;
  out.push({ label, completion, ...rest, tags: ['copy'] });
  return out;
}

async function snapshot() {
  return db.records.orderBy('id').toArray();
}

let datasetId = '';
beforeEach(async () => {
  db?.close();
  if (db) await db.delete();
  db = await openWorkspace(`browser-${Math.random()}`);
  useDataServices({ db });
  useBrowseBackend(createBrowseApi(async () => db));
  const d = await createDataset(db, 'd');
  await addRecords(db, d.id, records());
  datasetId = d.id;
  await store().open(d.id);
});

describe('dataset browser', () => {
  it('filters, searches and counts', async () => {
    expect(store().ids).toHaveLength(42);
    const st = store().stats!;
    expect(st.byKind).toMatchObject({ pair: 31, unpaired: 11 });
    expect(st.labels).toEqual({ preferred: 30, tie: 1, bothBad: 0, desirable: 8, undesirable: 3 });
    expect(st.promptLength).toMatchObject({ min: 6, max: 11 });
    expect(st.responseLength).toMatchObject({ min: 2, max: 11 });
    expect(st.tags).toEqual([
      ['odd', 21],
      ['copy', 1],
    ]);
    await store().setFilter({ kind: 'unpaired', label: 'undesirable' });
    expect(store().stats!.count).toBe(3);
    await store().setFilter({ kind: 'any', label: 'any', search: 'QUESTION 1' });
    expect(store().stats!.count).toBe(11); // 1, 10..19
    await store().setFilter({ search: '', tag: 'odd', split: 'train' });
    expect(store().stats!.count).toBe(21);
    await store().setFilter({ search: '<b>' });
    expect(store().stats!.count).toBe(5);
  });

  it('reads rows a page at a time for the visible range', async () => {
    await store().ensureRows(0, 10);
    expect(rowCache.size).toBe(42);
    expect(rowCache.get(store().ids[0]!)!.prompt).toBe('question 0');
  });

  it('deduplicates, and undo puts the copies back', async () => {
    const before = await snapshot();
    await store().deduplicate();
    expect(store().ids).toHaveLength(40);
    expect((await getDataset(db, datasetId))!.counts.total).toBe(40);
    await store().deduplicate();
    expect(store().notice).toMatch(/No duplicates/);
    await store().undo();
    expect(await snapshot()).toEqual(before);
  });

  it('splits the shown records reproducibly, and undo restores the splits', async () => {
    const before = await snapshot();
    await store().setFilter({ kind: 'pair' });
    await store().split(0.2, 42);
    const d = (await getDataset(db, datasetId))!;
    expect(d.counts.bySplit).toEqual({ train: 42 - 6, test: 6 }); // round(31 * 0.2) = 6
    const firstTest = (await db.records.where('split').equals('test').primaryKeys()).sort();
    await store().undo();
    expect(await snapshot()).toEqual(before);
    await store().split(0.2, 42);
    expect((await db.records.where('split').equals('test').primaryKeys()).sort()).toEqual(firstTest);
  });

  it('edits (validated) and deletes, each undone', async () => {
    const before = await snapshot();
    const id = store().ids[0]!;
    const [row] = await db.records.bulkGet([id]);
    const { id: _i, datasetId: _d, ...record } = row!;
    expect(await store().edit(id, { ...record, chosen: 'edited' })).toBe(true);
    expect((await db.records.get(id))!).toMatchObject({ chosen: 'edited' });
    expect(await store().edit(id, { ...record, chosen: '' })).toBe(false);
    expect(store().notice).toMatch(/chosen: is empty/);
    await store().remove([id, store().ids[1]!]);
    expect(store().ids).toHaveLength(40);
    await store().undo();
    await store().undo();
    expect(await snapshot()).toEqual(before);
    expect((await getDataset(db, datasetId))!.counts.total).toBe(42);
  });
});
