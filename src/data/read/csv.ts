// CSV/TSV through papaparse's low-level Parser, fed chunk by chunk: each chunk is parsed up to its
// last complete row and the rest carried into the next (what papaparse's own ChunkStreamer does),
// so this runs the same on any text stream (a gunzipped file, a Worker, Node). The first row is
// the header; cells stay strings (the import mapping decodes booleans, numbers and JSON cells).
import Papa from 'papaparse';
import { DataFormatError } from '../errors.js';
import { MAX_ROW_CHARS, type RawRow, type RowBatches } from './rows.js';

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
    if (header === null) {
      header = fields.map((h, i) => (i === 0 ? h.replace(/^\ufeff/, '') : h));
      return;
    }
    if (fields.length === 1 && fields[0] === '') return; // blank line
    const ref = { index: index++, line: startLine };
    const quoteError = r.errors.find((e) => e.code === 'MissingQuotes' || e.code === 'InvalidQuotes');
    if (quoteError) {
      const span = endLine > startLine ? ` (the field runs on to line ${endLine})` : '';
      out.push({ ref, error: `CSV quoting: ${quoteError.message.toLowerCase()}${span}` });
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
    if (!parser) {
      if (!last && aggregate.length < 64 * 1024) {
        partial = aggregate; // wait for enough text to guess the delimiter and newline
        return;
      }
      parser = makeParser(aggregate, options, onRow);
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
      yield out;
      out = [];
    }
  }
  feed('', true);
  if (header === null) throw new DataFormatError('empty CSV: no header row');
  if (out.length) yield out;
}

function makeParser(sample: string, options: CsvOptions, onRow: (r: StepResult) => void): LowLevelParser {
  const newline = sample.includes('\r\n') ? '\r\n' : !sample.includes('\n') && sample.includes('\r') ? '\r' : '\n';
  const delimiter = options.delimiter ?? guessDelimiter(sample, newline);
  const Parser = (Papa as unknown as { Parser: new (config: object) => LowLevelParser }).Parser;
  return new Parser({ delimiter, newline, step: onRow });
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
