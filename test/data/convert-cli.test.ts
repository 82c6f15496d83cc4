// `prefstudio convert`: detects, converts, reports counts and bad rows, exits 1 when nothing is
// valid (leaving no output file) and 2 on usage errors.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

  it('to plain-text TRL says which records text cannot hold', async () => {
    const r = await convert(`${DATASETS}dpo_en_demo.json`, '--to', 'trl', '--out', join(dir, 'dpo-text.jsonl'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote:   114 rows from 114 records/);
    expect(r.out).toContain('skipped 80 record(s): a system prompt needs the conversational format');
    expect(r.out).toContain('skipped 106 record(s): a multi-turn prompt needs the conversational format');
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
    expect(p.err).toMatch(/prompt-only data has no responses/);
  });

  it('usage errors exit 2', async () => {
    expect((await convert('a.json', '--to', 'nope', '--out', 'x')).code).toBe(2);
    expect((await convert('a.json', '--to', 'trl')).err).toMatch(/--out is required/);
    expect((await convert('--to', 'trl', '--out', 'x')).err).toMatch(/exactly one input/);
    expect((await convert('--help')).code).toBe(0);
  });
});
