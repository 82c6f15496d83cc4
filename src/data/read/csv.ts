// CSV/TSV through papaparse's low-level Parser, fed chunk by chunk: each chunk is parsed up to its
// last complete row and the rest carried into the next (what papaparse's own ChunkStreamer does),
// so this runs the same on any text stream (a gunzipped file, a Worker, Node). The first row is
// the header; cells stay strings (the import mapping decodes booleans, numbers and JSON cells).
// A small quote-aware scanner (CsvScanner) runs ahead of papaparse over each chunk: a chunk that
// ends no row is only carried (never parsed again and again while a long row arrives), a row
// with more than MAX_CSV_FIELDS fields stops the read before papaparse builds it, and a quote
// still open at the end of the file is named with the line it opens on.
import Papa from 'papaparse';
import { DataFormatError } from '../errors.js';
import { batches, MAX_ROW_CHARS, type RawRow, type RowBatches } from './rows.js';

/** Most fields in one CSV row (a preference dataset has a handful of columns). */
export const MAX_CSV_FIELDS = 16384;

export interface CsvOptions {
  /** Field delimiter; guessed from the first rows when absent. */
  delimiter?: string;
}

interface StepResult {
  data: string[][];
  errors: { code: string; message: string }[];
  meta: { cursor: number };
}

interface LowLevelParser {
  parse(input: string, baseIndex: number, ignoreLastRow: boolean): StepResult;
}

export async function* readCsv(text: AsyncIterable<string>, options: CsvOptions = {}): RowBatches {
  let parser: LowLevelParser | null = null;
  let header: string[] | null = null;
  let partial = '';
  let baseIndex = 0; // characters consumed by complete rows so far
  let consumed = 0; // same, used to count lines between row ends
  let line = 1; // line where the next row starts
  let index = 0;
  let out: RawRow[] = [];
  let pendingText = ''; // the text since the last row end, for counting lines
  let scanner = null as CsvScanner | null;
  let atEnd = false; // the last parse: what is still open now stays open
  const onRow = (r: StepResult) => {
    const fields = r.data[0];
    const startLine = line;
    // Lines spanned by this row: newlines between the previous row end and this one.
    const end = r.meta.cursor - consumed;
    const breaks = countNewlines(pendingText, end);
    const endLine = startLine + breaks - (pendingText.charCodeAt(end - 1) === 10 ? 1 : 0);
    line += breaks;
    pendingText = pendingText.slice(end);
    consumed = r.meta.cursor;
    if (!fields) return;
    const quoteError = r.errors.find((e) => e.code === 'MissingQuotes' || e.code === 'InvalidQuotes');
    // A quote still open at the end of the file took the rest of it into one field.
    const unterminated = atEnd && scanner?.inQuotes ? `unterminated quote: the quoted field opened on line ${scanner.quoteLine} never closes` : null;
    if (header === null) {
      if (quoteError) throw new DataFormatError(`CSV quoting in the header row: ${unterminated ?? quoteError.message.toLowerCase()}`, { line: startLine });
      header = fields.map((h, i) => (i === 0 ? h.replace(/^\ufeff/, '') : h));
      return;
    }
    if (fields.length === 1 && fields[0] === '') return; // blank line
    const ref = { index: index++, line: startLine };
    if (quoteError) {
      const span = endLine > startLine ? ` (the field runs on to line ${endLine}${unterminated ? ', the end of the file' : ''})` : '';
      out.push({ ref, error: `CSV quoting: ${unterminated ?? quoteError.message.toLowerCase()}${span}` });
      return;
    }
    if (fields.length !== header.length) {
      out.push({ ref, error: `expected ${header.length} fields (as in the header), got ${fields.length}` });
      return;
    }
    // A prototype-free object: a header named "__proto__" is just a column.
    const row = Object.create(null) as Record<string, string>;
    header.forEach((h, i) => {
      row[h] = fields[i]!;
    });
    out.push({ ref, value: row });
  };

  const feed = (chunk: string, last: boolean) => {
    const aggregate = partial + chunk;
    pendingText += chunk;
    let rowEnd: number;
    if (!parser) {
      if (!last && aggregate.length < 64 * 1024) {
        partial = aggregate; // wait for enough text to guess the delimiter and newline
        return;
      }
      const made = makeParser(aggregate, options, onRow);
      parser = made.parser;
      scanner = new CsvScanner(made.delimiter, made.newline, line);
      rowEnd = scanner.scan(aggregate);
    } else {
      const end = scanner!.scan(chunk);
      rowEnd = end === -1 ? -1 : partial.length + end;
    }
    if (rowEnd === -1 && !last) {
      // No row ends in this chunk: carry it, parse once a row is complete.
      partial = aggregate;
      if (partial.length > MAX_ROW_CHARS) {
        throw new DataFormatError(`a CSV row longer than ${MAX_ROW_CHARS >> 20} Mi characters${scanner!.inQuotes ? `: the quote opened on line ${scanner!.quoteLine} is never closed?` : ''}`, { line });
      }
      return;
    }
    partial = '';
    const result = parser.parse(aggregate, baseIndex, !last);
    partial = aggregate.slice(result.meta.cursor - baseIndex);
    baseIndex = result.meta.cursor;
    if (partial.length > MAX_ROW_CHARS) {
      throw new DataFormatError(`a CSV row longer than ${MAX_ROW_CHARS >> 20} Mi characters: an unterminated quote?`, { line });
    }
  };

  for await (const chunk of text) {
    feed(chunk, false);
    if (out.length) {
      yield* batches(out);
      out = [];
    }
  }
  atEnd = true;
  feed('', true);
  yield* batches(out);
  if (header === null) throw new DataFormatError('empty CSV: no header row');
}

/**
 * Follows CSV quoting as papaparse reads it, to tell where rows end and count their fields: a
 * quote opens a quoted field only at the field's start; inside one, "" is a quote, and a quote
 * closes the field only when whitespace and then a delimiter or a newline follow (any other
 * quote is taken as text and the field goes on, as papaparse does).
 */
export class CsvScanner {
  /** 0: at a field's start, 1: in an unquoted field, 2: in a quoted field, 3: a quote seen in a
   *  quoted field, 4: whitespace after that quote. */
  private state = 0;
  private fields = 1;
  private readonly delim: number;
  private readonly nl: number;
  /** Line of the next character, and of the current row's start. */
  private line: number;
  private rowLine: number;
  /** Line of the quote that opened the current quoted field. */
  quoteLine = 0;

  constructor(delimiter: string, newline: string, line = 1) {
    this.delim = delimiter.length === 1 ? delimiter.charCodeAt(0) : -1;
    this.nl = newline === '\r' ? 13 : 10;
    this.line = this.rowLine = line;
  }

  /** Inside a quoted field that has not closed. */
  get inQuotes(): boolean {
    return this.state >= 2;
  }

  /** Scans the next text; returns the index just past the last row end in it (-1: none). */
  scan(s: string): number {
    let last = -1;
    const { delim, nl } = this;
    let state = this.state;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10) this.line++;
      if (state === 2) {
        if (c === 34) state = 3;
        continue;
      }
      if (state >= 3) {
        if (c === 34 && state === 3) {
          state = 2; // "" inside a quoted field
          continue;
        }
        if (c === 32 || c === 9 || c === 13 || (c === 10 && nl !== 10)) {
          state = 4;
          continue;
        }
        if (c !== delim && c !== nl) {
          state = c === 34 ? 3 : 2; // not a closing quote: the field goes on
          continue;
        }
      } else if (c === 34 && state === 0) {
        state = 2;
        this.quoteLine = this.line;
        continue;
      }
      if (c === delim) {
        state = 0;
        if (++this.fields > MAX_CSV_FIELDS) {
          throw new DataFormatError(`a CSV row with more than ${MAX_CSV_FIELDS} fields: not a table of preference data (or the wrong delimiter)`, { line: this.rowLine });
        }
      } else if (c === nl) {
        state = 0;
        this.fields = 1;
        this.rowLine = this.line;
        last = i + 1;
      } else state = 1;
    }
    this.state = state;
    return last;
  }
}

function makeParser(sample: string, options: CsvOptions, onRow: (r: StepResult) => void): { parser: LowLevelParser; delimiter: string; newline: string } {
  const newline = sample.includes('\r\n') ? '\r\n' : !sample.includes('\n') && sample.includes('\r') ? '\r' : '\n';
  const delimiter = options.delimiter ?? guessDelimiter(sample, newline);
  const Parser = (Papa as unknown as { Parser: new (config: object) => LowLevelParser }).Parser;
  return { parser: new Parser({ delimiter, newline, step: onRow }), delimiter, newline };
}

function guessDelimiter(sample: string, newline: string): string {
  const guess = Papa.parse(sample.slice(0, 64 * 1024), { preview: 10, newline: newline as '\n' }).meta.delimiter;
  return guess || ',';
}

function countNewlines(s: string, end: number): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1 && i < end; i = s.indexOf('\n', i + 1)) n++;
  return n;
}
