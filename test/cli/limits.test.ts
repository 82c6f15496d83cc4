// Hostile inputs through the real CLI on the real filesystem (issue 17: "nothing unbounded",
// "validate before allocating", "honest reports"): gzip and zip bombs, a 130k-row CSV and a highly
// compressed .jsonl.gz in train / eval / sample / export, a CSV with 3M columns, Parquet footers
// repeating one row group, invalid UTF-8, an unterminated CSV quote, mixed-format rows, bad rows
// counted once, chosen == rejected, --lora-r 300000, --max-new-tokens 1e8 and --top-p 5. Each
// case runs `prefstudio` as a child process in a fresh temporary folder and checks the exit code,
// the one-line message, the child's peak memory (VmHWM) and the bytes of every file that existed
// before. Big inputs are generated here; the limits live in src/data/io/limits.ts,
// src/data/read/{rows,csv,parquet}.ts, src/engine/lora/adapter.ts (planLora) and src/cli/sample.ts.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';
import { parquetMetadata } from 'hyparquet';
import { ByteWriter, parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PARQUET_FOOTER } from '../../src/data/read/parquet.js';
import { TINY_LLAMA } from '../model/helpers.js';
import { failsWith, peakUnder } from '../support/cli-checks.js';
import { changes, lines, runCli, snapshot } from '../support/cli.js';

const ADAPTER = new URL('../fixtures/export/tiny-llama-adapter', import.meta.url).pathname;

const root = mkdtempSync(join(tmpdir(), 'prefstudio-limits-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh folder for one case. */
const fresh = () => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
};

const same = (before: ReturnType<typeof snapshot>, d: string) => expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });

/** n short preference rows as JSON Lines (different prompts, so they compress like text, not zeros). */
function pairLines(count: number, bad: (i: number) => boolean = () => false): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(bad(i) ? `{"prompt":"q${i % 97}","chosen":" a","rejected":${i % 5}}` : `{"prompt":"q${i % 97}","chosen":" a${i % 3}","rejected":" b${i % 7}"}`);
  return out.join('\n') + '\n';
}

describe('decompression limits, checked while inflating', () => {
  it('a gzip ratio bomb (.jsonl.gz of zeros) is stopped with the limit and how to raise it, in convert and train; nothing written', async () => {
    const d = fresh();
    // 256 MiB, not less: convert and train peak at about 200 and 240 MiB on it (2026-12-07), so a
    // bomb inflated whole would go over the 400 MiB peakUnder below; 64 MiB would stay under it.
    writeFileSync(join(d, 'bomb.jsonl.gz'), gzipSync(new Uint8Array(256 << 20), { level: 9 }));
    const before = snapshot(d);
    const convert = await runCli(['convert', join(d, 'bomb.jsonl.gz'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    failsWith(convert, 1, /^prefstudio convert: bomb\.jsonl\.gz \(gzip\) inflates more than 500 times its compressed size .*: a decompression bomb\? Set PREFSTUDIO_MAX_INFLATE_RATIO to raise the limit$/);
    peakUnder(convert, 400);
    const train = await runCli(['train', '--model', TINY_LLAMA, '--data', join(d, 'bomb.jsonl.gz'), '--method', 'dpo', '--out', join(d, 'run')]);
    failsWith(train, 1, /^prefstudio train: .*bomb\.jsonl\.gz: bomb\.jsonl\.gz \(gzip\) inflates more than 500 times .*PREFSTUDIO_MAX_INFLATE_RATIO/);
    peakUnder(train, 400);
    same(before, d);
  }, 60_000);

  it('the total-size limit names PREFSTUDIO_MAX_INFLATE_BYTES; raising the ratio lets a highly compressed file through', async () => {
    const d = fresh();
    writeFileSync(join(d, 'pairs.jsonl.gz'), gzipSync(pairLines(100_000)));
    const before = snapshot(d);
    const small = await runCli(['convert', join(d, 'pairs.jsonl.gz'), '--to', 'trl', '--out', join(d, 'out.jsonl')], { env: { PREFSTUDIO_MAX_INFLATE_BYTES: '1M' } });
    failsWith(small, 1, /^prefstudio convert: pairs\.jsonl\.gz \(gzip\) inflates past 1 MiB, the limit on decompressed size: set PREFSTUDIO_MAX_INFLATE_BYTES \(bytes, e\.g\. 64G\) to raise it$/);
    same(before, d);
    const bad = await runCli(['convert', join(d, 'pairs.jsonl.gz'), '--to', 'trl', '--out', join(d, 'out.jsonl')], { env: { PREFSTUDIO_MAX_INFLATE_RATIO: 'lots' } });
    failsWith(bad, 1, /PREFSTUDIO_MAX_INFLATE_RATIO=lots is not a number/);
    const ok = await runCli(['convert', join(d, 'pairs.jsonl.gz'), '--to', 'trl', '--out', join(d, 'out.jsonl')], { env: { PREFSTUDIO_MAX_INFLATE_RATIO: '2000' } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(join(d, 'out.jsonl'), 'utf8').split('\n').length - 1).toBe(100_000);
  }, 60_000);

  it('zip bombs as --adapter: refused by what they declare, or while they inflate, never inflated whole', async () => {
    const d = fresh();
    const config = readFileSync(join(ADAPTER, 'adapter_config.json'));
    /** An adapter zip whose adapter_model.safetensors entry holds `bytes`. */
    const zip = (bytes: Uint8Array) => zipSync({ 'adapter/adapter_config.json': config, 'adapter/adapter_model.safetensors': [bytes, { level: 9 }] });
    /** A copy of `z` whose adapter_model.safetensors entry declares `declared` bytes (its central directory). */
    const declaring = (z: Uint8Array, declared: number) => {
      const c = z.slice();
      const view = new DataView(c.buffer);
      const name = 'adapter/adapter_model.safetensors';
      for (let i = 0; i + 46 + name.length <= c.length; i++) {
        if (view.getUint32(i, true) === 0x02014b50 && new TextDecoder().decode(c.subarray(i + 46, i + 46 + name.length)) === name) view.setUint32(i + 24, declared, true);
      }
      return c;
    };
    // 64 MiB of zeros, compressed once for the two files below (seconds at level 9 here).
    const zeros64 = zip(new Uint8Array(64 << 20));
    writeFileSync(join(d, 'bomb.zip'), zeros64);
    // It declares 32 MiB (a ratio the check of the header lets through) and inflates to 64 MiB.
    writeFileSync(join(d, 'under.zip'), declaring(zeros64, 32 << 20));
    // A 4 KiB entry whose central directory says 4 GB.
    writeFileSync(join(d, 'liar.zip'), declaring(zip(new Uint8Array(4096)), 0xfffffff0));
    const before = snapshot(d);
    const bomb = await runCli(['export', '--model', TINY_LLAMA, '--adapter', join(d, 'bomb.zip'), '--peft', join(d, 'out')]);
    failsWith(bomb, 1, /^prefstudio export: .*bomb\.zip: adapter\/adapter_model\.safetensors declares to inflate more than 500 times its compressed size \(64 MiB from 64\.\d KiB\): a decompression bomb\? Set PREFSTUDIO_MAX_INFLATE_RATIO to raise the limit$/);
    peakUnder(bomb, 400);
    const under = await runCli(['export', '--model', TINY_LLAMA, '--adapter', join(d, 'under.zip'), '--gguf', join(d, 'out.gguf')]);
    failsWith(under, 1, /^prefstudio export: .*under\.zip: adapter\/adapter_model\.safetensors inflates more than 500 times its compressed size \(\d+\.\d MiB from \d+\.\d KiB\): a decompression bomb\? Set PREFSTUDIO_MAX_INFLATE_RATIO to raise the limit$/);
    peakUnder(under, 400);
    const lie = await runCli(['eval', '--model', TINY_LLAMA, '--adapter', join(d, 'liar.zip'), '--data', join(d, 'none.jsonl'), '--method', 'dpo', '--out', join(d, 'm.json')]);
    failsWith(lie, 1, /liar\.zip: adapter\/adapter_model\.safetensors declares to inflate more than 500 times its compressed size .*PREFSTUDIO_MAX_INFLATE_RATIO/);
    peakUnder(lie, 400);
    same(before, d);
  }, 60_000);
});

describe('row batches are bounded: nothing spreads or recurses over rows', () => {
  it('train on a CSV of 130k short rows (one read chunk) trains', async () => {
    const d = fresh();
    // The file: 130k rows of 6 bytes, 780 KB, all in one read chunk.
    const csv = ['prompt,chosen,rejected', ...Array.from({ length: 130_000 }, (_, i) => `${'abcdefghij'[i % 10]},a,b`)].join('\n') + '\n';
    writeFileSync(join(d, 'rows.csv'), csv);
    expect(csv.length).toBeLessThan(1 << 20);
    const before = snapshot(d);
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', join(d, 'rows.csv'), '--method', 'simpo', '--steps', '1', '--batch-size', '2', '--out', join(d, 'run')], { timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/130000 records/);
    expect(r.stderr).not.toMatch(/Maximum call stack/);
    peakUnder(r, 2048);
    expect(readdirSync(join(d, 'run')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'checkpoint.safetensors', 'metrics.jsonl', 'training_config.json']);
    const { removed, changed } = changes(before, snapshot(d));
    expect({ removed, changed }).toEqual({ removed: [], changed: [] });
  }, 300_000);

  it('a highly compressed .jsonl.gz of 130k rows works in sample --prompts-from and export --trl; eval reads 130k rows (all but 4 bad) and scores the 4', async () => {
    const d = fresh();
    writeFileSync(join(d, 'rows.jsonl.gz'), gzipSync(pairLines(130_000), { level: 9 }));
    writeFileSync(join(d, 'bad.jsonl.gz'), gzipSync(pairLines(130_000, (i) => i >= 4), { level: 9 }));
    expect(readFileSync(join(d, 'rows.jsonl.gz')).length).toBeLessThan(1 << 20);
    const before = snapshot(d);
    const sample = await runCli(['sample', '--model', TINY_LLAMA, '--prompts-from', join(d, 'rows.jsonl.gz'), '--limit', '2', '--max-new-tokens', '2'], { timeoutMs: 120_000 });
    expect(sample.code, sample.stderr).toBe(0);
    expect(lines(sample.stdout)).toHaveLength(2);
    peakUnder(sample, 1536);
    const trl = await runCli(['export', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--trl', join(d, 'trl'), '--data', join(d, 'rows.jsonl.gz'), '--method', 'dpo', '--base-model', 'my-org/tiny-llama'], { timeoutMs: 120_000 });
    expect(trl.code, trl.stderr).toBe(0);
    expect(readFileSync(join(d, 'trl', 'data', 'train.jsonl'), 'utf8').split('\n').length - 1).toBe(130_000);
    peakUnder(trl, 1536);
    const evaluated = await runCli(['eval', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--data', join(d, 'bad.jsonl.gz'), '--method', 'dpo', '--out', join(d, 'metrics.json')], { timeoutMs: 120_000 });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stderr).toMatch(/4 records \(trl-preference, pair\), 129996 bad rows skipped/);
    expect(JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')).num_examples).toBe(4);
    peakUnder(evaluated, 1536);
    const { removed, changed } = changes(before, snapshot(d));
    expect({ removed, changed }).toEqual({ removed: [], changed: [] });
  }, 400_000);
});

describe('limits proportional to the file', () => {
  it('a 28 MB CSV with 3M columns stops at the field limit, in little memory', async () => {
    const d = fresh();
    const header = Array.from({ length: 3_000_000 }, (_, i) => `c${i}`).join(',');
    writeFileSync(join(d, 'wide.csv'), `${header}\n${header}\n`);
    const before = snapshot(d);
    const r = await runCli(['convert', join(d, 'wide.csv'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    failsWith(r, 1, /^prefstudio convert: line 1: a CSV row with more than 16384 fields: not a table of preference data \(or the wrong delimiter\)$/);
    peakUnder(r, 400);
    expect(r.ms).toBeLessThan(30_000);
    same(before, d);
  }, 60_000);

  it('Parquet footers repeating one row group (120k times, 20k times, 5k times) are refused in seconds', async () => {
    const d = fresh();
    const buf = parquetWriteBuffer({ columnData: [{ name: 'prompt', data: ['Q1', 'Q2'] }, { name: 'chosen', data: [' yes', ' good'] }, { name: 'rejected', data: [' no', ' bad'] }] });
    const { writeMetadata } = (await import(new URL('../../node_modules/hyparquet-writer/src/metadata.js', import.meta.url).href)) as { writeMetadata: (w: ByteWriter, m: unknown) => void };
    const bytes = new Uint8Array(buf);
    const footerLength = new DataView(buf).getUint32(bytes.length - 8, true);
    const body = bytes.subarray(0, bytes.length - 8 - footerLength);
    const repeated = (times: number) => {
      const meta = parquetMetadata(buf);
      meta.row_groups = Array.from({ length: times }, () => meta.row_groups[0]!);
      meta.num_rows = BigInt(times) * BigInt(meta.row_groups[0]!.num_rows);
      const w = new ByteWriter();
      writeMetadata(w, meta);
      const footer = new Uint8Array(w.getBuffer());
      const out = new Uint8Array(body.length + footer.length + 8);
      out.set(body);
      out.set(footer, body.length);
      new DataView(out.buffer).setUint32(body.length + footer.length, footer.length, true);
      out.set(new TextEncoder().encode('PAR1'), out.length - 4);
      return out;
    };
    // 120k copies make a footer of about 20.8 MB, over the 16 MiB MAX_PARQUET_FOOTER (checked
    // below); 200k made 34.6 MB and took 27 s of the test's own time to write on a loaded machine.
    for (const times of [120_000, 20_000, 5_000]) writeFileSync(join(d, `x${times}.parquet`), repeated(times));
    const footerBytes = (f: string) => {
      const b = readFileSync(join(d, f));
      return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(b.length - 8, true);
    };
    expect(footerBytes('x120000.parquet')).toBeGreaterThan(MAX_PARQUET_FOOTER);
    expect(footerBytes('x20000.parquet')).toBeLessThan(MAX_PARQUET_FOOTER);
    const before = snapshot(d);
    const expected: Record<number, RegExp> = {
      120000: /^prefstudio convert: Parquet footer of \d+ bytes, over the 16 MiB limit: rewrite the file with fewer, larger row groups$/,
      20000: /^prefstudio convert: corrupt Parquet footer: \d+ bytes of metadata for \d+ bytes of data \(more than 4 times\): a repeated or padded row-group list\?$/,
      5000: /^prefstudio convert: corrupt Parquet footer: column "\w+" of row group \d+ and column "\w+" of row group \d+ of x5000\.parquet claim the same bytes .*5000 row groups describe more data than the \d+-byte file holds$/,
    };
    for (const times of [120_000, 20_000, 5_000]) {
      const r = await runCli(['convert', join(d, `x${times}.parquet`), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
      failsWith(r, 1, expected[times]!);
      peakUnder(r, 400);
      expect(r.ms).toBeLessThan(20_000);
    }
    same(before, d);
  }, 120_000);
});

describe('honest reports', () => {
  it('invalid UTF-8 is named with its byte offset and line, not turned into U+FFFD', async () => {
    const d = fresh();
    writeFileSync(join(d, 'first.jsonl'), Buffer.concat([Buffer.from('{"prompt":"'), Buffer.from([0xff]), Buffer.from('","chosen":" a","rejected":" b"}\n')]));
    writeFileSync(join(d, 'later.jsonl'), Buffer.concat([Buffer.from(pairLines(2)), Buffer.from('{"prompt":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('","chosen":" a","rejected":" b"}\n')]));
    const before = snapshot(d);
    const first = await runCli(['convert', join(d, 'first.jsonl'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    failsWith(first, 1, /^prefstudio convert: line 1: invalid UTF-8 at byte 11 \(0xff\): the file is not UTF-8 text \(re-encode it as UTF-8\)$/);
    same(before, d);
    const later = await runCli(['convert', join(d, 'later.jsonl'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    expect(later.code, later.stderr).toBe(0);
    const offset = Buffer.byteLength(pairLines(2)) + '{"prompt":"caf'.length;
    expect(later.stdout).toContain(`the file breaks off: line 3: invalid UTF-8 at byte ${offset} (0xc3): the file is not UTF-8 text (re-encode it as UTF-8) (the rows before it were converted)`);
    expect(readFileSync(join(d, 'out.jsonl'), 'utf8')).not.toContain('\ufffd');
  }, 60_000);

  it('an unterminated CSV quote is named with its line (in a data row and in the header), not "no data rows"', async () => {
    const d = fresh();
    writeFileSync(join(d, 'row.csv'), 'prompt,chosen,rejected\nq1,"a1,b1\nq2,a2,b2\nq3,a3,b3\n');
    writeFileSync(join(d, 'header.csv'), 'prompt,"chosen,rejected\nq1,a1,b1\n');
    writeFileSync(join(d, 'later.csv'), 'prompt,chosen,rejected\nq0,a,b\nq1,"a1,b1\nq2,a2,b2\n');
    const before = snapshot(d);
    const row = await runCli(['convert', join(d, 'row.csv'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    failsWith(row, 1, /^prefstudio convert: .*row\.csv: line 2: no readable data row \(1 bad rows; the first: CSV quoting: unterminated quote: the quoted field opened on line 2 never closes \(the field runs on to line 4, the end of the file\)\)$/);
    const header = await runCli(['convert', join(d, 'header.csv'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    failsWith(header, 1, /^prefstudio convert: line 1: CSV quoting in the header row: unterminated quote: the quoted field opened on line 1 never closes$/);
    same(before, d);
    const later = await runCli(['convert', join(d, 'later.csv'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    expect(later.code).toBe(0);
    expect(later.stdout).toContain('bad row: line 3: CSV quoting: unterminated quote: the quoted field opened on line 3 never closes (the field runs on to line 4, the end of the file)');
  }, 60_000);

  it('mixed-format rows: the explicit-prompt row in an implicit-prompt file is a bad row, not "prompt": ""', async () => {
    const d = fresh();
    writeFileSync(join(d, 'mixed.jsonl'), [
      '{"prompt":"What is 2+2?","chosen":" 4","rejected":" 5"}',
      '{"chosen":"Q: hi A: hello","rejected":"Q: hi A: go away"}',
      '{"chosen":"Q: yo A: hey","rejected":"Q: yo A: no"}',
    ].join('\n') + '\n');
    const before = snapshot(d);
    const r = await runCli(['convert', join(d, 'mixed.jsonl'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('read:    3 rows: 2 records, 1 bad rows');
    expect(r.stdout).toContain('bad row: line 1, field prompt: this row has a prompt of its own (explicit prompt) but the file was read as implicit prompt');
    const out = readFileSync(join(d, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string });
    expect(out.map((o) => o.prompt)).toEqual(['Q: hi A:', 'Q: yo A:']);
    expect(changes(before, snapshot(d)).changed).toEqual([]);
  }, 30_000);

  it('a row with two field errors is one bad row; chosen == rejected is warned about', async () => {
    const d = fresh();
    writeFileSync(join(d, 'rows.jsonl'), [
      '{"prompt":"q","chosen":"","rejected":""}',
      '{"prompt":"q2","chosen":" same","rejected":" same"}',
      '{"prompt":"q3","chosen":" a","rejected":" b"}',
    ].join('\n') + '\n');
    const r = await runCli(['convert', join(d, 'rows.jsonl'), '--to', 'trl', '--out', join(d, 'out.jsonl')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('read:    3 rows: 2 records, 1 bad rows');
    expect(r.stdout).toContain('bad row: line 1, field chosen: is empty');
    expect(r.stdout).toContain('bad row: line 1, field rejected: is empty');
    expect(r.stdout).toContain('warning: 1 pair(s) have chosen identical to rejected (line 2): they carry no preference');
    const train = await runCli(['train', '--model', TINY_LLAMA, '--data', join(d, 'rows.jsonl'), '--method', 'dpo', '--lora-r', '300000', '--out', join(d, 'run')]);
    expect(train.stderr).toContain('2 records (trl-preference, pair), 1 bad rows skipped');
    expect(train.stderr).toMatch(/train: warning: 1 pair\(s\) have chosen identical to rejected \(line 2\)/);
  }, 60_000);
});

describe('validate before allocating', () => {
  it('train --lora-r 300000 is refused naming the rank, before the adapter exists', async () => {
    const d = fresh();
    writeFileSync(join(d, 'pairs.jsonl'), pairLines(4));
    const before = snapshot(d);
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', join(d, 'pairs.jsonl'), '--method', 'dpo', '--lora-r', '300000', '--out', join(d, 'run')]);
    failsWith(r, 1, /^prefstudio train: LoRA rank r = 300000 is larger than any targeted layer can use: the widest has min\(in, out\) = 32 features, so r must be at most 32 on this model$/);
    expect(r.stderr).not.toMatch(/batch/);
    peakUnder(r, 700);
    same(before, d);
  }, 60_000);

  it('sample --max-new-tokens 1e8 and --top-p 5 are refused with the reason', async () => {
    const tokens = await runCli(['sample', '--model', TINY_LLAMA, '--prompt', 'Hi', '--max-new-tokens', '1e8']);
    failsWith(tokens, 2, /^prefstudio sample: --max-new-tokens 1e8 is more than the model's context of 64 positions \(.*: max_position_embeddings\)$/);
    expect(tokens.stdout).toBe('');
    expect(tokens.stderr).not.toMatch(/Dawn|validation error/i);
    peakUnder(tokens, 700);
    const topP = await runCli(['sample', '--model', TINY_LLAMA, '--prompt', 'Hi', '--top-p', '5']);
    failsWith(topP, 2, /^prefstudio sample: --top-p must be in \(0, 1\] \(a probability mass; 1 is off\), got 5$/);
    expect(topP.stdout).toBe('');
  }, 60_000);
});
