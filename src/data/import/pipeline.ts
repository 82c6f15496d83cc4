// The import pipeline: rows from the reader -> the mapping's format converts each -> provenance
// is added -> the record is validated. Yields batches of good records and row errors as it goes;
// the caller decides whether to keep the good rows or nothing. A file that breaks off
// (truncated JSON or gzip) throws DataFormatError after the batches read before the break.
import { countBadRows, DataFormatError, type RowError, type RowRef } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { openRows, type OpenOptions } from '../read/open.js';
import { isPlainObject, type Container } from '../read/rows.js';
import type { PrefRecord, RecordDefaults } from '../records.js';
import { validateRecord } from '../validate.js';
import { detectFormat, type Detection } from './detect.js';
import { formatSpec } from './formats/index.js';
import { RowView, type Draft, type ImportMapping } from './mapping.js';
import { FieldError } from './values.js';

export interface ImportOptions extends OpenOptions {
  /** Split, tags, annotator and time given to every record that its row does not set. */
  defaults?: RecordDefaults;
  /** Told which container was found (before the first batch). */
  onOpen?: (info: { container: Container; compressed: 'gzip' | null }) => void;
}

export interface ImportBatch {
  records: PrefRecord[];
  /** Row errors; a row may have several (one per field): countBadRows counts rows. */
  errors: RowError[];
}

export async function* importRecords(source: ByteSource, mapping: ImportMapping, options: ImportOptions = {}): AsyncGenerator<ImportBatch> {
  const opened = await openRows(source, options);
  options.onOpen?.({ container: opened.container, compressed: opened.compressed });
  const convert = rowConverter(source.name, mapping, opened.container, options.defaults);
  for await (const batch of opened.rows) {
    const out: ImportBatch = { records: [], errors: [] };
    for (const raw of batch) {
      if (raw.error !== undefined) {
        out.errors.push({ ...raw.ref, reason: raw.error });
        continue;
      }
      const r = convert(raw.value, raw.ref);
      if ('errors' in r) for (const e of r.errors) out.errors.push(e);
      else out.records.push(r.record);
    }
    yield out;
  }
}

export type Converted = { record: PrefRecord } | { errors: RowError[] };

/** Converts one row under a mapping (also used by the UI's live preview of a mapping). */
export function rowConverter(file: string, mapping: ImportMapping, container: Container, defaults: RecordDefaults = {}) {
  const spec = formatSpec(mapping.format);
  const ctx = { textCells: container === 'csv' };
  const createdAt = defaults.createdAt ?? Date.now();
  return (value: unknown, ref: RowRef): Converted => {
    if (!isPlainObject(value)) return { errors: [{ ...ref, reason: 'expected an object (a row with named fields)' }] };
    let draft: Draft;
    try {
      draft = spec.convert(value, new RowView(value, mapping, ctx));
    } catch (e) {
      if (e instanceof FieldError) return { errors: [{ ...ref, field: e.field, reason: e.reason }] };
      return { errors: [{ ...ref, reason: (e as Error).message }] };
    }
    if (draft.kind !== mapping.kind && mapping.format !== 'prefstudio') {
      return { errors: [{ ...ref, reason: `the ${spec.label} format made a ${draft.kind} record, the mapping asks for ${mapping.kind}` }] };
    }
    const tags = [...new Set([...(defaults.tags ?? []), ...((draft.tags as string[] | undefined) ?? [])])];
    const candidate: Record<string, unknown> = {
      split: defaults.split ?? 'train',
      ...(defaults.annotator !== undefined ? { annotator: defaults.annotator } : {}),
      ...draft,
      tags,
      source: draft.source ?? { type: 'import', file, row: ref.index, ...(ref.line !== undefined ? { line: ref.line } : {}), format: mapping.format },
      createdAt: draft.createdAt ?? createdAt,
    };
    const v = validateRecord(candidate);
    if (v.ok) return { record: v.record };
    return {
      errors: v.issues.map((i) => {
        const [head, ...rest] = i.field.split('.');
        const column = head ? mapping.columns[head] : null;
        return { ...ref, field: column ? [column, ...rest].join('.') : i.field, reason: i.reason };
      }),
    };
  };
}

/** What a mapping makes of the sample rows (the UI's live preview while columns are changed). */
export function previewMapping(sample: unknown[], mapping: ImportMapping, container: Container, file = 'preview'): Converted[] {
  const convert = rowConverter(file, mapping, container, { createdAt: 0 });
  return sample.map((row, index) => convert(row, { index }));
}

export interface ImportResult {
  detection: Detection;
  records: PrefRecord[];
  /** The first MAX_KEPT_ERRORS row errors. */
  errors: RowError[];
  /** Rows that could not be imported (a row with several field errors counts once). */
  badRows: number;
  /** The file broke off here; the records before it are in `records`. */
  fatal?: DataFormatError;
}

/** Row errors importAll keeps (the rest are counted in badRows). */
export const MAX_KEPT_ERRORS = 1000;

/** Detects, maps and reads a whole file into memory (small files, tests, previews). */
export async function importAll(source: ByteSource, options: ImportOptions & { mapping?: ImportMapping } = {}): Promise<ImportResult> {
  const detection = await detectFormat(source, options);
  const mapping = options.mapping ?? detection.mapping;
  const result: ImportResult = { detection, records: [], errors: [], badRows: 0 };
  if (!mapping) throw new DataFormatError(detection.problem ?? 'unknown format', detection.problemAt);
  try {
    for await (const b of importRecords(source, mapping, options)) {
      // Loops, not push(...batch): a spread of a large array overflows the call stack.
      for (const r of b.records) result.records.push(r);
      for (const e of b.errors) if (result.errors.length < MAX_KEPT_ERRORS) result.errors.push(e);
      result.badRows += countBadRows(b.errors);
    }
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw e;
    result.fatal = e;
  }
  return result;
}
