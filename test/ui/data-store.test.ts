// The Data page's store over the real import code (the Worker's API called in-process) and a
// fake-indexeddb workspace: detection and preview, a column changed by hand, bad rows with the
// choice to import the valid rows or nothing, cancel, export to TRL JSONL and back, backup.
import 'fake-indexeddb/auto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { detectFormat } from '../../src/data/import/detect.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { bytesSource } from '../../src/data/io/source.js';
import { openWorkspace, type PrefDb } from '../../src/db/index.js';
import { createDataApi } from '../../src/worker/import-api.js';

const saved = vi.hoisted(() => [] as { blob: Blob; fileName: string }[]);
vi.mock('../../src/services/data.js', async (original) => ({
  ...(await original<typeof import('../../src/services/data.js')>()),
  saveBlob: (blob: Blob, fileName: string) => saved.push({ blob, fileName }),
}));

const services = await import('../../src/services/data.js');
const { useDataStore, datasetNameFor } = await import('../../src/stores/data.js');

const DATASETS = new URL('../../../shared/fixtures/datasets/', import.meta.url).pathname;
const FIXTURES = new URL('../fixtures/data/', import.meta.url).pathname;

let db: PrefDb;
const initial = useDataStore.getState();

beforeEach(async () => {
  db?.close();
  if (db) await db.delete();
  db = await openWorkspace(`data-store-${Math.random()}`);
  services.useDataServices({ db, backend: createDataApi(async () => db) });
  useDataStore.setState(initial, true);
  saved.length = 0;
});
afterAll(async () => {
  db.close();
  await db.delete();
});

const store = () => useDataStore.getState();

async function fileBlob(path: string): Promise<Blob> {
  return new Blob([await readFile(path)]);
}

/** Resolves when the flow reaches one of the phases. */
function phase(...want: string[]): Promise<void> {
  return new Promise((resolve) => {
    if (want.includes(store().flow.phase)) return resolve();
    const stop = useDataStore.subscribe((s) => {
      if (want.includes(s.flow.phase)) {
        stop();
        resolve();
      }
    });
  });
}

describe('import flow', () => {
  it('detects, previews, imports dpo_en_demo.json with progress and lists the dataset', async () => {
    await store().pickFile(await fileBlob(`${DATASETS}dpo_en_demo.json`), 'dpo_en_demo.json');
    const flow = store().flow;
    expect(flow.phase).toBe('preview');
    if (flow.phase !== 'preview') return;
    expect(flow.mapping!.format).toBe('llamafactory-sharegpt');
    expect(flow.name).toBe('dpo_en_demo');
    expect(flow.preview.length).toBeGreaterThan(0);
    expect(flow.preview.every((c) => 'record' in c)).toBe(true);

    // A required column unmapped by hand: the preview says so, row by row.
    const chosenColumn = flow.mapping!.columns.chosen!;
    store().setColumn('chosen', null);
    const changed = store().flow;
    if (changed.phase !== 'preview') throw new Error('left preview');
    expect(changed.preview.every((c) => 'errors' in c && c.errors.some((e) => /no column is mapped/.test(e.reason)))).toBe(true);
    store().setColumn('chosen', chosenColumn);

    const seen = new Set<string>();
    const stop = useDataStore.subscribe((s) => void seen.add(s.flow.phase));
    await store().startImport();
    stop();
    expect(seen.has('importing')).toBe(true);
    const done = store().flow;
    expect(done.phase).toBe('done');
    if (done.phase !== 'done') return;
    const expected = await importAll(bytesSource('x.json', await readFile(`${DATASETS}dpo_en_demo.json`)));
    expect(done.summary.written).toBe(expected.records.length);
    expect(store().datasets.map((d) => [d.name, d.counts.total])).toEqual([['dpo_en_demo', expected.records.length]]);
  });

  it('bad rows: the person sees line, field and reason, and chooses nothing, then the valid rows', async () => {
    const blob = await fileBlob(`${FIXTURES}wrong_types.jsonl`);
    const expected = await importAll(bytesSource('wrong_types.jsonl', new Uint8Array(await blob.arrayBuffer())));
    expect(expected.errors.length).toBeGreaterThan(0);

    await store().pickFile(blob, 'wrong_types.jsonl');
    const importing = store().startImport();
    await phase('partial');
    const flow = store().flow;
    if (flow.phase !== 'partial') throw new Error(flow.phase);
    expect(flow.summary.rejected).toBe(expected.errors.length);
    expect(flow.summary.errors[0]).toMatchObject({ line: expected.errors[0]!.line, field: expected.errors[0]!.field, reason: expected.errors[0]!.reason });
    expect(await db.datasets.count()).toBe(1); // staged, invisible
    expect(await services.listDatasets()).toEqual([]);
    store().resolvePartial(false);
    await importing;
    expect(store().flow).toMatchObject({ phase: 'error', message: expect.stringMatching(/nothing was imported/) });
    expect(await db.datasets.count()).toBe(0);
    expect(await db.records.count()).toBe(0);

    await store().pickFile(blob, 'wrong_types.jsonl');
    const again = store().startImport();
    await phase('partial');
    store().resolvePartial(true);
    await again;
    expect(store().flow).toMatchObject({ phase: 'done', summary: { written: expected.records.length } });
    expect(store().datasets[0]!.counts.total).toBe(expected.records.length);
  });

  it('cancel stops the import and stores nothing', async () => {
    const lines = Array.from({ length: 40_000 }, (_, i) => JSON.stringify({ prompt: `p${i}`, chosen: `c${i}`, rejected: `r${i}` })).join('\n');
    await store().pickFile(new Blob([lines]), 'big.jsonl');
    const importing = store().startImport();
    await new Promise((r) => setTimeout(r, 30));
    store().cancelImport();
    await importing;
    expect(store().flow).toMatchObject({ phase: 'error', message: 'Import cancelled: nothing was stored.' });
    expect(await db.records.count()).toBe(0);
    expect(await db.datasets.count()).toBe(0);
  });

  it('a hostile or broken file is an error with the place', async () => {
    await store().pickFile(await fileBlob(`${FIXTURES}not_a_parquet.parquet`), 'not_a_parquet.parquet');
    expect(store().flow).toMatchObject({ phase: 'error', message: expect.stringMatching(/not a Parquet file/) });
  });

  it('names datasets after their files', () => {
    expect(datasetNameFor('dir/dpo_en_demo.jsonl.gz')).toBe('dpo_en_demo');
    expect(datasetNameFor('.json')).toBe('dataset');
  });
});

describe('export and backup', () => {
  it('exports TRL JSONL that imports back to the same pairs', async () => {
    const file = `${DATASETS}trl-zen/zen_standard_preference.jsonl`;
    await store().pickFile(await fileBlob(file), 'zen.jsonl');
    await store().startImport();
    const id = store().datasets[0]!.id;
    await store().exportDataset(id, 'trl');
    expect(store().notice?.kind).toBe('ok');
    expect(saved[0]!.fileName).toBe('zen.trl.jsonl');
    const text = await saved[0]!.blob.text();
    const rows = (t: string) => t.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(rows(text)).toEqual(rows(await readFile(file, 'utf8')));
    const back = await importAll(bytesSource('back.jsonl', new TextEncoder().encode(text)));
    expect(back.errors).toEqual([]);

    await store().exportDataset(id, 'parquet');
    const pq = saved[1]!;
    expect(pq.fileName).toBe('zen.parquet.parquet');
    const det = await detectFormat(bytesSource('x.parquet', new Uint8Array(await pq.blob.arrayBuffer())));
    expect(det.container).toBe('parquet');
    expect(det.mapping!.format).toBe('trl-preference');
  });

  it('backs up and restores the workspace', async () => {
    await store().pickFile(await fileBlob(`${DATASETS}trl-zen/zen_standard_preference.jsonl`), 'zen.jsonl');
    await store().startImport();
    await store().backup();
    const backup = saved[0]!;
    expect(backup.fileName).toMatch(/^prefstudio-backup-.*\.jsonl\.gz$/);
    await store().restore(backup.blob, backup.fileName, 'merge');
    expect(store().notice?.text).toMatch(/Restored 1 dataset/);
    expect(store().datasets.map((d) => d.name)).toEqual(['zen', 'zen']);
  });
});
