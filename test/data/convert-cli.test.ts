// `prefstudio convert`: detects, converts, reports counts, bad rows and dropped records, exits 1
// when nothing is valid or records were dropped without --allow-drop (leaving no output file, and
// an existing one as it was) and 2 on usage errors.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'fflate';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/convert.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { fileSource } from '../../src/data/io/node-file.js';
import { recordContent } from '../../src/data/records.js';

const DATASETS = new URL('../../../shared/fixtures/datasets/', import.meta.url).pathname;
const FIX = new URL('../fixtures/data/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'prefstudio-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

async function convert(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const code = await run(args);
  vi.restoreAllMocks();
  return { code, out, err };
}

describe('prefstudio convert', () => {
  it('dpo_en_demo.json to conversational TRL JSONL: counts, and the output imports to the same records', async () => {
    const out = join(dir, 'dpo.jsonl');
    const r = await convert(`${DATASETS}dpo_en_demo.json`, '--to', 'trl-conversational', '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toContain('read:    300 rows: 300 records, 0 bad rows');
    expect(r.out).toContain(`wrote:   300 rows from 300 records to ${out} as TRL (conversational)`);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(300);
    const a = await importAll(await fileSource(`${DATASETS}dpo_en_demo.json`));
    const b = await importAll(await fileSource(out));
    expect(b.records.map(recordContent)).toEqual(a.records.map(recordContent));
  });

  it('to plain-text TRL keeps every record: multi-turn conversations as transcripts, system prompts first', async () => {
    const out = join(dir, 'dpo-text.jsonl');
    const r = await convert(`${DATASETS}dpo_en_demo.json`, '--to', 'trl', '--out', out);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('dropped: 0 record(s)');
    expect(r.out).toMatch(/wrote:   300 rows from 300 records/);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(rows.filter((x) => x.prompt!.includes('\n\nHuman: ') && x.prompt!.endsWith('\n\nAssistant:'))).toHaveLength(106);
  });

  it('HH-RLHF to plain-text TRL: 3 of 3 records, the transcript as the prompt, prompt + response the original text', async () => {
    const out = join(dir, 'hh.jsonl');
    const r = await convert(`${FIX}hh_rlhf.jsonl`, '--to', 'trl', '--out', out);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('wrote:   3 rows from 3 records');
    const raw = readFileSync(`${FIX}hh_rlhf.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(rows.map((x) => [x.prompt! + x.chosen!, x.prompt! + x.rejected!])).toEqual(raw.map((x) => [x.chosen, x.rejected]));
    expect(rows.map((x) => x.prompt)).toEqual([
      '\n\nHuman: What is the capital of France?\n\nAssistant:',
      '\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke.\n\nAssistant:',
      '\n\nHuman: Say nothing.\n\nAssistant:',
    ]);
  });

  it('dropping records fails (exit 1, nothing written, an existing file kept) unless --allow-drop', async () => {
    const record = { prompt: 'Q', chosen: ' a', rejected: ' b', source: { type: 'manual' }, createdAt: 1, split: 'train', tags: [] };
    const input = join(dir, 'labelled.jsonl');
    writeFileSync(input, [{ kind: 'pair', ...record, bothBad: true }, { kind: 'pair', ...record }, { kind: 'pair', ...record, tie: true }, { kind: 'pair', ...record, bothBad: true }].map((x) => JSON.stringify(x)).join('\n') + '\n');
    const out = join(dir, 'labelled.out.jsonl');
    writeFileSync(out, 'keep me\n');
    const r = await convert(input, '--to', 'trl', '--out', out, '--force');
    expect(r.code).toBe(1);
    expect(r.out).toContain('dropped: 3 record(s) that TRL (standard text) cannot hold:');
    expect(r.out).toContain('skipped 2 record(s): both responses are bad: no preference; export as unpaired (KTO) to keep it');
    expect(r.out).toContain('skipped 1 record(s): a tie has no preferred response');
    expect(r.out).toContain('nothing written: 3 record(s) would be dropped; pass --allow-drop to write the other 1 without them');
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    expect(readdirSync(dir).filter((f) => /\.tmp$|\.tmp-/.test(f))).toEqual([]);

    const j = await convert(input, '--to', 'trl', '--out', out, '--json', '--force');
    expect(j.code).toBe(1);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, dropped: 3, allowDrop: false, rowsWritten: 0, skipped: [{ reason: expect.stringMatching(/^both responses are bad/), count: 2 }, { reason: 'a tie has no preferred response', count: 1 }] });

    const allowed = await convert(input, '--to', 'trl', '--out', out, '--allow-drop', '--force');
    expect(allowed.code, allowed.out).toBe(0);
    expect(allowed.out).toContain('dropped: 3 record(s)');
    expect(allowed.out).toContain('wrote:   1 rows from 1 records');
    expect(readFileSync(out, 'utf8')).toBe('{"prompt":"Q","chosen":" a","rejected":" b"}\n');

    // KTO keeps a both-bad pair as two undesirable rows; only the tie has no row.
    const kto = join(dir, 'labelled.kto.jsonl');
    const k = await convert(input, '--to', 'kto', '--out', kto, '--allow-drop');
    expect(k.code).toBe(0);
    expect(k.out).toContain('skipped 1 record(s): a tie says nothing about either response alone');
    expect(readFileSync(kto, 'utf8').trim().split('\n').map((l) => JSON.parse(l).label)).toEqual([false, false, true, false, false, false]);
  });

  it('kto to gzip JSONL and Parquet; bad rows listed with line and field', async () => {
    const gz = join(dir, 'kto.jsonl.gz');
    const r = await convert(`${FIX}wrong_types.jsonl`, '--to', 'kto', '--out', gz, '--max-errors', '2');
    expect(r.code).toBe(0);
    expect(r.out).toContain('read:    6 rows: 1 records, 5 bad rows');
    expect(r.out).toContain('bad row: line 2, field prompt: expected text or a list of {role, content} messages, got number 42');
    expect(r.out).toContain('bad row: line 3, field chosen.0: expected a message {role, content}, got text "not"');
    expect(r.out).toContain('... and 3 more bad rows');
    expect(new TextDecoder().decode(gunzipSync(readFileSync(gz)))).toBe('{"prompt":"ok","completion":" fine","label":true}\n{"prompt":"ok","completion":" meh","label":false}\n');
    const pq = join(dir, 'zen.parquet');
    expect((await convert(`${DATASETS}trl-zen/zen_standard_stepwise_supervision.jsonl`, '--to', 'trl', '--out', pq)).code).toBe(0);
    expect((await importAll(await fileSource(pq))).records).toHaveLength(19);
  });

  it('--json prints the report as data', async () => {
    const r = await convert(`${FIX}truncated.json`, '--to', 'trl', '--out', join(dir, 't.jsonl'), '--json');
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ ok: true, format: 'trl-preference', records: 2, rowsWritten: 2, fatal: expect.stringMatching(/line 4: truncated JSON/) });
  });

  it('exits 1 and writes nothing when nothing is valid', async () => {
    const out = join(dir, 'none.jsonl');
    const r = await convert(`${FIX}missing_fields.jsonl`, '--to', 'trl', '--out', out, '--strict');
    expect(r.code).toBe(1);
    expect(r.out).toContain('nothing written: bad rows and --strict');
    expect(existsSync(out)).toBe(false);
    const s = await convert(`${DATASETS}kto_en_demo.json`, '--to', 'trl-conversational', '--out', join(dir, 's.parquet'));
    expect(s.code).toBe(0);
    const stepOnly = await convert(`${DATASETS}trl-zen/zen_standard_stepwise_supervision.jsonl`, '--to', 'kto', '--out', join(dir, 'k.parquet'));
    expect(stepOnly.code).toBe(1);
    expect(stepOnly.out).toContain('skipped 19 record(s): a stepwise record has no completion to label');
    expect(existsSync(join(dir, 'k.parquet'))).toBe(false);
    const p = await convert(`${DATASETS}trl-zen/zen_standard_prompt_only.jsonl`, '--to', 'trl', '--out', join(dir, 'p.jsonl'));
    expect(p.code).toBe(1);
    expect(p.out).toMatch(/skipped 19 record\(s\): a prompt has no responses/);
    const q = await convert(`${DATASETS}trl-zen/zen_conversational_language_modeling.jsonl`, '--to', 'prompts', '--out', join(dir, 'q.jsonl'));
    expect(q.code).toBe(0);
    const rows = readFileSync(join(dir, 'q.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: unknown });
    expect(rows).toHaveLength(19);
    expect(rows[0]).toEqual({ prompt: [{ role: 'user', content: 'What is better than ugly?' }] });
  });

  it('usage errors exit 2', async () => {
    expect((await convert('a.json', '--to', 'nope', '--out', 'x')).code).toBe(2);
    expect((await convert('a.json', '--to', 'trl')).err).toMatch(/--out is required/);
    expect((await convert('--to', 'trl', '--out', 'x')).err).toMatch(/exactly one input/);
    expect((await convert('--help')).code).toBe(0);
  });
});
