// The Dexie store on fake-indexeddb, with real queries: staged imports (abort, bad rows, broken
// files and a full disk leave the database exactly as it was), validation at the boundary,
// backup and restore.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { detectFormat } from '../../src/data/import/detect.js';
import type { ImportBatch } from '../../src/data/import/pipeline.js';
import { fileSource } from '../../src/data/io/node-file.js';
import { bytesSource, textSource } from '../../src/data/io/source.js';
import { TrlExporter } from '../../src/data/export/trl.js';
import { jsonlChunks } from '../../src/data/export/write.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { recordContent, type PairRecord, type PrefRecord } from '../../src/data/records.js';
import {
  addRecords,
  backupWorkspace,
  countRecords,
  createDataset,
  deleteDataset,
  describeEstimate,
  getDataset,
  importDataset,
  importFile,
  ImportRejectedError,
  iterateRecords,
  listDatasets,
  openWorkspace,
  queryRecords,
  requestPersistence,
  restoreWorkspace,
  SCHEMA_VERSIONS,
  StorageFullError,
  storageEstimate,
  updateRecord,
  type PrefDb,
} from '../../src/db/index.js';

const DATASETS = new URL('../../../shared/fixtures/datasets/', import.meta.url).pathname;

const open: PrefDb[] = [];
let n = 0;
async function freshDb(name = `test-${process.pid}-${n++}`): Promise<PrefDb> {
  const db = await openWorkspace(name);
  open.push(db);
  return db;
}
afterEach(async () => {
  for (const db of open.splice(0)) {
    db.close();
    await db.delete();
  }
  vi.restoreAllMocks();
});

/** Everything in the database, in a stable order. */
async function snapshot(db: PrefDb) {
  const datasets = await db.datasets.orderBy('id').toArray();
  const records = await db.records.orderBy('id').toArray();
  return { datasets, records };
}

function pair(i: number, extra: Partial<PairRecord> = {}): PairRecord {
  return {
    kind: 'pair',
    prompt: `prompt ${i}`,
    chosen: ` good ${i}`,
    rejected: ` bad ${i}`,
    source: { type: 'manual' },
    createdAt: 1_700_000_000_000 + i,
    split: i % 5 === 0 ? 'test' : 'train',
    tags: i % 3 === 0 ? ['three'] : [],
    ...extra,
  };
}

function pairsJsonl(count: number, badEvery = 0): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(badEvery && i % badEvery === badEvery - 1 ? `{"prompt": "p${i}", "chosen": 5, "rejected": "r"}` : JSON.stringify({ prompt: `p${i}`, chosen: ` c${i}`, rejected: ` r${i}` }));
  }
  return lines.join('\n') + '\n';
}

async function importText(db: PrefDb, name: string, text: string, opts: Partial<Parameters<typeof importFile>[3]> = {}) {
  const source = textSource(name, text, 4096);
  const det = await detectFormat(source);
  return importFile(db, source, det.mapping!, { name, ...opts });
}

describe('schema', () => {
  it('versions are numbered from 1 without gaps, each dated with an upgrade', () => {
    SCHEMA_VERSIONS.forEach((v, i) => {
      expect(v.version).toBe(i + 1);
      expect(v.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(typeof v.upgrade).toBe('function');
    });
  });
});

describe('datasets and records', () => {
  it('imports dpo_en_demo.json and answers queries by kind, split and tag', async () => {
    const db = await freshDb();
    const source = await fileSource(`${DATASETS}dpo_en_demo.json`);
    const det = await detectFormat(source);
    const r = await importFile(db, source, det.mapping!, { name: 'dpo demo', defaults: { tags: ['demo'] } });
    expect(r.written).toBe(300);
    expect(r.rejected).toBe(0);
    const d = await getDataset(db, r.dataset.id);
    expect(d).toMatchObject({ name: 'dpo demo', status: 'ready', counts: { total: 300, byKind: { pair: 300, unpaired: 0 }, bySplit: { train: 300, test: 0 } } });
    expect(d?.source).toMatchObject({ file: 'dpo_en_demo.json', format: 'llamafactory-sharegpt', container: 'json', compressed: false, rowsRejected: 0 });
    expect(await countRecords(db, { datasetId: d!.id, kind: 'pair' })).toBe(300);
    expect(await countRecords(db, { datasetId: d!.id, kind: 'unpaired' })).toBe(0);
    expect(await countRecords(db, { datasetId: d!.id, tag: 'demo' })).toBe(300);
    const page = await queryRecords(db, { datasetId: d!.id, offset: 10, limit: 5 });
    expect(page.map((x) => x.source)).toEqual([10, 11, 12, 13, 14].map((row) => expect.objectContaining({ row })));
    let seen = 0;
    for await (const p of iterateRecords(db, d!.id, 64)) seen += p.length;
    expect(seen).toBe(300);
  });

  it('a stored dataset exports page by page to TRL JSONL and reads back the same', async () => {
    const db = await freshDb();
    const source = await fileSource(`${DATASETS}kto_en_demo.json`);
    const det = await detectFormat(source);
    const r = await importFile(db, source, det.mapping!, { name: 'kto' });
    for (const shape of ['trl', 'records'] as const) {
      const exporter = new TrlExporter({ shape });
      let text = '';
      for await (const t of jsonlChunks(iterateRecords(db, r.dataset.id, 64), exporter)) text += t;
      const back = await importAll(textSource('kto.jsonl', text));
      const stored = (await queryRecords(db, { datasetId: r.dataset.id })).map(({ id: _i, datasetId: _d, ...rec }) => rec as PrefRecord);
      expect(back.records.map(shape === 'records' ? (x) => x : recordContent)).toEqual(stored.map(shape === 'records' ? (x) => x : recordContent));
    }
  });

  it('validates every write at the boundary', async () => {
    const db = await freshDb();
    const d = await createDataset(db, 'hand made');
    const ids = await addRecords(db, d.id, [pair(1), pair(2), pair(3)]);
    expect(ids).toHaveLength(3);
    const before = await snapshot(db);
    await expect(addRecords(db, d.id, [pair(4), { ...pair(5), chosen: 42 }])).rejects.toThrow(/chosen/);
    await expect(addRecords(db, d.id, [{ ...pair(6), split: 'validation' }])).rejects.toThrow(/split/);
    await expect(updateRecord(db, ids[0]!, { ...pair(1), kind: 'ranking' })).rejects.toThrow(/responses/);
    expect(await snapshot(db)).toEqual(before);
    await updateRecord(db, ids[0]!, { ...pair(1), split: 'test', tags: ['edited'] });
    expect((await getDataset(db, d.id))?.counts.bySplit).toEqual({ train: 2, test: 1 });
    expect(await countRecords(db, { datasetId: d.id, tag: 'edited' })).toBe(1);
    expect(await countRecords(db, { datasetId: d.id, split: 'test', tag: 'edited' })).toBe(1);
    await deleteDataset(db, d.id);
    expect(await listDatasets(db)).toEqual([]);
    expect(await db.records.count()).toBe(0);
  });

  it('stores hostile text unchanged', async () => {
    const db = await freshDb();
    const d = await createDataset(db, 'hostile');
    const evil = pair(1, { prompt: '<script>alert(1)</script>', chosen: '<img src=x onerror="alert(2)">', rejected: '\u202e\u0000"; DROP TABLE records; --' });
    const [id] = await addRecords(db, d.id, [evil]);
    const back = await db.records.get(id!);
    expect(back).toMatchObject({ prompt: evil.prompt, chosen: evil.chosen, rejected: evil.rejected });
  });
});

describe('staged imports', () => {
  it('a staged dataset is invisible until the import completes', async () => {
    const db = await freshDb();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let midway: { listed: number; staged: number } | null = null;
    async function* batches(): AsyncGenerator<ImportBatch> {
      yield { records: [pair(1), pair(2)], errors: [] };
      midway = { listed: (await listDatasets(db)).length, staged: await db.datasets.where('status').equals('staging').count() };
      await gate;
      yield { records: [pair(3)], errors: [] };
    }
    const done = importDataset(db, batches(), { name: 'staged' });
    await vi.waitFor(() => expect(midway).not.toBeNull());
    release();
    const r = await done;
    expect(midway).toEqual({ listed: 0, staged: 1 });
    expect(r.written).toBe(3);
    expect((await listDatasets(db)).map((d) => d.name)).toEqual(['staged']);
  });

  it('an import aborted halfway leaves the database exactly as before', async () => {
    const db = await freshDb();
    await importText(db, 'existing', pairsJsonl(50));
    const before = await snapshot(db);
    const controller = new AbortController();
    const source = textSource('big.jsonl', pairsJsonl(20_000), 16 * 1024);
    const det = await detectFormat(source);
    let written = 0;
    const run = importFile(db, source, det.mapping!, {
      name: 'aborted',
      signal: controller.signal,
      onProgress: (p) => {
        written = p.written;
        if (p.written >= 5000) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(written).toBeGreaterThanOrEqual(5000);
    expect(written).toBeLessThan(20_000);
    expect(await snapshot(db)).toEqual(before);
  });

  it("onErrors 'abort': one bad row stores nothing; 'skip': the valid rows are kept and the bad ones listed", async () => {
    const db = await freshDb();
    const before = await snapshot(db);
    await expect(importText(db, 'strict', pairsJsonl(100, 10), { onErrors: 'abort' })).rejects.toBeInstanceOf(ImportRejectedError);
    expect(await snapshot(db)).toEqual(before);
    const r = await importText(db, 'lenient', pairsJsonl(100, 10));
    expect(r.written).toBe(90);
    expect(r.rejected).toBe(10);
    expect(r.errors[0]).toMatchObject({ line: 10, field: 'chosen', reason: expect.stringMatching(/expected text or a list/) });
    expect(r.dataset.source?.rowsRejected).toBe(10);
  });

  it('a file that breaks off keeps the rows before the break, or nothing', async () => {
    const db = await freshDb();
    const text = JSON.stringify(Array.from({ length: 30 }, (_, i) => ({ prompt: `p${i}`, chosen: ' c', rejected: ' r' }))).slice(0, -40);
    const before = await snapshot(db);
    await expect(importText(db, 'broken.json', text, { onErrors: 'abort' })).rejects.toThrow(/truncated JSON/);
    expect(await snapshot(db)).toEqual(before);
    const r = await importText(db, 'broken.json', text);
    expect(r.fatal).toMatch(/truncated JSON/);
    expect(r.written).toBeGreaterThan(25);
    expect(r.written).toBeLessThan(30);
  });

  it('appending stages too, then moves the records in one step', async () => {
    const db = await freshDb();
    const first = await importText(db, 'base', pairsJsonl(40));
    const source = textSource('more.jsonl', pairsJsonl(25));
    const det = await detectFormat(source);
    const r = await importFile(db, source, det.mapping!, { name: 'ignored', appendTo: first.dataset.id, defaults: { split: 'test' } });
    expect(r.dataset.id).toBe(first.dataset.id);
    expect(r.dataset.counts).toMatchObject({ total: 65, bySplit: { train: 40, test: 25 } });
    expect((await listDatasets(db)).length).toBe(1);
    expect(await db.datasets.count()).toBe(1);
  });

  it('leftovers of an interrupted import are discarded when the workspace opens', async () => {
    const name = `test-${process.pid}-leftover`;
    const db = await freshDb(name);
    await importText(db, 'kept', pairsJsonl(10));
    await db.datasets.add({ id: 'half', name: 'half', createdAt: 1, updatedAt: 1, status: 'staging', counts: (await listDatasets(db))[0]!.counts });
    await db.records.bulkAdd([{ ...pair(1), datasetId: 'half' }]);
    db.close();
    open.splice(open.indexOf(db), 1);
    const again = await freshDb(name);
    expect(await again.datasets.count()).toBe(1);
    expect(await again.records.count()).toBe(10);
  });
});

describe('a full disk', () => {
  const quota = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError');

  it('an import that runs out of space is rolled back with a clear error', async () => {
    const db = await freshDb();
    await importText(db, 'existing', pairsJsonl(20));
    const before = await snapshot(db);
    const real = db.records.bulkAdd.bind(db.records);
    let calls = 0;
    vi.spyOn(db.records, 'bulkAdd').mockImplementation(((...args: Parameters<typeof real>) => {
      if (++calls === 3) return Promise.reject(quota());
      return real(...args);
    }) as typeof real);
    const err = await importText(db, 'too big', pairsJsonl(3000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageFullError);
    expect((err as Error).message).toMatch(/storage is full after \d+ imported records: the import was rolled back and nothing already stored changed/);
    expect(await snapshot(db)).toEqual(before);
  });

  it('records that could not be saved come back with the error', async () => {
    const db = await freshDb();
    const d = await createDataset(db, 'labels');
    vi.spyOn(db.records, 'bulkAdd').mockRejectedValueOnce(quota());
    const err = (await addRecords(db, d.id, [pair(1), pair(2)]).catch((e: unknown) => e)) as StorageFullError;
    expect(err).toBeInstanceOf(StorageFullError);
    expect(err.unsaved).toEqual([pair(1), pair(2)]);
    expect(await db.records.count()).toBe(0);
  });
});

describe('backup and restore', () => {
  async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const p of gen) parts.push(p);
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  const content = async (db: PrefDb) => {
    const ds = await listDatasets(db);
    const out: { name: string; records: PrefRecord[] }[] = [];
    for (const d of ds) {
      const recs = await db.records.where('datasetId').equals(d.id).sortBy('id');
      out.push({ name: d.name, records: recs.map(({ id: _i, datasetId: _d, ...r }) => r as PrefRecord) });
    }
    return out;
  };

  it('round-trips the whole workspace through one gzip file', async () => {
    const db = await freshDb();
    await importText(db, 'one', pairsJsonl(120));
    const source = await fileSource(`${DATASETS}kto_en_demo.json`);
    const det = await detectFormat(source);
    await importFile(db, source, det.mapping!, { name: 'two' });
    const bytes = await collect(backupWorkspace(db, { pageSize: 50 }));
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);

    const other = await freshDb();
    await importText(other, 'to be replaced', pairsJsonl(5));
    const r = await restoreWorkspace(other, bytesSource('backup.jsonl.gz', bytes), { mode: 'replace' });
    expect(r).toEqual({ datasets: 2, records: 420, labels: 0 });
    expect(await content(other)).toEqual(await content(db));
    expect((await listDatasets(other)).map((d) => d.counts.total)).toEqual([120, 300]);

    await restoreWorkspace(other, bytesSource('backup.jsonl.gz', bytes), { mode: 'merge' });
    expect((await listDatasets(other)).length).toBe(4);
  });

  it('a truncated or foreign backup changes nothing', async () => {
    const db = await freshDb();
    await importText(db, 'one', pairsJsonl(300));
    const bytes = await collect(backupWorkspace(db));
    const target = await freshDb();
    await importText(target, 'mine', pairsJsonl(7));
    const before = await snapshot(target);
    await expect(restoreWorkspace(target, bytesSource('b.gz', bytes.subarray(0, bytes.length - 30)))).rejects.toThrow(/gzip/);
    await expect(restoreWorkspace(target, textSource('b.jsonl', pairsJsonl(3)))).rejects.toThrow(/not a PrefStudio backup/);
    const lines = (await gunzipText(bytes)).split('\n').filter(Boolean);
    await expect(restoreWorkspace(target, textSource('b.jsonl', lines.slice(0, -1).join('\n')))).rejects.toThrow(/truncated: no end line/);
    const tampered = lines.map((l, i) => (i === 5 ? l.replace('"kind":"pair"', '"kind":"pear"') : l)).join('\n');
    await expect(restoreWorkspace(target, textSource('b.jsonl', tampered))).rejects.toThrow(/line 6: bad record/);
    expect(await snapshot(target)).toEqual(before);
  });

  async function gunzipText(bytes: Uint8Array): Promise<string> {
    const { gunzipSync } = await import('fflate');
    return new TextDecoder().decode(gunzipSync(bytes));
  }
});

describe('storage helpers', () => {
  it('persistence and estimates, or "unsupported" without the API', async () => {
    expect(await requestPersistence(undefined)).toBe('unsupported');
    expect(await storageEstimate(undefined)).toBeNull();
    expect(await requestPersistence({ persist: async () => true, persisted: async () => false })).toBe('granted');
    expect(await requestPersistence({ persist: async () => false, persisted: async () => false })).toBe('denied');
    const e = await storageEstimate({ estimate: async () => ({ usage: 3e8, quota: 1.2e9 }), persisted: async () => true });
    expect(e).toEqual({ usage: 3e8, quota: 1.2e9, fraction: 0.25, persisted: true });
    expect(describeEstimate(e!)).toBe('300.0 MB of 1.2 GB (25%)');
  });
});

