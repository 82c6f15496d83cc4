// Format detection from the first rows: every format scores each sample row, the best average
// wins, and its guessed columns become the proposed mapping (the UI shows and may change it).
import { DataFormatError, type FormatErrorPlace, type RowError } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { openRows, type OpenOptions } from '../read/open.js';
import { isPlainObject, type Container } from '../read/rows.js';
import { FORMATS, formatSpec } from './formats/index.js';
import type { FormatId, ImportMapping } from './mapping.js';

export interface FormatCandidate {
  format: FormatId;
  label: string;
  score: number;
}

export interface Detection {
  container: Container;
  compressed: 'gzip' | null;
  /** The first rows as read (for a preview). */
  sample: unknown[];
  /** Column paths seen in the sample (top-level keys and one level into objects). */
  columns: string[];
  /** The proposed mapping; null when no format fits (see `problem`). */
  mapping: ImportMapping | null;
  candidates: FormatCandidate[];
  problem?: string;
  /** Where the problem is, when it is a row's (the first bad row when no row could be read). */
  problemAt?: FormatErrorPlace;
}

export const SAMPLE_ROWS = 20;

export async function detectFormat(source: ByteSource, options: OpenOptions & { sampleRows?: number } = {}): Promise<Detection> {
  const opened = await openRows(source, { ...options, onProgress: undefined });
  const sample: unknown[] = [];
  const want = options.sampleRows ?? SAMPLE_ROWS;
  let firstError: RowError | null = null;
  let badRows = 0;
  try {
    for await (const batch of opened.rows) {
      for (const r of batch) {
        if (r.error === undefined) sample.push(r.value);
        else {
          firstError ??= { ...r.ref, reason: r.error };
          badRows++;
        }
      }
      if (sample.length >= want || badRows >= MAX_BAD_SAMPLE_ROWS) break;
    }
  } catch (e) {
    // A file that breaks off after some rows is still detected; the import reports the break.
    if (!(e instanceof DataFormatError) || sample.length === 0) throw e;
  }
  await opened.rows.return();
  const found = detectFromRows(sample.slice(0, want));
  if (sample.length === 0 && firstError) {
    // Rows were there but none could be read: say why rather than "no data rows".
    const { reason, field, ...at } = firstError;
    found.problem = `no readable data row (${badRows}${badRows >= MAX_BAD_SAMPLE_ROWS ? ' or more' : ''} bad rows; the first: ${field ? `field ${field}: ` : ''}${reason})`;
    found.problemAt = at;
  }
  return { container: opened.container, compressed: opened.compressed, ...found };
}

/** Bad rows detection reads before it gives up looking for a good one. */
const MAX_BAD_SAMPLE_ROWS = 1000;

export function detectFromRows(sample: unknown[]): Omit<Detection, 'container' | 'compressed'> {
  const rows = sample.filter(isPlainObject);
  const columns = columnPaths(rows);
  if (rows.length === 0) {
    return { sample, columns, mapping: null, candidates: [], problem: sample.length ? 'the rows are not objects' : 'no data rows in the file' };
  }
  const candidates = FORMATS.map((f) => ({
    format: f.id,
    label: f.label,
    score: rows.reduce((s, r) => s + f.match(r), 0) / rows.length,
  }))
    .filter((c) => c.score > 0)
    .sort((a, b) => b.score - a.score);
  const best = candidates[0];
  if (!best || best.score < 0.3) {
    return { sample, columns, mapping: null, candidates, problem: `no known preference format (or prompt set) fits the columns ${columns.join(', ')}` };
  }
  return { sample, columns, mapping: proposeMapping(best.format, rows), candidates };
}

/** The mapping a format would use for these rows (the UI calls this when the user picks another
 *  format). */
export function proposeMapping(format: FormatId, rows: Record<string, unknown>[]): ImportMapping {
  const spec = formatSpec(format);
  const columns: Record<string, string | null> = {};
  for (const f of spec.fields) columns[f.name] = null;
  // A column found in any sample row counts (optional fields are often sparse).
  for (const row of rows) {
    for (const [k, v] of Object.entries(spec.guessColumns(row))) if (v !== null && columns[k] == null) columns[k] = v;
  }
  const options: ImportMapping['options'] = {};
  for (const o of spec.options ?? []) options[o.name] = o.default;
  const kind = spec.guessKind?.(rows, columns) ?? spec.kind;
  return { format, kind, columns, options };
}

function columnPaths(rows: Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) {
      seen.add(k);
      if (isPlainObject(v) && Object.keys(v).length <= 50) for (const sub of Object.keys(v)) seen.add(`${k}.${sub}`);
    }
  }
  return [...seen];
}
