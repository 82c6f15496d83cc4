// Seed files for the dataset fuzz: every data fixture, slices of the shared datasets and of the
// demo dataset, Parquet written here with hyparquet-writer (two row groups), and gzip of some.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import { parquetWriteBuffer } from 'hyparquet-writer';

export interface Seed {
  name: string;
  bytes: Uint8Array;
}

const FIXTURES = new URL('../fixtures/data/', import.meta.url).pathname;
const SHARED = new URL('../../../shared/fixtures/datasets/', import.meta.url).pathname;
const DEMO = new URL('../../public/datasets/demo-fortunes-positive.jsonl', import.meta.url).pathname;

const enc = new TextEncoder();

function firstLines(path: string, n: number): string {
  return readFileSync(path, 'utf8').split('\n').slice(0, n).join('\n') + '\n';
}

export function parquetSeeds(): Seed[] {
  const n = 12;
  const pairs = parquetWriteBuffer({
    columnData: [
      { name: 'prompt', data: Array.from({ length: n }, (_, i) => `question ${i}`), type: 'STRING' },
      { name: 'chosen', data: Array.from({ length: n }, (_, i) => ` good answer ${i}`), type: 'STRING' },
      { name: 'rejected', data: Array.from({ length: n }, (_, i) => ` bad answer ${i}`), type: 'STRING' },
      { name: 'score', data: Array.from({ length: n }, (_, i) => BigInt(i)), type: 'INT64' },
    ],
    rowGroupSize: 5,
  });
  const kto = parquetWriteBuffer({
    columnData: [
      { name: 'prompt', data: Array.from({ length: n }, (_, i) => `prompt ${i}`), type: 'STRING' },
      { name: 'completion', data: Array.from({ length: n }, (_, i) => ` completion ${i}`), type: 'STRING' },
      { name: 'label', data: Array.from({ length: n }, (_, i) => i % 2 === 0), type: 'BOOLEAN' },
    ],
    rowGroupSize: 4,
  });
  return [
    { name: 'pairs.parquet', bytes: new Uint8Array(pairs) },
    { name: 'kto.parquet', bytes: new Uint8Array(kto) },
  ];
}

export function datasetSeeds(): Seed[] {
  const seeds: Seed[] = readdirSync(FIXTURES)
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(FIXTURES, name))) }));
  for (const name of readdirSync(join(SHARED, 'trl-zen')).sort()) {
    seeds.push({ name, bytes: new Uint8Array(readFileSync(join(SHARED, 'trl-zen', name))) });
  }
  // The shared JSON arrays are large: their first records, as the same kind of file.
  for (const name of ['dpo_en_demo.json', 'kto_en_demo.json']) {
    const records = (JSON.parse(readFileSync(join(SHARED, name), 'utf8')) as unknown[]).slice(0, 6);
    seeds.push({ name, bytes: enc.encode(JSON.stringify(records, null, 2)) });
  }
  seeds.push({ name: 'demo-fortunes-positive.jsonl', bytes: enc.encode(firstLines(DEMO, 12)) });
  seeds.push(...parquetSeeds());
  for (const s of seeds.filter((x) => /^(zen_standard_preference|pairs\.csv|kto\.tsv|pairs\.parquet)/.test(x.name))) {
    seeds.push({ name: `${s.name}.gz`, bytes: gzipSync(s.bytes) });
  }
  return seeds;
}
