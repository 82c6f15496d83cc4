// Errors of the data layer. A bad row is a RowError (reported, the caller decides what to import);
// a file that cannot be read on (broken structure, truncated gzip, not a parquet) is a
// DataFormatError, thrown with the place it broke.

/** Where a row sits in its file: its 0-based index among data rows, and its 1-based line when the
 *  format has lines (JSONL, CSV, JSON). */
export interface RowRef {
  index: number;
  line?: number;
}

export interface RowError extends RowRef {
  /** The record field (or source column) at fault, when there is one. */
  field?: string;
  reason: string;
}

export interface FormatErrorPlace {
  line?: number;
  index?: number;
  /** Byte offset in the (decompressed) input. */
  offset?: number;
}

export class DataFormatError extends Error {
  override name = 'DataFormatError';
  constructor(
    message: string,
    readonly at: FormatErrorPlace = {},
  ) {
    super(placePrefix(at) + message);
  }
}

/** Thrown when an AbortSignal stops a read or an import. */
export class ImportAbortedError extends Error {
  override name = 'AbortError';
  constructor(message = 'import aborted') {
    super(message);
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ImportAbortedError();
}

function placePrefix(at: FormatErrorPlace): string {
  if (at.line !== undefined) return `line ${at.line}: `;
  if (at.index !== undefined) return `row ${at.index}: `;
  if (at.offset !== undefined) return `byte ${at.offset}: `;
  return '';
}

/** Rows with errors: a row with several field errors is one bad row (its errors are adjacent). */
export function countBadRows(errors: readonly RowError[]): number {
  let n = 0;
  for (let i = 0; i < errors.length; i++) if (i === 0 || errors[i]!.index !== errors[i - 1]!.index) n++;
  return n;
}

/** "line 12, field chosen: is empty" (rows of JSON arrays and Parquet say "row N"). */
export function describeRowError(e: RowError): string {
  const where = e.line !== undefined ? `line ${e.line}` : `row ${e.index}`;
  return `${where}${e.field ? `, field ${e.field}` : ''}: ${e.reason}`;
}
