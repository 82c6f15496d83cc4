// The dataset fuzz pass (datasets.test.ts), run in a worker by fuzzInWorkers: every seed as it is,
// then mutated files; each imported whole (importAll) and judged here.
import { DataFormatError, describeRowError, type RowError } from '../../src/data/errors.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { bytesSource } from '../../src/data/io/source.js';
import { validateRecord } from '../../src/data/validate.js';
import { prototypePolluted, unclearMessage, withTimeLimit, type CaseMaker, type Outcome } from '../support/fuzz.js';
import { mutateSeed, showInput, type FuzzInput } from './inputs.js';
import { datasetSeeds } from './seeds.js';

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

export async function importOutcome(input: FuzzInput, limitMs: number): Promise<Outcome> {
  const r = await withTimeLimit(limitMs, () => importAll(bytesSource(input.name, input.bytes, 1 + (input.bytes.length % 977))));
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

/** Inputs 0..seeds-1: every seed unchanged (the baseline must hold); then mutated seeds. */
export function datasetPlan(limitMs: number): CaseMaker {
  const seeds = datasetSeeds();
  return (rng, i) => {
    const s = seeds[i];
    const input: FuzzInput = s ? { name: s.name, bytes: s.bytes, what: `${s.name} unchanged` } : mutateSeed(rng.pick(seeds), rng);
    return { what: input.what, show: () => showInput(input), run: () => importOutcome(input, limitMs) };
  };
}
