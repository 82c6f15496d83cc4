// Opens a byte source as rows: undoes gzip, tells JSON, JSON Lines, CSV, Parquet and plain lists
// (.txt: one prompt per line) apart (magic
// bytes, then extension, then the first characters), and streams rows in batches with progress
// (bytes of the source read, rows) and cancellation by AbortSignal.
import { DataFormatError, throwIfAborted } from '../errors.js';
import { gunzipChunks, isGzip } from '../io/gzip.js';
import { bytesSource, concat, extensions, headBytes, type ByteSource } from '../io/source.js';
import { readCsv } from './csv.js';
import { readJson, WRAPPER_KEYS } from './json.js';
import { readJsonl } from './jsonl.js';
import { readLines } from './lines.js';
import { isParquet, readParquet } from './parquet.js';
import { decodeUtf8, isPlainObject, type Container, type RowBatches } from './rows.js';

export interface ReadProgress {
  /** Bytes of the source consumed (compressed bytes for a gzip file). */
  bytesRead: number;
  totalBytes?: number;
  rows: number;
}

export interface OpenOptions {
  signal?: AbortSignal;
  onProgress?: (p: ReadProgress) => void;
  /** Skip detection: read as this container. */
  container?: Container;
  /** CSV delimiter (guessed when absent). */
  delimiter?: string;
}

export interface OpenedFile {
  container: Container;
  compressed: 'gzip' | null;
  rows: RowBatches;
}

/** Largest gzip-compressed Parquet we inflate into memory (Parquet needs random access). */
export const MAX_GZIP_PARQUET_BYTES = 1 << 30;

const HEAD = 64 * 1024;

export async function openRows(source: ByteSource, options: OpenOptions = {}): Promise<OpenedFile> {
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  const head = await headBytes(source, HEAD);
  let bytesRead = 0;
  let rows = 0;
  const report = () => onProgress?.({ bytesRead, totalBytes: source.size, rows });
  const counted = async function* (): AsyncGenerator<Uint8Array> {
    for await (const c of source.chunks()) {
      throwIfAborted(signal);
      bytesRead += c.length;
      yield c;
    }
  };
  const compressed = isGzip(head);
  let inner = source;
  let innerHead = head;
  let innerName = source.name;
  if (compressed) {
    innerName = source.name.replace(/\.gz$/i, '');
    const what = { what: `${source.name} (gzip)` };
    innerHead = await peek(gunzipChunks(source.chunks(), what), HEAD);
    inner = { name: innerName, chunks: () => gunzipChunks(counted(), what) };
  } else {
    inner = { ...source, name: source.name, chunks: counted };
  }

  const container = options.container ?? sniffContainer(innerName, innerHead);
  const count = async function* (batches: RowBatches): RowBatches {
    for await (const batch of batches) {
      throwIfAborted(signal);
      rows += batch.length;
      report();
      yield batch;
    }
  };

  if (container === 'parquet') {
    let pq: ByteSource = source;
    if (compressed) {
      const parts: Uint8Array[] = [];
      let total = 0;
      for await (const c of inner.chunks()) {
        total += c.length;
        if (total > MAX_GZIP_PARQUET_BYTES) throw new DataFormatError('gzip-compressed Parquet larger than 1 GiB: decompress it first');
        parts.push(c);
      }
      pq = bytesSource(innerName, concat(parts));
    }
    const size = pq.size ?? 0;
    const gen = readParquet(pq, (p) => {
      bytesRead = compressed ? (source.size ?? 0) : Math.round((p.rowsRead / Math.max(1, p.totalRows)) * size);
    });
    return { container, compressed: compressed ? 'gzip' : null, rows: count(gen) };
  }
  const text = decodeUtf8(inner.chunks());
  const gen =
    container === 'jsonl'
      ? readJsonl(text)
      : container === 'json'
        ? readJson(text)
        : container === 'lines'
          ? readLines(text)
          : readCsv(text, { delimiter: options.delimiter });
  return { container, compressed: compressed ? 'gzip' : null, rows: count(gen) };
}

/** The first n bytes of a stream. A format error after some bytes is left for the real read to
 *  report (with its rows before it); with no bytes at all it is thrown here. */
async function peek(chunks: AsyncGenerator<Uint8Array>, n: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let have = 0;
  try {
    for await (const c of chunks) {
      parts.push(c);
      have += c.length;
      if (have >= n) break;
    }
  } catch (e) {
    if (!(e instanceof DataFormatError) || have === 0) throw e;
  }
  return concat(parts).subarray(0, n);
}

/** Which reader fits: magic bytes first, then the extension, then the first characters. */
export function sniffContainer(name: string, head: Uint8Array): Container {
  const exts = extensions(name);
  const ext = exts.at(-1) ?? '';
  if (head.length === 0) throw new DataFormatError('empty file');
  if (isParquet(head)) return 'parquet';
  if (ext === 'parquet') throw new DataFormatError('not a Parquet file: the PAR1 marker is missing at its start');
  if (isGzip(head)) throw new DataFormatError('gzip inside gzip is not supported');
  const text = new TextDecoder().decode(head).replace(/^\ufeff/, '');
  const first = text.trimStart()[0];
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (ext === 'txt') return 'lines';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (first === '[') return 'json';
  if (first === '{') return looksLikeJsonl(text) ? 'jsonl' : 'json';
  if (ext === 'json') return 'json';
  if (first === undefined) throw new DataFormatError('empty file');
  if (/[\u0000-\u0008\u000e-\u001f]/.test(text.slice(0, 512))) {
    throw new DataFormatError('binary data: not JSON, JSON Lines, CSV, Parquet or gzip');
  }
  return 'csv';
}

/** A first line that is a whole JSON object (and not a {"data": [...]} wrapper) means JSON Lines. */
function looksLikeJsonl(text: string): boolean {
  const trimmed = text.trimStart();
  const nl = trimmed.indexOf('\n');
  const firstLine = nl === -1 ? trimmed : trimmed.slice(0, nl);
  let v: unknown;
  try {
    v = JSON.parse(firstLine);
  } catch {
    return false;
  }
  if (!isPlainObject(v)) return false;
  const rest = nl === -1 ? '' : trimmed.slice(nl + 1).trimStart();
  if (rest === '') return !Object.entries(v).some(([k, x]) => WRAPPER_KEYS.has(k) && Array.isArray(x));
  return rest.startsWith('{');
}
