// Inputs the fuzz pass (test/fuzz/*.test.ts) found to break an importer, cut down to what
// triggers the bug, kept so the fix stays fixed.
import 'fake-indexeddb/auto';
import { gunzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileBytes, onnx, rewrite, TINY_GPT2, TINY_LLAMA, TINY_QWEN2, variant } from '../model/helpers.js';
import { DataFormatError } from '../../src/data/errors.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { bytesSource, textSource } from '../../src/data/io/source.js';
import { loadModel } from '../../src/engine/model/load.js';
import { ModelLoadError } from '../../src/engine/model/errors.js';
import { parseAdapterConfig, readSafetensors } from '../../src/engine/training/peft.js';
import { addRecords, backupWorkspace, createDataset, openWorkspace, restoreWorkspace, type PrefDb } from '../../src/db/index.js';
import { parquetSeeds } from './seeds.js';

describe('fuzz regressions: datasets', () => {
  it('a Parquet footer that hyparquet trips over is "corrupt Parquet footer", not "Cannot read properties of undefined"', async () => {
    const n = 12;
    const bytes = new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: 'prompt', data: Array.from({ length: n }, (_, i) => `prompt ${i}`), type: 'STRING' },
          { name: 'completion', data: Array.from({ length: n }, (_, i) => ` completion ${i}`), type: 'STRING' },
          { name: 'label', data: Array.from({ length: n }, (_, i) => i % 2 === 0), type: 'BOOLEAN' },
        ],
        rowGroupSize: 4,
      }),
    );
    // Found by the fuzzer: bytes 858..908 copied into the footer at 977.
    const broken = new Uint8Array(bytes.length + 50);
    broken.set(bytes.subarray(0, 977));
    broken.set(bytes.subarray(858, 908), 977);
    broken.set(bytes.subarray(977), 1027);
    const err = await importAll(bytesSource('kto.parquet', broken)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).message).toMatch(/^corrupt Parquet footer: /);
    expect((err as Error).message).not.toMatch(/undefined|Cannot read/);
  });
});

describe('fuzz regressions: JSON records in many small chunks', () => {
  it('a record holding a 2 MiB string, read 31 characters at a time, is read whole in seconds (the scanner copied its growing buffer once per chunk: over a minute)', { timeout: 30_000 }, async () => {
    const long = 'x'.repeat(2 << 20);
    const rows = [{ prompt: 'p \\n "q"', chosen: long, rejected: 'no' }, { prompt: 'second', chosen: 'a\\"b', rejected: 'c' }];
    const text = JSON.stringify({ data: rows });
    const result = await importAll(bytesSource('long.json', new TextEncoder().encode(text), 31));
    expect(result.errors).toEqual([]);
    expect(result.records.map((r) => (r.kind === 'pair' ? [r.prompt, r.chosen.length, r.rejected] : r.kind))).toEqual([
      ['p \\n "q"', long.length, 'no'],
      ['second', 4, 'c'],
    ]);
  });
});

describe('fuzz regressions: Parquet pages', () => {
  it('a page header without its type says "missing", not hyparquet\'s "undefined"', async () => {
    const bytes = new Uint8Array(
      parquetWriteBuffer({
        columnData: ['prompt', 'chosen', 'rejected'].map((name) => ({ name, data: Array.from({ length: 12 }, (_, i) => `${name} ${i}`), type: 'STRING' as const })),
        rowGroupSize: 5,
      }),
    );
    bytes[4] = 0; // the first page header's first field (its type)
    const r = await importAll(bytesSource('pairs.parquet', bytes)).then(
      (x) => x.fatal,
      (e: unknown) => e,
    );
    expect(r).toBeInstanceOf(DataFormatError);
    expect((r as Error).message).toMatch(/^row 0: corrupt Parquet page 0 in column "prompt", row group 0 of pairs\.parquet \(byte 4\): its page type is missing/);
    expect((r as Error).message).not.toMatch(/undefined/);
  });

  it('a page header whose num_rows runs into the next field is refused naming page, column and row group (hyparquet looped forever)', { timeout: 60_000 }, async () => {
    const bytes = parquetSeeds().find((s) => s.name === 'pairs.parquet')!.bytes.slice();
    // Found by the fuzzer: byte 459 is num_rows (5, zigzag 10) in row group 1's "score" page
    // header. 150 sets the varint's continuation bit, so it swallows the next field and the
    // encoding and level lengths go missing: hyparquet then read levels at offset NaN for ever.
    expect(bytes[459], 'the seed changed: byte 459 is no longer that num_rows').toBe(10);
    bytes[459] = 150;
    const dir = mkdtempSync(join(tmpdir(), 'prefstudio-pq-page-'));
    try {
      const input = join(dir, 'pairs.parquet');
      const out = join(dir, 'out.jsonl');
      writeFileSync(input, bytes);
      // In a child process first: the loop was synchronous, so in this process it would block the
      // test's own timeout as well.
      const cli = await prefstudio(['convert', input, '--to', 'trl', '--out', out, '--strict', '--json'], 30_000);
      expect(cli.killed, 'prefstudio convert still ran after 30 s: the Parquet import hangs').toBe(false);
      expect(cli.code, cli.stderr).toBe(1);
      const where = /corrupt Parquet page 0 in column "score", row group 1 of pairs\.parquet \(byte 447\): its encoding is missing/;
      expect((JSON.parse(cli.stdout) as { fatal?: string }).fatal).toMatch(where);
      expect(existsSync(out)).toBe(false);
      // The importer keeps the rows before the broken row group and places the error at its first row.
      const r = await importAll(bytesSource('pairs.parquet', bytes));
      expect(r.records).toHaveLength(5);
      expect(r.fatal).toBeInstanceOf(DataFormatError);
      expect(r.fatal!.at).toEqual({ index: 5 });
      expect(r.fatal!.message).toMatch(new RegExp(`^row 5: ${where.source}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const BIN = new URL('../../bin/prefstudio.mjs', import.meta.url).pathname;

/** The CLI in a child process, killed after timeoutMs. */
function prefstudio(args: string[], timeoutMs: number): Promise<{ code: number | null; killed: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, killed: err?.killed ?? false, stdout, stderr });
    });
  });
}

describe('fuzz regressions: models', () => {
  it('a tensor with data type 0 (UNDEFINED) is refused as onnx-invalid, not "of undefined needs 0"', async () => {
    const m = join(TINY_LLAMA, 'model.onnx');
    const onnxBytes = rewrite(fileBytes(m), (model) => {
      model.graph!.initializer![0]!.dataType = 0;
    });
    const err = await loadModel(variant(TINY_LLAMA, { 'model.onnx': onnxBytes })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('onnx-invalid');
    expect((err as Error).message).toMatch(/^model\.onnx: tensor ".+" \(initializer\) has no data type \(ONNX data type 0, UNDEFINED\)$/);
  });
});

describe('fuzz regressions: tensor shapes', () => {
  it('negative dims, or a zero-size shape with bytes, are refused as onnx-invalid (not a RangeError or a weight of the wrong size)', async () => {
    const m = join(TINY_GPT2, 'model.onnx');
    for (const dims of [[0, 2 ** 31], [-1, 128], [0]]) {
      const onnxBytes = rewrite(fileBytes(m), (model) => {
        const t = model.graph!.initializer!.find((x) => (x.rawData?.length ?? 0) > 0)!;
        t.dims = dims;
      });
      const err = await loadModel(variant(TINY_GPT2, { 'model.onnx': onnxBytes })).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, String(dims)).toBeInstanceOf(ModelLoadError);
      expect((err as ModelLoadError).code).toBe('onnx-invalid');
      expect((err as Error).message).toMatch(/^model\.onnx: tensor ".+" \(initializer\) (has shape \[-1, 128\]; dimensions must be counts|holds \d+ bytes, its shape \[0(, 2147483648)?\] of float32 needs 0)$/);
    }
  });
});

describe('fuzz regressions: external data', () => {
  it('a negative or non-numeric external data offset is refused, not loaded as a weight with no bytes', async () => {
    const m = join(TINY_QWEN2, 'onnx/model.onnx');
    for (const offset of ['-1', 'abc', '1e3', '']) {
      const onnxBytes = rewrite(fileBytes(m), (model) => {
        const t = model.graph!.initializer!.find((x) => x.externalData?.length)!;
        const entries = t.externalData!;
        const e = entries.find((x) => x.key === 'offset');
        if (e) e.value = offset;
        else entries.push(onnx.StringStringEntryProto.create({ key: 'offset', value: offset }));
      });
      const err = await loadModel(variant(TINY_QWEN2, { 'onnx/model.onnx': onnxBytes })).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, offset).toBeInstanceOf(ModelLoadError);
      expect((err as ModelLoadError).code).toBe('onnx-invalid');
      expect((err as Error).message).toMatch(/^onnx\/model\.onnx: tensor ".+" has external data offset ".*", which is not a byte count$/);
    }
  });
});

describe('fuzz regressions: model config', () => {
  it('a negative num_attention_heads in config.json is refused naming config.json', async () => {
    const cfg = JSON.parse(new TextDecoder().decode(fileBytes(join(TINY_LLAMA, 'config.json')))) as Record<string, unknown>;
    const err = await loadModel(variant(TINY_LLAMA, { 'config.json': JSON.stringify({ ...cfg, num_attention_heads: -1 }) })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('config-invalid');
    expect((err as Error).message).toMatch(/^attention heads come out as -1 \(from config\.json; /);
  });

  it('a max_position_embeddings that is not a positive integer is refused naming config.json', async () => {
    const cfg = JSON.parse(new TextDecoder().decode(fileBytes(join(TINY_LLAMA, 'config.json')))) as Record<string, unknown>;
    const err = await loadModel(variant(TINY_LLAMA, { 'config.json': JSON.stringify({ ...cfg, max_position_embeddings: 0.5 }) })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('config-invalid');
    expect((err as Error).message).toMatch(/maxPositions = 0\.5 .*\(from config\.json\)$/);
  });
});

describe('fuzz regressions: tokenizer', () => {
  it('a tokenizer.json part without its "type" says it is missing, not "undefined"', async () => {
    const tok = JSON.parse(new TextDecoder().decode(fileBytes(join(TINY_LLAMA, 'tokenizer.json')))) as Record<string, unknown>;
    const err = await loadModel(variant(TINY_LLAMA, { 'tokenizer.json': JSON.stringify({ ...tok, normalizer: {} }) })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('tokenizer-invalid');
    expect((err as Error).message).toMatch(/^tokenizer\.json could not be loaded: /);
    expect((err as Error).message).not.toMatch(/undefined/);
  });
});

describe('fuzz regressions: PEFT adapter', () => {
  it('an adapter_config.json that is not an object, or lacks peft_type, is refused naming the file and the field', () => {
    expect(() => parseAdapterConfig('null', 'adapter_config.json')).toThrow(/^adapter_config\.json: not a JSON object$/);
    expect(() => parseAdapterConfig('-1', 'adapter_config.json')).toThrow(/^adapter_config\.json: not a JSON object$/);
    expect(() => parseAdapterConfig('{"r": 8}', 'adapter_config.json')).toThrow(/^adapter_config\.json: peft_type is missing; only LORA adapters are supported$/);
    expect(() => parseAdapterConfig('{"peft_type": {"a": 1}}', 'adapter_config.json')).toThrow(/^adapter_config\.json: peft_type is an object; /);
  });
});

describe('fuzz regressions: safetensors', () => {
  /** A safetensors file with this header and 16 bytes of data. */
  const withHeader = (header: string) => {
    const h = new TextEncoder().encode(header);
    const out = new Uint8Array(8 + h.length + 16);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    return out;
  };
  it('a null tensor entry or a dtype that is missing, not a string, or "constructor" is refused naming the file', () => {
    const f = 'adapter_model.safetensors';
    expect(() => readSafetensors(withHeader('{"w": null}'), f)).toThrow(/^adapter_model\.safetensors: tensor w: its header entry is not an object$/);
    expect(() => readSafetensors(withHeader('{"w": {"shape": [4], "data_offsets": [0, 16]}}'), f)).toThrow(/^adapter_model\.safetensors: tensor w has dtype missing; /);
    expect(() => readSafetensors(withHeader('{"w": {"dtype": {}, "shape": [4], "data_offsets": [0, 16]}}'), f)).toThrow(/tensor w has dtype not a string; /);
    expect(() => readSafetensors(withHeader('{"w": {"dtype": "constructor", "shape": [4], "data_offsets": [0, 16]}}'), f)).toThrow(/tensor w has dtype "constructor"; /);
  });
});

const dbs: PrefDb[] = [];
afterAll(async () => {
  for (const db of dbs.splice(0)) {
    db.close();
    await db.delete();
  }
});

/** A workspace with one dataset of two pairs, and its backup as JSON lines. */
async function backedUp(name: string): Promise<{ db: PrefDb; lines: string[] }> {
  const db = await openWorkspace(`${name}-${process.pid}`);
  dbs.push(db);
  const d = await createDataset(db, 'kept');
  await addRecords(
    db,
    d.id,
    [0, 1].map((i) => ({ kind: 'pair', prompt: `p${i}`, chosen: ' c', rejected: ' r', source: { type: 'manual' }, createdAt: i, split: 'train', tags: [] })),
  );
  const parts: Uint8Array[] = [];
  for await (const c of backupWorkspace(db)) parts.push(c);
  const gz = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((at, p) => (gz.set(p, at), at + p.length), 0);
  return { db, lines: new TextDecoder().decode(gunzipSync(gz)).split('\n').filter(Boolean) };
}

const everything = async (db: PrefDb) => JSON.stringify([await db.datasets.orderBy('id').toArray(), await db.records.orderBy('id').toArray()]);

describe('fuzz regressions: backup restore', () => {
  it('a dataset line given twice is refused, and no staging copy is left behind', async () => {
    const { db, lines } = await backedUp('dup-dataset');
    // header, dataset, record, record, end: the dataset line again after the first.
    const text = [lines[0], lines[1], lines[1], ...lines.slice(2)].join('\n') + '\n';
    const before = await everything(db);
    await expect(restoreWorkspace(db, textSource('backup.jsonl', text))).rejects.toThrow(/line 3: bad backup: dataset .* appears twice/);
    expect(await everything(db)).toBe(before);
    expect(await db.datasets.where('status').equals('staging').count()).toBe(0);
  });

  it('a line without a type, a record without a dataset, or an end line without counts, is named as such (not "undefined")', async () => {
    const { db, lines } = await backedUp('typeless');
    const noType = [lines[0], '{"dataset": {}}', ...lines.slice(1)].join('\n');
    await expect(restoreWorkspace(db, textSource('backup.jsonl', noType))).rejects.toThrow(/^line 2: bad backup line: no "type"$/);
    const noDataset = [lines[0], lines[1], '{"type": "record", "record": {}}', ...lines.slice(2)].join('\n');
    await expect(restoreWorkspace(db, textSource('backup.jsonl', noDataset))).rejects.toThrow(/^line 3: record line without a "dataset" id$/);
    const badEnd = [...lines.slice(0, -1), '{"type": "end", "records": 2}'].join('\n');
    await expect(restoreWorkspace(db, textSource('backup.jsonl', badEnd))).rejects.toThrow(/^line \d+: bad end line: datasets, records and labels must be counts$/);
    expect(await db.datasets.where('status').equals('staging').count()).toBe(0);
  });

  it('a line whose type is a deeply nested value is refused with a DataFormatError, not a stack overflow', async () => {
    const { db, lines } = await backedUp('deep-type');
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = [lines[0], `{"type": ${deep}}`, ...lines.slice(1)].join('\n');
    await expect(restoreWorkspace(db, textSource('backup.jsonl', text))).rejects.toThrow(/^line 2: unknown backup line type \(a list\)$/);
  });
});
