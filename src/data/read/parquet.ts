// Parquet through hyparquet, one row group at a time: the footer is read first, then each row
// group's rows, so memory holds one row group (the writer chooses its size; ours are 10k rows).
// Each row group's page headers are checked before hyparquet decodes them (checkPages). The footer
// is bounded by the file before it is parsed and trusted: its length (MAX_PARQUET_FOOTER, the
// file's size, and PARQUET_FOOTER_RATIO times the data it describes), its column chunks (inside
// the file, no two claiming the same bytes: a footer that repeats one row group 200k times
// describes more data than the file holds) and the rows of each row group
// (MAX_PARQUET_GROUP_ROWS, MAX_PARQUET_GROUP_VALUES: hyparquet decodes a whole group).
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type ColumnChunk, type FileMetaData, type PageHeader } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { DataFormatError } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { batches, type RawRow, type RowBatches } from './rows.js';

const MAGIC = 'PAR1';

/** Largest Thrift footer parsed (a footer describing thousands of row groups is a few MB; hyparquet
 *  holds about 40 bytes of objects per footer byte). */
export const MAX_PARQUET_FOOTER = 16 * 1024 * 1024;
/** A footer may be this many times the data it describes (past PARQUET_FOOTER_FLOOR). */
export const PARQUET_FOOTER_RATIO = 4;
export const PARQUET_FOOTER_FLOOR = 1024 * 1024;
/** Most rows in one row group (pyarrow's default is 1 Mi rows; hyparquet decodes a group at once). */
export const MAX_PARQUET_GROUP_ROWS = 1 << 20;
/** Most values (rows × columns) in one row group. */
export const MAX_PARQUET_GROUP_VALUES = 1 << 24;

export function isParquet(head: Uint8Array): boolean {
  return head.length >= 4 && String.fromCharCode(head[0]!, head[1]!, head[2]!, head[3]!) === MAGIC;
}

export interface ParquetProgress {
  rowsRead: number;
  totalRows: number;
  bytesRead: number;
}

export async function* readParquet(source: ByteSource, onGroup?: (p: ParquetProgress) => void): RowBatches {
  const size = source.size;
  if (!source.read || size === undefined) throw new Error('Parquet needs a source with random access and a known size');
  const read = source.read.bind(source);
  if (size < 12) throw new DataFormatError(`not a Parquet file: ${size} bytes is too short`);
  const [head, tail] = await Promise.all([read(0, 4), read(size - 4, size)]);
  if (!isParquet(head) || !isParquet(tail)) {
    throw new DataFormatError('not a Parquet file: the PAR1 marker is missing at its start or end');
  }
  // The row group being read, fetched once for checkPages and then handed to hyparquet from here.
  let group: { start: number; bytes: Uint8Array } | undefined;
  const file: AsyncBuffer = {
    byteLength: size,
    async slice(start, end = size) {
      const held = group && start >= group.start && end <= group.start + group.bytes.length;
      const b = held ? group!.bytes.subarray(start - group!.start, end - group!.start) : await read(start, end);
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
    },
  };
  const footerLength = new DataView((await read(size - 8, size - 4)).slice().buffer).getUint32(0, true);
  if (footerLength > size - 12) {
    throw new DataFormatError(`corrupt Parquet footer: it claims ${footerLength} bytes, more than the file holds before it (${size - 12})`);
  }
  if (footerLength > MAX_PARQUET_FOOTER) {
    throw new DataFormatError(`Parquet footer of ${footerLength} bytes, over the ${MAX_PARQUET_FOOTER >> 20} MiB limit: rewrite the file with fewer, larger row groups`);
  }
  // Proportional to the file: a footer many times larger than the data it describes is padded or
  // repeats itself (the same row group listed 200k times), and parsing it would cost the most.
  const dataBytes = size - footerLength - 12;
  if (footerLength > PARQUET_FOOTER_FLOOR && footerLength > PARQUET_FOOTER_RATIO * dataBytes) {
    throw new DataFormatError(
      `corrupt Parquet footer: ${footerLength} bytes of metadata for ${dataBytes} bytes of data (more than ${PARQUET_FOOTER_RATIO} times): a repeated or padded row-group list?`,
    );
  }
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file, { initialFetchSize: Math.min(size, footerLength + 8) });
  } catch (e) {
    throw new DataFormatError(`corrupt Parquet footer: ${libraryReason(e)}`);
  }
  checkFooter(metadata, size, source.name);
  const totalRows = Number(metadata.num_rows);
  let rowStart = 0;
  let bytesRead = 0;
  for (const [g, rowGroup] of metadata.row_groups.entries()) {
    const n = Number(rowGroup.num_rows);
    const rowEnd = rowStart + n;
    const chunks = chunkRanges(rowGroup.columns);
    const outside = chunks.find((c) => !(c.start >= 0 && c.start <= c.end && c.end <= size));
    if (outside) {
      throw new DataFormatError(`corrupt Parquet column chunk in column "${outside.column}", row group ${g} of ${source.name}: bytes ${outside.start}-${outside.end} lie outside the file (${size} bytes)`, {
        index: rowStart,
      });
    }
    if (chunks.length) {
      let start = Infinity;
      let end = 0;
      for (const c of chunks) {
        start = Math.min(start, c.start);
        end = Math.max(end, c.end);
      }
      group = { start, bytes: await read(start, end) };
      const bad = checkPages(group.bytes, group.start, chunks);
      if (bad) {
        throw new DataFormatError(`corrupt Parquet page ${bad.page} in column "${bad.column}", row group ${g} of ${source.name} (byte ${bad.offset}): ${bad.reason}`, {
          index: rowStart,
        });
      }
    }
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, rowFormat: 'object' });
    } catch (e) {
      throw new DataFormatError(`corrupt Parquet row group (rows ${rowStart}-${rowEnd - 1}): ${libraryReason(e)}`, {
        index: rowStart,
      });
    }
    const out: RawRow[] = rows.map((value, i) => ({ ref: { index: rowStart + i }, value: normalize(value) }));
    group = undefined;
    bytesRead += Number(rowGroup.total_compressed_size ?? rowGroup.total_byte_size);
    rowStart = rowEnd;
    onGroup?.({ rowsRead: rowStart, totalRows, bytesRead: Math.min(bytesRead, size) });
    yield* batches(out);
  }
}

/**
 * What the footer claims, against the file: each row group's rows within the limits, and every
 * column chunk inside the file with no two sharing bytes. Runs before any row group is read.
 */
function checkFooter(metadata: FileMetaData, size: number, name: string): void {
  const all: (ChunkRange & { group: number })[] = [];
  const columns = Math.max(1, metadata.schema.length - 1);
  for (const [g, rowGroup] of metadata.row_groups.entries()) {
    const rows = Number(rowGroup.num_rows);
    if (!(rows >= 0)) throw new DataFormatError(`corrupt Parquet footer: row group ${g} of ${name} claims ${rows} rows`);
    if (rows > MAX_PARQUET_GROUP_ROWS || rows * columns > MAX_PARQUET_GROUP_VALUES) {
      throw new DataFormatError(
        `Parquet row group ${g} of ${name} has ${rows} rows of ${columns} columns, over the limit of ${MAX_PARQUET_GROUP_ROWS} rows and ${MAX_PARQUET_GROUP_VALUES} values per row group: rewrite it with smaller row groups`,
      );
    }
    for (const c of chunkRanges(rowGroup.columns)) all.push({ ...c, group: g });
  }
  all.sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < all.length; i++) {
    const a = all[i - 1]!;
    const b = all[i]!;
    if (b.start < a.end && b.end > b.start) {
      throw new DataFormatError(
        `corrupt Parquet footer: column "${b.column}" of row group ${b.group} and column "${a.column}" of row group ${a.group} of ${name} claim the same bytes (${b.start}-${Math.min(a.end, b.end)}); ` +
          `${metadata.row_groups.length} row groups describe more data than the ${size}-byte file holds`,
      );
    }
  }
}

interface ChunkRange {
  column: string;
  start: number;
  end: number;
  /** Values (nulls included) the column chunk declares: no page can hold more. */
  values: number;
}

/** Where each column chunk's pages lie, as hyparquet computes it (chunks without metadata are left
 *  for hyparquet to refuse). */
function chunkRanges(columns: ColumnChunk[]): ChunkRange[] {
  return columns.flatMap(({ meta_data: m }) => {
    if (!m) return [];
    const start = Number(m.dictionary_page_offset || m.data_page_offset);
    return [{ column: m.path_in_schema.join('.'), start, end: start + Number(m.total_compressed_size), values: Number(m.num_values) }];
  });
}

/** The first page whose header contradicts its column chunk, read with hyparquet's own header
 *  parser. hyparquet trusts these fields, and a damaged one can make it loop forever (a missing
 *  level length becomes a NaN read offset), which nothing in the same thread can interrupt. */
function checkPages(bytes: Uint8Array, bytesStart: number, chunks: ChunkRange[]): { column: string; page: number; offset: number; reason: string } | null {
  for (const c of chunks) {
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset + c.start - bytesStart, c.end - c.start), offset: 0 };
    // hyparquet stops a column at its last byte as well.
    for (let page = 0; reader.offset < reader.view.byteLength - 1; page++) {
      const offset = c.start + reader.offset;
      let reason: string | null;
      try {
        const header = parquetHeader(reader);
        reason = pageHeaderProblem(header, c.values, reader.view.byteLength - reader.offset);
        reader.offset += header.compressed_page_size;
      } catch {
        reason = 'its header does not decode (damaged bytes)';
      }
      if (reason) return { column: c.column, page, offset, reason };
    }
  }
  return null;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function pageHeaderProblem(h: PageHeader, chunkValues: number, room: number): string | null {
  if (!h.type) return 'its page type is missing or unknown';
  if (!isCount(h.compressed_page_size) || !isCount(h.uncompressed_page_size)) return 'its page sizes are missing or negative';
  if (h.compressed_page_size > room) return `it claims ${h.compressed_page_size} bytes, past the end of its column chunk (${room} bytes left)`;
  const values = (n: number) => (isCount(n) && n <= chunkValues ? null : `it claims ${n} values, its column chunk ${chunkValues}`);
  if (h.type === 'DICTIONARY_PAGE') {
    if (!h.dictionary_page_header) return 'its dictionary page header is missing';
    return values(h.dictionary_page_header.num_values);
  }
  if (h.type === 'DATA_PAGE') {
    const d = h.data_page_header;
    if (!d) return 'its data page header is missing';
    if (!d.encoding || !d.definition_level_encoding || !d.repetition_level_encoding) return 'an encoding is missing or unknown';
    return values(d.num_values);
  }
  if (h.type === 'DATA_PAGE_V2') {
    const d = h.data_page_header_v2;
    if (!d) return 'its data page header is missing';
    if (!d.encoding) return 'its encoding is missing or unknown';
    const fields = ['num_values', 'num_nulls', 'num_rows', 'definition_levels_byte_length', 'repetition_levels_byte_length'] as const;
    const missing = fields.find((f) => !isCount(d[f]));
    if (missing) return `its ${missing} is ${d[missing] === undefined ? 'missing' : `${d[missing]}, not a count`}`;
    if (d.num_nulls > d.num_values || d.num_rows > d.num_values) return `it claims ${d.num_rows} rows and ${d.num_nulls} nulls in ${d.num_values} values`;
    const levels = d.definition_levels_byte_length + d.repetition_levels_byte_length;
    if (levels > h.compressed_page_size || levels > h.uncompressed_page_size) return `its levels (${levels} bytes) do not fit in the page`;
    return values(d.num_values);
  }
  return null;
}

/** hyparquet's reason, without its internals: a TypeError or RangeError is the reader tripping over
 *  damaged bytes ("Cannot read properties of undefined"), which tells the user nothing. */
function libraryReason(e: unknown): string {
  if (e instanceof TypeError || e instanceof RangeError) return 'its structure does not decode (damaged bytes)';
  return String((e as Error)?.message ?? e).replace(/\bis undefined\b/g, 'is missing').replace(/\bundefined\b/g, 'missing');
}

/** BigInt (INT64) to number where exact; everything else as read. */
function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    // fromEntries defines properties, so a column named "__proto__" stays a column.
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}
