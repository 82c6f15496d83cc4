// A plain list: one row per non-blank line, read as {prompt: <the line>} (a prompt set for
// generation). The line's text is kept as it is, but for a trailing carriage return (CRLF files);
// blank lines are skipped; batches hold at most MAX_BATCH_ROWS rows.
import { DataFormatError } from '../errors.js';
import { MAX_BATCH_ROWS, MAX_ROW_CHARS, type RawRow, type RowBatches } from './rows.js';

/** The column a plain list's lines are read into. */
export const LINES_COLUMN = 'prompt';

export async function* readLines(text: AsyncIterable<string>): RowBatches {
  let partial = '';
  let line = 0;
  let index = 0;
  const take = (s: string, out: RawRow[]) => {
    line++;
    const value = s.endsWith('\r') ? s.slice(0, -1) : s;
    if (value.trim() === '') return;
    out.push({ ref: { index: index++, line }, value: { [LINES_COLUMN]: value } });
  };
  for await (const chunk of text) {
    let out: RawRow[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      take(partial ? partial + piece : piece, out);
      partial = '';
      start = nl + 1;
      if (out.length >= MAX_BATCH_ROWS) {
        yield out;
        out = [];
      }
    }
    partial += chunk.slice(start);
    if (partial.length > MAX_ROW_CHARS) throw new DataFormatError(`a line longer than ${MAX_ROW_CHARS >> 20} Mi characters: not a list of prompts?`, { line: line + 1 });
    if (out.length) yield out;
  }
  if (partial !== '') {
    const out: RawRow[] = [];
    take(partial, out);
    if (out.length) yield out;
  }
}
