// Parquet through hyparquet, one row group at a time: the footer is read first, then each row
// group's rows, so memory holds one row group (the writer chooses its size; ours are 10k rows).
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { DataFormatError } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import type { RawRow, RowBatches } from './rows.js';

const MAGIC = 'PAR1';

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
  const file: AsyncBuffer = {
    byteLength: size,
    async slice(start, end) {
      const b = await read(start, end ?? size);
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
    },
  };
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw new DataFormatError(`corrupt Parquet footer: ${libraryReason(e)}`);
  }
  const totalRows = Number(metadata.num_rows);
  let rowStart = 0;
  let bytesRead = 0;
  for (const group of metadata.row_groups) {
    const n = Number(group.num_rows);
    const rowEnd = rowStart + n;
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, rowFormat: 'object' });
    } catch (e) {
      throw new DataFormatError(`corrupt Parquet row group (rows ${rowStart}-${rowEnd - 1}): ${libraryReason(e)}`, {
        index: rowStart,
      });
    }
    const out: RawRow[] = rows.map((value, i) => ({ ref: { index: rowStart + i }, value: normalize(value) }));
    bytesRead += Number(group.total_compressed_size ?? group.total_byte_size);
    rowStart = rowEnd;
    onGroup?.({ rowsRead: rowStart, totalRows, bytesRead: Math.min(bytesRead, size) });
    yield out;
  }
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
