// Fuzz pass over the dataset importers: thousands of truncated, corrupted and hostile files made
// from the fixtures by a seeded mutator (test/support/fuzz.ts). Every input must either import
// (every record valid, every bad row reported with its row and line) or be refused with a
// DataFormatError that says where; never a raw TypeError/RangeError, a stack overflow or a hang,
// and Object.prototype stays clean. PREFSTUDIO_FUZZ_N=<n> sets the inputs per importer.
import { describe, expect, it } from 'vitest';
import { DataFormatError, describeRowError, type RowError } from '../../src/data/errors.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { bytesSource } from '../../src/data/io/source.js';
import { validateRecord } from '../../src/data/validate.js';
import { FuzzLog, fuzzCount, prototypePolluted, Rng, traceInput, unclearMessage, withTimeLimit, type Outcome } from '../support/fuzz.js';
import { mutateSeed, showInput, type FuzzInput } from './inputs.js';
import { datasetSeeds } from './seeds.js';

/** Per-input limit: the seeds are a few KB (the slowest input, 100k-deep JSON, takes ~1 s on two
 *  shared cores), so anything past this is a hang. */
const LIMIT_MS = 10_000;

/** Refusals about the file as a whole need no line: they say what the whole file is not. */
const WHOLE_FILE = /^(empty file|empty input|empty CSV|not a Parquet file|binary data|gzip inside gzip|not JSON|truncated gzip|corrupt gzip|truncated or corrupt gzip|corrupt Parquet footer|no data rows|the rows are not objects|no known preference format|unknown format|gzip-compressed Parquet)|TRL|columns|format/;

export function checkDataError(e: unknown): string | null {
  if (!(e instanceof DataFormatError)) return `not a DataFormatError: ${(e as Error)?.name}`;
  const unclear = unclearMessage(e.message);
  if (unclear) return unclear;
  const placed = e.at.line !== undefined || e.at.index !== undefined || e.at.offset !== undefined;
  if (!placed && !WHOLE_FILE.test(e.message)) return `no place (line, row or byte) in "${e.message}"`;
  return null;
}

export function checkRowError(e: RowError): string | null {
  if (!Number.isInteger(e.index) || e.index < 0) return `row error without a row index: ${JSON.stringify(e)}`;
  if (e.line !== undefined && !(Number.isInteger(e.line) && e.line >= 1)) return `row error with a bad line: ${JSON.stringify(e)}`;
  if (typeof e.reason !== 'string') return `row error without a reason: ${JSON.stringify(e)}`;
  return unclearMessage(describeRowError(e));
}

export async function importOutcome(input: FuzzInput): Promise<Outcome> {
  const r = await withTimeLimit(LIMIT_MS, () => importAll(bytesSource(input.name, input.bytes, 1 + (input.bytes.length % 977))));
  if (prototypePolluted()) return { kind: 'bug', why: 'Object.prototype was polluted', ms: r.ms };
  if (r.error !== undefined) {
    const why = checkDataError(r.error);
    return why ? { kind: 'bug', why, error: r.error, ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
  }
  const result = r.value!;
  for (const rec of result.records) {
    if (!validateRecord(rec).ok) return { kind: 'bug', why: `an invalid record was accepted: ${JSON.stringify(rec).slice(0, 200)}`, ms: r.ms };
  }
  for (const e of result.errors) {
    const why = checkRowError(e);
    if (why) return { kind: 'bug', why, ms: r.ms };
  }
  if (result.fatal) {
    const why = checkDataError(result.fatal);
    if (why) return { kind: 'bug', why: `fatal: ${why}`, error: result.fatal, ms: r.ms };
  }
  return { kind: 'ok', ms: r.ms };
}

describe('fuzz: dataset readers and mapping (importAll)', () => {
  it('mutated JSON, JSONL, CSV/TSV, Parquet and gzip files import cleanly or are refused with a placed DataFormatError', { timeout: 600_000 }, async () => {
    const seeds = datasetSeeds();
    const n = fuzzCount(3000);
    const rng = new Rng(0x5eed_da7a);
    const log = new FuzzLog('datasets (importAll)');
    // Every seed as it is first: the fuzzer's baseline must hold for the untouched fixtures.
    for (const s of seeds) {
      const input = { name: s.name, bytes: s.bytes, what: `${s.name} unchanged` };
      log.record(input.what, await importOutcome(input), () => showInput(input));
    }
    while (log.tried < n) {
      const input = mutateSeed(rng.pick(seeds), rng);
      traceInput(`${log.tried} ${input.what}`);
      log.record(input.what, await importOutcome(input), () => showInput(input));
    }
    console.log(log.summary());
    expect(log.bugs, log.report()).toEqual([]);
    expect(log.tried).toBe(Math.max(n, seeds.length));
    expect(log.accepted + log.refused).toBe(log.tried);
    // Both outcomes occur: the mutations neither all break nor all miss the parsers.
    expect(log.accepted).toBeGreaterThan(0);
    expect(log.refused).toBeGreaterThan(0);
  });
});
