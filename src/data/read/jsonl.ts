// JSON Lines: one JSON value per line, blank lines skipped. Lines are split across chunks, so only
// the current partial line is held; batches hold at most MAX_BATCH_ROWS rows.
import { DataFormatError } from '../errors.js';
import { MAX_BATCH_ROWS, MAX_ROW_CHARS, type RawRow, type RowBatches } from './rows.js';

export async function* readJsonl(text: AsyncIterable<string>): RowBatches {
  let partial = '';
  let line = 0; // lines completed so far
  let index = 0;
  const parseLine = (s: string, out: RawRow[]) => {
    line++;
    if (s.trim() === '') return;
    const ref = { index: index++, line };
    try {
      out.push({ ref, value: JSON.parse(s) });
    } catch (e) {
      out.push({ ref, error: `invalid JSON: ${(e as Error).message}` });
    }
  };
  for await (const chunk of text) {
    let out: RawRow[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      parseLine(partial ? partial + piece : piece, out);
      partial = '';
      start = nl + 1;
      if (out.length >= MAX_BATCH_ROWS) {
        yield out;
        out = [];
      }
    }
    partial += chunk.slice(start);
    if (partial.length > MAX_ROW_CHARS) {
      throw new DataFormatError(`a line longer than ${MAX_ROW_CHARS >> 20} Mi characters: not JSON Lines?`, { line: line + 1 });
    }
    if (out.length) yield out;
  }
  if (partial !== '') {
    const out: RawRow[] = [];
    parseLine(partial, out);
    if (out.length) yield out;
  }
}
