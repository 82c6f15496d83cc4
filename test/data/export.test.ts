// Export to TRL JSONL (standard, conversational), TRL unpaired (KTO) and Parquet; round trips
// import -> export -> import give equal records.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'fflate';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { TrlExporter, type ExportOptions } from '../../src/data/export/trl.js';
import { encodeChunks, jsonlChunks, parquetBytes } from '../../src/data/export/write.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { extractPrompt } from '../../src/data/import/prompt.js';
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
    const raw = readFileSync(`${DATASETS}trl-zen/zen_standard_preference.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
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

  it('standard export flattens one-question conversations and writes longer ones as Human/Assistant transcripts', async () => {
    const single = pair({ prompt: [{ role: 'user', content: 'Q?' }], chosen: [{ role: 'assistant', content: 'A' }], rejected: [{ role: 'assistant', content: 'B' }] });
    const multi = pair({
      prompt: [
        { role: 'user', content: 'Q1' },
        { role: 'assistant', content: 'A1' },
        { role: 'user', content: 'Q2' },
      ],
      chosen: [{ role: 'assistant', content: 'A' }],
      rejected: [{ role: 'assistant', content: '' }],
    });
    const withSystem = { ...multi, system: 'Be brief.' };
    const tool = pair({ prompt: [{ role: 'user', content: 'Q' }, { role: 'tool', content: '{}' }], chosen: [{ role: 'assistant', content: 'A' }], rejected: [{ role: 'assistant', content: 'B' }] });
    const { rows, exporter } = await jsonl([single, multi, pair({ system: 'S' }), withSystem, tool, pair({ tie: true })], { shape: 'trl', style: 'standard' });
    const transcript = '\n\nHuman: Q1\n\nAssistant: A1\n\nHuman: Q2\n\nAssistant:';
    expect(rows).toEqual([
      { prompt: 'Q?', chosen: 'A', rejected: 'B' },
      // The prompt ends with the reply's marker; an empty reply has no space after it.
      { prompt: transcript, chosen: ' A', rejected: '' },
      // A system prompt goes first, then a blank line (a transcript starts with one).
      { prompt: 'S\n\nQ', chosen: ' good', rejected: ' bad' },
      { prompt: `Be brief.${transcript}`, chosen: ' A', rejected: '' },
    ]);
    expect(exporter.skipped).toEqual([
      { index: 4, reason: 'a tool message inside a conversation has no place in a Human/Assistant transcript: export it as conversational' },
      { index: 5, reason: 'a tie has no preferred response' },
    ]);
    expect([exporter.records, exporter.rows, exporter.skippedCount]).toEqual([4, 4, 2]);
  });

  it('HH-RLHF transcripts come back as the original text: prompt + response is the transcript, byte for byte', async () => {
    const raw = readFileSync(`${FIX}hh_rlhf.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { chosen: string; rejected: string });
    const first = await importAll(await fileSource(`${FIX}hh_rlhf.jsonl`));
    const { rows, exporter } = await jsonl(first.records, { shape: 'trl', style: 'standard' });
    expect(exporter.skipped).toEqual([]);
    expect(rows).toHaveLength(raw.length);
    rows.forEach((row, i) => {
      const prompt = row.prompt as string;
      expect(prompt).toMatch(/^\n\nHuman: [^]*\n\nAssistant:$/);
      expect(prompt + (row.chosen as string)).toBe(raw[i]!.chosen);
      expect(prompt + (row.rejected as string)).toBe(raw[i]!.rejected);
    });
    expect(rows[1]!.prompt).toBe('\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke.\n\nAssistant:');
    expect(rows[2]).toEqual({ prompt: '\n\nHuman: Say nothing.\n\nAssistant:', chosen: '', rejected: ' Something.' });
    // TRL's maybe_extract_prompt on the original text finds the same prompt (where chosen is not a prefix of rejected).
    for (const i of [0, 1]) expect(extractPrompt(raw[i]!.chosen, raw[i]!.rejected).prompt).toBe(rows[i]!.prompt);
  });

  it('labels mean what they say: a both-bad pair and a ranking of equal ranks are no preference rows', async () => {
    const same: RankingRecord = { kind: 'ranking', prompt: 'Q', responses: [' a', ' b'], ranks: [2, 2], ...base };
    const { rows, exporter } = await jsonl([pair({ bothBad: true }), same, pair()], { shape: 'trl' });
    expect(rows).toEqual([{ prompt: 'Q', chosen: ' good', rejected: ' bad' }]);
    expect(exporter.skipped).toEqual([
      { index: 0, reason: 'both responses are bad: no preference; export as unpaired (KTO) to keep it' },
      { index: 1, reason: 'every response has the same rank: no preference' },
    ]);
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
