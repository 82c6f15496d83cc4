// Export to TRL JSONL (standard, conversational), TRL unpaired (KTO) and Parquet; round trips
// import -> export -> import give equal records.
import { gunzipSync } from 'fflate';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { TrlExporter, type ExportOptions } from '../../src/data/export/trl.js';
import { encodeChunks, jsonlChunks, parquetBytes } from '../../src/data/export/write.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { fileSource } from '../../src/data/io/node-file.js';
import { bytesSource, textSource } from '../../src/data/io/source.js';
import { recordContent, type PairRecord, type PrefRecord, type RankingRecord } from '../../src/data/records.js';

const DATASETS = new URL('../../../shared/fixtures/datasets/', import.meta.url).pathname;
const FIX = new URL('../fixtures/data/', import.meta.url).pathname;

async function jsonl(records: PrefRecord[], options: ExportOptions) {
  const exporter = new TrlExporter(options);
  let text = '';
  for await (const t of jsonlChunks([records], exporter)) text += t;
  return { text, exporter, rows: text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const base = { source: { type: 'manual' as const }, createdAt: 1, split: 'train' as const, tags: [] };
const pair = (extra: Partial<PairRecord> = {}): PairRecord => ({ kind: 'pair', prompt: 'Q', chosen: ' good', rejected: ' bad', ...base, ...extra });

describe('round trips are lossless', () => {
  const files = [
    `${DATASETS}dpo_en_demo.json`,
    `${DATASETS}kto_en_demo.json`,
    `${DATASETS}trl-zen/zen_standard_preference.jsonl`,
    `${DATASETS}trl-zen/zen_conversational_preference.jsonl`,
    `${DATASETS}trl-zen/zen_standard_implicit_prompt_preference.jsonl`,
    `${DATASETS}trl-zen/zen_conversational_implicit_prompt_preference.jsonl`,
    `${DATASETS}trl-zen/zen_standard_unpaired_preference.jsonl`,
    `${DATASETS}trl-zen/zen_conversational_unpaired_preference.jsonl`,
    `${DATASETS}trl-zen/zen_standard_stepwise_supervision.jsonl`,
    `${FIX}hh_rlhf.jsonl`,
    `${FIX}openai_preference.jsonl`,
    `${FIX}pairs.csv`,
  ];
  it.each(files)('%s -> TRL JSONL -> import', async (file) => {
    const first = await importAll(await fileSource(file));
    expect(first.records.length).toBeGreaterThan(0);
    const { text, exporter } = await jsonl(first.records, { shape: 'trl' });
    expect(exporter.skipped).toEqual([]);
    const again = await importAll(textSource('export.jsonl', text));
    expect(again.errors).toEqual([]);
    expect(again.records.map(recordContent)).toEqual(first.records.map(recordContent));
  });

  it.each(files.filter((f) => !f.endsWith('.csv')))('%s -> Parquet -> import', async (file) => {
    const first = await importAll(await fileSource(file));
    const bytes = await parquetBytes([first.records], new TrlExporter({ shape: 'trl' }), { rowGroupSize: 100 });
    const again = await importAll(bytesSource('export.parquet', bytes));
    expect(again.detection.container).toBe('parquet');
    expect(again.records.map(recordContent)).toEqual(first.records.map(recordContent));
  });

  it('PrefStudio records JSONL keeps everything, provenance included', async () => {
    const files = [`${FIX}argilla_v2_nested.json`, `${FIX}label_studio.json`, `${FIX}ultrafeedback.jsonl`, `${DATASETS}trl-zen/zen_standard_stepwise_supervision.jsonl`];
    for (const file of files) {
      const first = await importAll(await fileSource(file), { defaults: { tags: ['t'], split: 'test', annotator: 'me' } });
      const { text } = await jsonl(first.records, { shape: 'records' });
      const again = await importAll(textSource('records.jsonl', text));
      expect(again.detection.mapping?.format).toBe('prefstudio');
      expect(again.records).toEqual(first.records);
    }
  });
});

describe('TRL unpaired (KTO)', () => {
  it('unpairs each pair into (prompt, chosen, true) and (prompt, rejected, false), as TRL does', async () => {
    const raw = (await import('node:fs')).readFileSync(`${DATASETS}trl-zen/zen_standard_preference.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const first = await importAll(await fileSource(`${DATASETS}trl-zen/zen_standard_preference.jsonl`));
    const { rows } = await jsonl(first.records, { shape: 'unpaired' });
    expect(rows).toHaveLength(38);
    // TRL's _unpair_row on the whole file as one batch: all chosen rows, then all rejected rows.
    const trl = [
      ...raw.map((r: Record<string, unknown>) => ({ prompt: r.prompt, completion: r.chosen, label: true })),
      ...raw.map((r: Record<string, unknown>) => ({ prompt: r.prompt, completion: r.rejected, label: false })),
    ];
    const key = (r: Record<string, unknown>) => JSON.stringify([r.prompt, r.completion, r.label]);
    expect(rows.map(key).sort()).toEqual(trl.map(key).sort());
    expect(rows[0]).toEqual({ prompt: 'Beautiful is better than', completion: ' ugly.', label: true });
    expect(rows[1]).toEqual({ prompt: 'Beautiful is better than', completion: ' the moon.', label: false });
    // And the unpaired file reads back as 38 unpaired records.
    const again = await importAll(textSource('kto.jsonl', rows.map((r) => JSON.stringify(r)).join('\n')));
    expect(again.records.map((r) => r.kind)).toEqual(Array(38).fill('unpaired'));
  });

  it('both-bad pairs give two undesirable rows; ties are skipped with the reason', async () => {
    const { rows, exporter } = await jsonl([pair({ bothBad: true }), pair({ tie: true }), pair()], { shape: 'unpaired' });
    expect(rows.map((r) => [r.completion, r.label])).toEqual([
      [' good', false],
      [' bad', false],
      [' good', true],
      [' bad', false],
    ]);
    expect(exporter.skipped).toEqual([{ index: 1, reason: 'a tie says nothing about either response alone' }]);
  });

  it('a ranking gives its best responses true and its worst false', async () => {
    const ranking: RankingRecord = { kind: 'ranking', prompt: 'Q', responses: [' a', ' b', ' c', ' d'], ranks: [2, 1, 3, 3], ...base };
    const { rows } = await jsonl([ranking], { shape: 'unpaired' });
    expect(rows.map((r) => [r.completion, r.label])).toEqual([
      [' b', true],
      [' c', false],
      [' d', false],
    ]);
  });
});

describe('styles and kinds', () => {
  it('conversational export adds the system prompt and wraps text as messages', async () => {
    const { rows } = await jsonl([pair({ system: 'Be brief.' })], { shape: 'trl', style: 'conversational' });
    expect(rows).toEqual([
      {
        prompt: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Q' },
        ],
        chosen: [{ role: 'assistant', content: ' good' }],
        rejected: [{ role: 'assistant', content: ' bad' }],
      },
    ]);
  });

  it('standard export flattens one-question conversations and skips what text cannot hold', async () => {
    const single = pair({ prompt: [{ role: 'user', content: 'Q?' }], chosen: [{ role: 'assistant', content: 'A' }], rejected: [{ role: 'assistant', content: 'B' }] });
    const multi = pair({
      prompt: [
        { role: 'user', content: 'Q1' },
        { role: 'assistant', content: 'A1' },
        { role: 'user', content: 'Q2' },
      ],
      chosen: [{ role: 'assistant', content: 'A' }],
      rejected: [{ role: 'assistant', content: 'B' }],
    });
    const { rows, exporter } = await jsonl([single, multi, pair({ system: 'S' }), pair({ tie: true })], { shape: 'trl', style: 'standard' });
    expect(rows).toEqual([{ prompt: 'Q?', chosen: 'A', rejected: 'B' }]);
    expect(exporter.skipped).toEqual([
      { index: 1, reason: 'a multi-turn prompt needs the conversational format' },
      { index: 2, reason: 'a system prompt needs the conversational format' },
      { index: 3, reason: 'a tie has no preferred response' },
    ]);
    expect([exporter.records, exporter.rows, exporter.skippedCount]).toEqual([1, 1, 3]);
  });

  it('a ranking becomes every pair with different ranks', async () => {
    const ranking: RankingRecord = { kind: 'ranking', prompt: 'Q', responses: [' a', ' b', ' c'], ranks: [2, 1, 2], ...base };
    const { rows } = await jsonl([ranking], { shape: 'preference' });
    expect(rows).toEqual([
      { prompt: 'Q', chosen: ' b', rejected: ' a' },
      { prompt: 'Q', chosen: ' b', rejected: ' c' },
    ]);
  });

  it('gzip JSON Lines output', async () => {
    const exporter = new TrlExporter({ shape: 'trl' });
    const parts: Uint8Array[] = [];
    for await (const b of encodeChunks(jsonlChunks([[pair(), pair()]], exporter), true)) parts.push(b);
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
    expect(new TextDecoder().decode(gunzipSync(all))).toBe('{"prompt":"Q","chosen":" good","rejected":" bad"}\n'.repeat(2));
  });
});

describe('Parquet', () => {
  it('writes messages as list<struct<role, content>> and one schema per file', async () => {
    const conv = pair({ prompt: [{ role: 'user', content: 'Q' }], chosen: [{ role: 'assistant', content: 'A' }], rejected: [{ role: 'assistant', content: 'B' }] });
    const exporter = new TrlExporter({ shape: 'trl' });
    const unpaired: PrefRecord = { kind: 'unpaired', prompt: [{ role: 'user', content: 'Q' }], completion: [{ role: 'assistant', content: 'A' }], label: true, ...base };
    const bytes = await parquetBytes([[conv, conv, unpaired]], exporter);
    const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    expect(Number(meta.num_rows)).toBe(2);
    const file = { byteLength: bytes.length, slice: (s: number, e?: number) => bytes.slice(s, e).buffer as ArrayBuffer };
    const rows = await parquetReadObjects({ file, rowFormat: 'object' });
    expect(rows[0]).toEqual({ prompt: [{ role: 'user', content: 'Q' }], chosen: [{ role: 'assistant', content: 'A' }], rejected: [{ role: 'assistant', content: 'B' }] });
    expect(exporter.skippedCount).toBe(1);
    expect(exporter.skipped.at(-1)?.reason).toMatch(/other columns than the first row/);
  });
});
