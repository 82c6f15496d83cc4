// What the readers produce: rows in batches, each with its place in the file. A row that cannot
// even be parsed (a bad JSON line) carries `error` instead of `value`.
import type { RowRef } from '../errors.js';

export interface RawRow {
  ref: RowRef;
  value?: unknown;
  error?: string;
}

export type RowBatches = AsyncGenerator<RawRow[], void, undefined>;

export type Container = 'json' | 'jsonl' | 'csv' | 'parquet';

/** Longest row text we accept (characters); beyond it the file is not what we think it is. */
export const MAX_ROW_CHARS = 64 * 1024 * 1024;

/** Decodes UTF-8 chunks to text chunks (a BOM at the start is dropped). */
export async function* decodeUtf8(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const c of chunks) {
    const s = decoder.decode(c, { stream: true });
    if (s) yield s;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** Plain objects only: a row of an array or a primitive is not a record. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
