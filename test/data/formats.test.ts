// Every other import format on small hand-made files (test/fixtures/data/), every container
// (JSON, JSONL, CSV/TSV, Parquet, gzip), hostile text kept unchanged, and malformed files giving
// errors with line (or row) and field.
import { gzipSync } from 'fflate';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { DataFormatError } from '../../src/data/errors.js';
import { detectFormat, proposeMapping } from '../../src/data/import/detect.js';
import { importAll, importRecords, previewMapping, type ImportResult } from '../../src/data/import/pipeline.js';
import { fileSource } from '../../src/data/io/node-file.js';
import { bytesSource, textSource } from '../../src/data/io/source.js';
import type { PairRecord, PrefRecord, UnpairedRecord } from '../../src/data/records.js';

const FIX = new URL('../fixtures/data/', import.meta.url).pathname;
const load = async (name: string): Promise<ImportResult> => importAll(await fileSource(FIX + name));
const content = (r: PrefRecord) => {
  const { source: _s, createdAt: _c, ...rest } = r;
  return rest;
};

describe('community and annotation-tool formats', () => {
  it('HH-RLHF: transcripts become conversations, the shared turns the prompt', async () => {
    const r = await load('hh_rlhf.jsonl');
    expect(r.detection.mapping?.format).toBe('hh-rlhf');
    expect(r.errors).toEqual([]);
    expect(r.records.map(content)).toEqual([
      {
        kind: 'pair',
        prompt: [{ role: 'user', content: 'What is the capital of France?' }],
        chosen: [{ role: 'assistant', content: 'Paris.' }],
        rejected: [{ role: 'assistant', content: 'London, obviously.' }],
        split: 'train',
        tags: [],
      },
      {
        kind: 'pair',
        prompt: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello! How can I help?' },
          { role: 'user', content: 'Tell me a joke.' },
        ],
        chosen: [{ role: 'assistant', content: 'Why did the chicken cross the road? To get to the other side.' }],
        rejected: [{ role: 'assistant', content: 'No.' }],
        split: 'train',
        tags: [],
      },
      {
        kind: 'pair',
        prompt: [{ role: 'user', content: 'Say nothing.' }],
        chosen: [{ role: 'assistant', content: '' }],
        rejected: [{ role: 'assistant', content: 'Something.' }],
        split: 'train',
        tags: [],
      },
    ]);
  });

  it('UltraFeedback binarized: prompt extracted from the message lists, scores kept', async () => {
    const r = await load('ultrafeedback.jsonl');
    expect(r.detection.mapping?.format).toBe('ultrafeedback');
    expect(r.records[0]).toMatchObject({
      prompt: [{ role: 'user', content: 'Name a prime number.' }],
      chosen: [{ role: 'assistant', content: '7' }],
      rejected: [{ role: 'assistant', content: '9' }],
      scores: { chosen: 9, rejected: 2.5 },
    });
  });

  it('LLaMA-Factory alpaca ranking: instruction and input joined, history and system kept', async () => {
    const r = await load('alpaca_ranking.json');
    expect(r.detection.mapping?.format).toBe('llamafactory-alpaca');
    expect(r.records.map(content)).toEqual([
      {
        kind: 'pair',
        prompt: [{ role: 'user', content: 'Translate to French\ngood morning' }],
        chosen: [{ role: 'assistant', content: 'bonjour' }],
        rejected: [{ role: 'assistant', content: 'bonne nuit' }],
        split: 'train',
        tags: [],
      },
      {
        kind: 'pair',
        system: 'You are a translator.',
        prompt: [
          { role: 'user', content: 'Translate to French: good morning' },
          { role: 'assistant', content: 'bonjour' },
          { role: 'user', content: 'And to German?' },
        ],
        chosen: [{ role: 'assistant', content: 'guten Morgen' }],
        rejected: [{ role: 'assistant', content: 'gute Nacht' }],
        split: 'train',
        tags: [],
      },
    ]);
  });

  it('OpenAI preference fine-tuning: developer message is the system prompt, content parts joined', async () => {
    const r = await load('openai_preference.jsonl');
    expect(r.detection.mapping).toMatchObject({ format: 'openai-preference', columns: { prompt: 'input.messages', chosen: 'preferred_output', rejected: 'non_preferred_output' } });
    expect(r.records[0]).toMatchObject({ system: 'Answer briefly.', prompt: [{ role: 'user', content: 'Hello, can you tell me how cold San Francisco is today?' }] });
    expect(r.records[1]).toMatchObject({ prompt: [{ role: 'user', content: 'Two parts' }], chosen: [{ role: 'assistant', content: 'joined' }] });
  });

  it('Argilla 2 flattened: first submitted ranking, annotator, ties; unanswered records reported', async () => {
    const r = await load('argilla_v2_flat.json');
    expect(r.detection.mapping).toMatchObject({ format: 'argilla', kind: 'pair', columns: { prompt: 'prompt', response1: 'response1', response2: 'response2', question: 'preference.responses' } });
    const pairs = r.records as PairRecord[];
    expect(pairs.map((p) => [p.chosen, p.rejected, p.annotator, p.tie ?? false])).toEqual([
      ['blue', 'beige', 'u-alice', false],
      ['42', '4', 'u-carol', false], // the draft of u-bob is skipped; u-carol ranks names best first
      ['apple', 'pear', 'u-alice', true],
    ]);
    expect(r.errors).toEqual([{ index: 3, line: expect.any(Number), field: 'preference.responses', reason: 'no submitted response' }]);
  });

  it('Argilla 2 nested with three responses imports as ranking; Argilla 1 Hub rows as pairs', async () => {
    const r = await load('argilla_v2_nested.json');
    expect(r.detection.mapping).toMatchObject({ format: 'argilla', kind: 'ranking', columns: { prompt: 'fields.instruction', question: 'responses.ranking' } });
    expect(r.records.map(content)).toEqual([
      { kind: 'ranking', prompt: 'Rank these greetings', responses: ['Hi', 'Hello there', 'Yo'], ranks: [2, 1, 3], annotator: 'u-dan', split: 'train', tags: [] },
    ]);
    const v1 = await load('argilla_v1_hub.jsonl');
    expect(v1.records.map(content)).toEqual([{ kind: 'pair', prompt: 'Best pet?', chosen: 'rock', rejected: 'cat', annotator: 'u1', split: 'train', tags: [] }]);
  });

  it('Label Studio pairwise: cancelled annotations skipped, annotator/time/rationale kept', async () => {
    const r = await load('label_studio.json');
    expect(r.detection.mapping).toMatchObject({ format: 'label-studio', columns: { prompt: 'data.prompt', left: 'data.answer1', right: 'data.answer2' } });
    expect(r.records.map(content)).toEqual([
      {
        kind: 'pair',
        prompt: 'Summarise: the cat sat.',
        chosen: 'A cat sat.',
        rejected: 'Dogs <b>bark</b>.',
        annotator: 'ann@example.com',
        annotatedAt: Date.parse('2024-05-02T11:30:00Z'),
        rationale: 'faithful',
        split: 'train',
        tags: [],
      },
      { kind: 'pair', prompt: 'Pick the polite one', chosen: 'Please leave.', rejected: 'Go away.', annotator: '3', annotatedAt: Date.parse('2024-05-03T09:00:00Z'), split: 'train', tags: [] },
    ]);
    expect(r.errors).toMatchObject([{ index: 2, field: 'annotations', reason: 'no completed pairwise annotation' }]);
  });

  it('a mapping can be changed column by column', async () => {
    // Swap chosen and rejected: a wrongly labelled file fixed in the mapping, not in the file.
    const source = await fileSource(`${FIX}pairs.csv`);
    const det = await detectFormat(source);
    const mapping = { ...det.mapping!, columns: { ...det.mapping!.columns, chosen: 'rejected', rejected: 'chosen', tags: null } };
    const recs: PrefRecord[] = [];
    for await (const b of importRecords(source, mapping)) recs.push(...b.records);
    expect(recs[1]).toMatchObject({ chosen: '1 2 4', rejected: '1, 2, 3', tags: [] });
    // The preview shows what the changed mapping makes of the sample rows.
    const preview = previewMapping(det.sample, { ...mapping, columns: { ...mapping.columns, rejected: null } }, 'csv');
    expect(preview[0]).toEqual({ errors: [{ index: 0, field: 'rejected', reason: 'no column is mapped to this field' }] });
    expect(previewMapping(det.sample, mapping, 'csv')[0]).toMatchObject({ record: { prompt: 'Say "hi"', chosen: 'Hello,\r\nworld' } });
    // Another format for the same rows: TRL implicit prompt instead of explicit.
    const implicit = proposeMapping('trl-implicit-preference', det.sample as Record<string, unknown>[]);
    expect(implicit.columns).toMatchObject({ chosen: 'chosen', rejected: 'rejected' });
  });
});

describe('containers', () => {
  it('CSV: quoted commas, newlines and quotes, CRLF, split and tags columns', async () => {
    const r = await load('pairs.csv');
    expect(r.detection).toMatchObject({ container: 'csv', mapping: { format: 'trl-preference', columns: { split: 'split', tags: 'tags' } } });
    expect(r.records.map((x) => [x.prompt, (x as PairRecord).chosen, (x as PairRecord).rejected, x.split, x.tags])).toEqual([
      ['Say "hi"', 'Hi!', 'Hello,\r\nworld', 'train', ['greeting']],
      ['Count to three', '1, 2, 3', '1 2 4', 'test', ['math', 'counting']],
      ['Empty tags', 'yes', 'no', 'train', []],
    ]);
    expect(r.records.map((x) => (x.source as { line: number }).line)).toEqual([2, 4, 5]);
  });

  it('TSV with boolean words; CSV cells holding JSON messages', async () => {
    const kto = await load('kto.tsv');
    expect(kto.detection.mapping?.format).toBe('trl-unpaired');
    expect((kto.records as UnpairedRecord[]).map((x) => x.label)).toEqual([true, false, true]);
    const conv = await load('conversational.csv');
    expect(conv.records[0]).toMatchObject({ prompt: [{ role: 'user', content: 'Hi' }], chosen: [{ role: 'assistant', content: 'Hello' }] });
  });

  it('CSV split across tiny chunks reads the same rows and lines', async () => {
    const text = 'prompt,chosen,rejected\r\n"a\r\nb","x ""q""",y\r\nc,d,e\r\n' + Array.from({ length: 50 }, (_, i) => `p${i},"c,${i}",r${i}`).join('\r\n');
    const whole = await importAll(textSource('t.csv', text));
    const tiny = await importAll(textSource('t.csv', text, 7));
    expect(tiny.records.map(content)).toEqual(whole.records.map(content));
    expect(tiny.records.map((x) => x.source)).toEqual(whole.records.map((x) => x.source));
    expect(whole.records).toHaveLength(52);
    expect(whole.records[0]).toMatchObject({ prompt: 'a\r\nb', chosen: 'x "q"', source: { line: 2 } });
    expect(whole.records[1]!.source).toMatchObject({ line: 4 });
    expect(whole.records[51]!.source).toMatchObject({ line: 54 });
  });

  it('JSON: an array, a {"data": [...]} wrapper, a stream of objects, in chunks of any size', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ prompt: `p"${i}\\`, chosen: ` {c}[${i}]`, rejected: ' r' }));
    const want = rows.map((r) => [r.prompt, r.chosen]);
    const texts = [
      JSON.stringify(rows, null, 2),
      JSON.stringify({ meta: { note: 'rows: [not these]', rows: 3 }, data: rows, after: [1, 2] }),
      rows.map((r) => JSON.stringify(r, null, 1)).join('\n'),
    ];
    for (const text of texts) {
      for (const chunk of [3, 17, 1 << 16]) {
        const r = await importAll(textSource('x.json', text, chunk));
        expect(r.detection.container).toBe('json');
        expect(r.errors).toEqual([]);
        expect(r.records.map((x) => [x.prompt, (x as PairRecord).chosen])).toEqual(want);
      }
    }
    const pretty = await importAll(textSource('x.json', texts[0]!));
    expect(pretty.records[1]!.source).toMatchObject({ row: 1, line: 7 });
  });

  it('gzip of any container, detected by its magic bytes', async () => {
    const r = await load('pairs.jsonl.gz');
    expect(r.detection).toMatchObject({ container: 'jsonl', compressed: 'gzip' });
    expect(r.records).toHaveLength(200);
    const csv = gzipSync(new TextEncoder().encode('prompt,chosen,rejected\na,b,c\n'));
    const c = await importAll(bytesSource('export.csv.gz', csv));
    expect(c.detection).toMatchObject({ container: 'csv', compressed: 'gzip' });
    expect(c.records[0]).toMatchObject({ prompt: 'a', chosen: 'b', rejected: 'c' });
  });

  it('Parquet: row groups read one at a time, rows addressed by index', async () => {
    const n = 250;
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'prompt', data: Array.from({ length: n }, (_, i) => `p${i}`), type: 'STRING' },
        { name: 'completion', data: Array.from({ length: n }, (_, i) => (i === 7 ? '' : ` c${i}`)), type: 'STRING' },
        { name: 'label', data: Array.from({ length: n }, (_, i) => i % 2 === 0), type: 'BOOLEAN' },
      ],
      rowGroupSize: 64,
    });
    const bytes = new Uint8Array(buf);
    const progress: number[] = [];
    const source = bytesSource('kto.parquet', bytes);
    const det = await detectFormat(source);
    expect(det).toMatchObject({ container: 'parquet', mapping: { format: 'trl-unpaired' } });
    const batches: number[] = [];
    const errors = [];
    for await (const b of importRecords(source, det.mapping!, { onProgress: (p) => progress.push(p.rows) })) {
      batches.push(b.records.length + b.errors.length);
      errors.push(...b.errors);
    }
    expect(batches).toEqual([64, 64, 64, 58]);
    expect(progress).toEqual([64, 128, 192, 250]);
    expect(errors).toEqual([{ index: 7, field: 'completion', reason: 'is empty' }]);
    const gz = await importAll(bytesSource('kto.parquet.gz', gzipSync(bytes)));
    expect(gz.detection).toMatchObject({ container: 'parquet', compressed: 'gzip' });
    expect(gz.records).toHaveLength(249);
  });
});

describe('hostile data', () => {
  it('HTML and script payloads are stored as plain text, unchanged', async () => {
    const r = await load('hostile.jsonl');
    expect(r.errors).toEqual([]);
    expect(r.records.map((x) => [x.prompt, (x as PairRecord).chosen, (x as PairRecord).rejected])).toEqual([
      ["<script>alert('x')</script>", '<img src=x onerror=alert(1)>', 'javascript:alert(document.cookie)'],
      ['</textarea><svg/onload=alert(2)>', "{{constructor.constructor('alert(3)')()}}", '<iframe srcdoc="<script>parent.alert(4)</script>"></iframe>'],
      ['null\u0000byte and \u202eright-to-left override and zero\u200bwidth', 'emoji \u{1F600} and \\u escapes \\\\', 'line\r\nbreaks\tand tabs'],
    ]);
    const csv = await load('hostile.csv');
    expect(csv.records[0]).toMatchObject({ prompt: '<script>alert(1)</script>', chosen: '<b onmouseover=alert(2)>hover</b>', rejected: "=cmd|' /C calc'!A0" });
  });

  it('"__proto__" and "constructor" keys or columns pollute nothing', async () => {
    await load('hostile.jsonl');
    await load('hostile.csv');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    const r = await load('hostile.jsonl');
    expect(Object.keys(r.records[1]!)).not.toContain('__proto__');
  });
});

describe('malformed files', () => {
  it('truncated JSON: a format error with the line, after the complete records', async () => {
    const r = await load('truncated.json');
    expect(r.records).toHaveLength(2);
    expect(r.fatal).toBeInstanceOf(DataFormatError);
    expect(r.fatal?.message).toMatch(/^line 4: truncated JSON: the input ends inside a string \(record 2 starts on line 4\); 2 records read before it$/);
  });

  it('truncated JSON Lines: the cut line is a bad row with its line number', async () => {
    const r = await load('truncated.jsonl');
    expect(r.records).toHaveLength(2);
    expect(r.errors).toEqual([{ index: 2, line: 3, reason: expect.stringMatching(/^invalid JSON: /) }]);
  });

  it('bad CSV quoting and wrong field counts name the line', async () => {
    const q = await load('bad_quoting.csv');
    expect(q.records.map((x) => x.prompt)).toEqual(['fine']);
    // papaparse takes the malformed quotes of line 3 as text: its field runs to the end of the file.
    expect(q.errors).toEqual([{ index: 1, line: 3, reason: 'CSV quoting: unterminated quote: the quoted field opened on line 3 never closes (the field runs on to line 6, the end of the file)' }]);
    const w = await load('wrong_columns.csv');
    expect(w.errors).toEqual([
      { index: 1, line: 3, reason: 'expected 3 fields (as in the header), got 4' },
      { index: 2, line: 4, reason: 'expected 3 fields (as in the header), got 2' },
    ]);
  });

  it('wrong types name the line and the field', async () => {
    const r = await load('wrong_types.jsonl');
    expect(r.records).toHaveLength(1);
    expect(r.errors).toEqual([
      { index: 1, line: 2, field: 'prompt', reason: 'expected text or a list of {role, content} messages, got number 42' },
      { index: 2, line: 3, field: 'chosen.0', reason: 'expected a message {role, content}, got text "not"' },
      { index: 3, line: 4, field: 'chosen.0.role', reason: 'unknown role text "wizard"' },
      { index: 4, line: 5, field: 'chosen', reason: 'is empty' },
      { index: 5, line: 6, field: 'chosen', reason: 'is text but the prompt is messages' },
    ]);
  });

  it('missing fields, a line that is not JSON, a row that is not an object', async () => {
    const r = await load('missing_fields.jsonl');
    expect(r.records).toHaveLength(1);
    expect(r.errors).toEqual([
      { index: 1, line: 2, field: 'label', reason: 'missing' },
      { index: 2, line: 3, field: 'prompt', reason: 'missing' },
      { index: 3, line: 4, reason: expect.stringMatching(/^invalid JSON: /) },
      { index: 4, line: 5, field: 'label', reason: 'expected true or false, got text "maybe"' },
      { index: 5, line: 6, reason: 'expected an object (a row with named fields)' },
    ]);
  });

  it('truncated or corrupt gzip: a clear error after the rows before the damage, never silently short data', async () => {
    const t = await load('truncated.jsonl.gz');
    expect(t.records.length).toBeGreaterThan(0);
    expect(t.records.length).toBeLessThan(200);
    expect(t.fatal?.message).toMatch(/truncated gzip: the compressed data ends early/);
    // Every byte of the data is there, only the trailer is wrong: still refused.
    const c = await load('corrupt_trailer.jsonl.gz');
    expect(c.records).toHaveLength(200);
    expect(c.fatal?.message).toMatch(/truncated or corrupt gzip: the trailer does not match the data/);
    await expect(importAll(bytesSource('x.gz', new Uint8Array([0x1f, 0x8b, 8, 0, 0])))).rejects.toThrow(/gzip/);
  });

  it('not a Parquet file, binary noise, an empty file', async () => {
    await expect(load('not_a_parquet.parquet')).rejects.toThrow(/not a Parquet file: the PAR1 marker is missing/);
    await expect(importAll(bytesSource('x.bin', new Uint8Array([0, 1, 2, 3, 250, 251, 9, 0, 0, 17])))).rejects.toThrow(/binary data/);
    await expect(importAll(textSource('empty.jsonl', ''))).rejects.toThrow(/empty file/);
    const cut = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'prompt', data: ['a'], type: 'STRING' }] })).subarray(0, 40);
    await expect(importAll(bytesSource('cut.parquet', cut))).rejects.toThrow(/not a Parquet file/);
  });

  it('an unknown shape says which columns it saw', async () => {
    await expect(importAll(textSource('x.jsonl', '{"question": "q", "answer": "a"}\n'))).rejects.toThrow(/no known preference format \(or prompt set\) fits the columns question, answer/);
  });
});
