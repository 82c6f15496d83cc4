// Writing exported rows: JSON Lines (optionally gzip) as a stream of chunks, and Parquet through
// hyparquet-writer a row group at a time. Both take records in batches (a database cursor, an
// import stream) and hold one batch or one row group at a time.
import { Gzip } from 'fflate';
import { ByteWriter, parquetWriteRows, type SchemaElement, type Writer } from 'hyparquet-writer';
import type { PrefRecord } from '../records.js';
import { TrlExporter, type TrlRow } from './trl.js';

export type RecordBatches = AsyncIterable<PrefRecord[]> | Iterable<PrefRecord[]>;

/** JSON Lines text, a batch of records at a time. */
export async function* jsonlChunks(batches: RecordBatches, exporter: TrlExporter): AsyncGenerator<string> {
  for await (const batch of batches) {
    let text = '';
    for (const r of batch) for (const row of exporter.convert(r)) text += JSON.stringify(row) + '\n';
    if (text) yield text;
  }
}

/** UTF-8 bytes of text chunks, gzip-compressed when asked. */
export async function* encodeChunks(text: AsyncIterable<string>, gzip = false): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  if (!gzip) {
    for await (const t of text) yield encoder.encode(t);
    return;
  }
  const out: Uint8Array[] = [];
  const gz = new Gzip({ level: 6 }, (chunk) => out.push(chunk));
  for await (const t of text) {
    gz.push(encoder.encode(t));
    while (out.length) yield out.shift()!;
  }
  gz.push(new Uint8Array(0), true);
  while (out.length) yield out.shift()!;
}

const STRING: Omit<SchemaElement, 'name'> = { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' };

/** A column of text, or of messages (list<struct<role, content>>, as Hugging Face datasets writes). */
function turnsColumn(name: string, conversational: boolean): SchemaElement[] {
  if (!conversational) return [{ name, ...STRING }];
  return [
    { name, repetition_type: 'REQUIRED', num_children: 1, converted_type: 'LIST' },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'REQUIRED', num_children: 2 },
    { name: 'role', ...STRING },
    { name: 'content', ...STRING },
  ];
}

function listColumn(name: string, element: Omit<SchemaElement, 'name'>): SchemaElement[] {
  return [
    { name, repetition_type: 'REQUIRED', num_children: 1, converted_type: 'LIST' },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', ...element },
  ];
}

/** The Parquet schema of a TRL row (its columns and whether turns are messages). */
export function parquetSchema(row: TrlRow): { columns: string[]; schema: SchemaElement[] } {
  const columns = Object.keys(row);
  const children: SchemaElement[] = [];
  for (const c of columns) {
    const v = row[c];
    if (c === 'label') children.push({ name: c, type: 'BOOLEAN', repetition_type: 'REQUIRED' });
    else if (c === 'completions') children.push(...listColumn(c, STRING));
    else if (c === 'labels') children.push(...listColumn(c, { type: 'BOOLEAN', repetition_type: 'REQUIRED' }));
    else if (typeof v === 'string' || Array.isArray(v)) children.push(...turnsColumn(c, Array.isArray(v)));
    else throw new Error(`cannot write column ${c} to Parquet`);
  }
  return { columns, schema: [{ name: 'root', num_children: columns.length }, ...children] };
}

function sameShape(a: TrlRow, b: TrlRow): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && Array.isArray(a[k]) === Array.isArray(b[k]));
}

export interface ParquetExportOptions {
  /** Rows per row group (default 10,000: bounded memory for readers and writer). */
  rowGroupSize?: number;
}

/** Writes the rows of the records as Parquet. Every row must have the first row's columns (a
 *  Parquet file has one schema): rows of another shape are skipped and counted. */
export async function writeParquet(batches: RecordBatches, exporter: TrlExporter, writer: Writer, options: ParquetExportOptions = {}): Promise<void> {
  const rows = rowsOf(batches, exporter);
  const first = await rows.next();
  if (first.done) throw new Error('nothing to export: no record fits the chosen format');
  const head = first.value;
  const { columns, schema } = parquetSchema(head);
  let mismatched = 0;
  async function* uniform(): AsyncGenerator<TrlRow> {
    yield head;
    for (let r = await rows.next(); !r.done; r = await rows.next()) {
      if (sameShape(r.value, head)) yield r.value;
      else mismatched++;
    }
  }
  await parquetWriteRows({ writer, rows: uniform(), columns: columns.map((name) => ({ name })), schema, rowGroupSize: options.rowGroupSize ?? 10_000 });
  if (mismatched) {
    exporter.rows -= mismatched;
    exporter.skippedCount += mismatched;
    exporter.skipped.push({ index: -1, reason: `${mismatched} rows had other columns than the first row (one Parquet file has one schema)` });
  }
}

async function* rowsOf(batches: RecordBatches, exporter: TrlExporter): AsyncGenerator<TrlRow> {
  for await (const batch of batches) for (const r of batch) yield* exporter.convert(r);
}

/** Parquet bytes in memory (the browser saves them as a Blob). */
export async function parquetBytes(batches: RecordBatches, exporter: TrlExporter, options?: ParquetExportOptions): Promise<Uint8Array> {
  const writer = new ByteWriter();
  await writeParquet(batches, exporter, writer, options);
  return writer.getBytes();
}
