// What the readers produce: rows in batches, each with its place in the file. A row that cannot
// even be parsed (a bad JSON line) carries `error` instead of `value`.
import { DataFormatError, type RowRef } from '../errors.js';

export interface RawRow {
  ref: RowRef;
  value?: unknown;
  error?: string;
}

export type RowBatches = AsyncGenerator<RawRow[], void, undefined>;

/** 'lines': a plain text list, one prompt per line (.txt). */
export type Container = 'json' | 'jsonl' | 'csv' | 'parquet' | 'lines';

/** Longest row text we accept (characters); beyond it the file is not what we think it is. */
export const MAX_ROW_CHARS = 64 * 1024 * 1024;

/** Most rows in one batch a reader yields: callers may hold a batch, spread it or loop over it. */
export const MAX_BATCH_ROWS = 4096;

/** A reader's rows as batches of at most MAX_BATCH_ROWS (the array itself when it is small enough). */
export function* batches(rows: RawRow[]): Generator<RawRow[]> {
  if (rows.length <= MAX_BATCH_ROWS) {
    if (rows.length) yield rows;
    return;
  }
  for (let at = 0; at < rows.length; at += MAX_BATCH_ROWS) yield rows.slice(at, at + MAX_BATCH_ROWS);
}

/**
 * Decodes UTF-8 chunks to text chunks (a BOM at the start is dropped). Invalid UTF-8 is an error
 * that names its byte offset (and line), not silently U+FFFD: the text before it is yielded first.
 */
export async function* decodeUtf8(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0; // bytes before the current chunk
  let lines = 1; // line of the next character yielded
  let prev: Uint8Array = new Uint8Array(0);
  const emit = (s: string) => {
    for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) lines++;
    return s;
  };
  // The bytes from the start of the sequence the decoder holds (the end of `prev`) through `c`.
  const fail = (c: Uint8Array): DataFormatError & { text: string } => {
    const k = pendingBytes(prev);
    const buf = new Uint8Array(k + c.length);
    buf.set(prev.subarray(prev.length - k));
    buf.set(c, k);
    const at = firstInvalidUtf8(buf);
    const bad = at === -1 ? buf.length : at;
    const text = new TextDecoder().decode(buf.subarray(0, bad));
    emit(text);
    const where = offset - k + bad;
    const what = at === -1 ? 'the input ends inside a UTF-8 character' : `invalid UTF-8 at byte ${where} (0x${buf[bad]!.toString(16).padStart(2, '0')})`;
    const e = new DataFormatError(`${what}: the file is not UTF-8 text (re-encode it as UTF-8)`, { line: lines }) as DataFormatError & { text: string };
    e.text = text;
    return e;
  };
  for await (const c of chunks) {
    let s: string;
    try {
      s = decoder.decode(c, { stream: true });
    } catch {
      const e = fail(c);
      if (e.text) yield e.text;
      throw e;
    }
    offset += c.length;
    prev = c;
    if (s) yield emit(s);
  }
  let rest: string;
  try {
    rest = decoder.decode();
  } catch {
    throw fail(new Uint8Array(0));
  }
  if (rest) yield emit(rest);
}

/** How many bytes at the end of `b` start a UTF-8 sequence that `b` does not finish (0-3). */
function pendingBytes(b: Uint8Array): number {
  for (let k = 1; k <= 3 && k <= b.length; k++) {
    const x = b[b.length - k]!;
    if ((x & 0xc0) === 0x80) continue; // a continuation byte: look further back
    if (x < 0xc0) return 0;
    const need = x >= 0xf0 ? 4 : x >= 0xe0 ? 3 : 2;
    return need > k ? k : 0;
  }
  return 0;
}

/** Index of the first byte that starts an invalid UTF-8 sequence (WHATWG's rules), -1 when every
 *  sequence is valid (the last may be unfinished). `b` starts on a character boundary. */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  for (let i = 0; i < n; ) {
    const x = b[i]!;
    if (x < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (x >= 0xc2 && x <= 0xdf) need = 1;
    else if (x >= 0xe0 && x <= 0xef) {
      need = 2;
      if (x === 0xe0) lo = 0xa0;
      if (x === 0xed) hi = 0x9f;
    } else if (x >= 0xf0 && x <= 0xf4) {
      need = 3;
      if (x === 0xf0) lo = 0x90;
      if (x === 0xf4) hi = 0x8f;
    } else return i;
    for (let j = 1; j <= need; j++) {
      if (i + j >= n) return -1;
      const y = b[i + j]!;
      if (y < lo || y > hi) return i;
      lo = 0x80;
      hi = 0xbf;
    }
    i += need + 1;
  }
  return -1;
}

/** Plain objects only: a row of an array or a primitive is not a record. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
