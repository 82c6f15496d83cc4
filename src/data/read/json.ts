// Streaming JSON: the records of a top-level array, of the array under a wrapper key
// ({"data": [...]}, "rows", ...), or a sequence of top-level objects. A small scanner finds where
// each record starts and ends (tracking strings, escapes and nesting) and JSON.parse reads just
// that record, so only the record being scanned is held, never the whole file.
import { DataFormatError } from '../errors.js';
import { batches, MAX_ROW_CHARS, type RawRow, type RowBatches } from './rows.js';

/** Keys whose array holds the records when the top-level value is an object. */
export const WRAPPER_KEYS = new Set(['data', 'rows', 'records', 'examples', 'items', 'instances']);

export async function* readJson(text: AsyncIterable<string>): RowBatches {
  const scanner = new JsonScanner();
  for await (const chunk of text) yield* batches(scanner.push(chunk));
  yield* batches(scanner.end());
}

interface Capture {
  start: number;
  line: number;
  primitive: boolean;
}

const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const NEWLINE = 0x0a;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export class JsonScanner {
  private buf = '';
  private pos = 0;
  private line = 1;
  private stack: number[] = [];
  private inString = false;
  private mode: 'start' | 'array' | 'objects' | 'done' = 'start';
  /** Nesting depth at which values are records; -1 once the wrapper array has closed. */
  private recordDepth = 1;
  private capture: Capture | null = null;
  private index = 0;
  // Keys of the top-level object, to find a wrapper array.
  private keyExpected = false;
  private keyStart = -1;
  private lastKey: string | null = null;
  private wrapperUsed = false;

  push(chunk: string): RawRow[] {
    this.buf += chunk;
    const out: RawRow[] = [];
    this.scan(out);
    this.trim();
    return out;
  }

  end(): RawRow[] {
    const out: RawRow[] = [];
    if (this.inString || this.stack.length > 0) {
      const inside = this.inString ? 'a string' : this.stack.at(-1) === OPEN_OBJECT ? 'an object' : 'an array';
      const rec = this.capture ? ` (record ${this.index} starts on line ${this.capture.line})` : '';
      throw new DataFormatError(`truncated JSON: the input ends inside ${inside}${rec}; ${this.index} records read before it`, {
        line: this.line,
        index: this.index,
      });
    }
    if (this.capture?.primitive) this.emit(out, this.buf.length);
    if (this.mode === 'start') throw new DataFormatError('empty input: no JSON value');
    return out;
  }

  private scan(out: RawRow[]): void {
    const buf = this.buf;
    const len = buf.length;
    let pos = this.pos;
    // Next backslash at or after pos (len: none). Kept between strings so that finding it stays
    // linear in the text, not linear per string.
    let bs = -1;
    while (pos < len) {
      if (this.inString) {
        if (bs < pos) {
          bs = buf.indexOf('\\', pos);
          if (bs === -1) bs = len;
        }
        const q = buf.indexOf('"', pos);
        if (bs < len && (q === -1 || bs < q)) {
          if (bs + 1 >= len) {
            pos = bs; // the escaped character is in the next chunk
            break;
          }
          pos = bs + 2;
          continue;
        }
        if (q === -1) {
          pos = len;
          break;
        }
        pos = q + 1;
        this.inString = false;
        this.stringEnded(out, pos);
        continue;
      }
      const c = buf.charCodeAt(pos);
      if (isSpace(c)) {
        if (this.capture?.primitive && this.depth === this.recordDepth) this.emit(out, pos);
        if (c === NEWLINE) this.line++;
        pos++;
        continue;
      }
      if (this.mode === 'done') {
        throw new DataFormatError('unexpected text after the end of the JSON array', { line: this.line });
      }
      switch (c) {
        case QUOTE:
          if (this.mode === 'start') this.startMode(c);
          if (this.depth === this.recordDepth && !this.capture) this.capture = { start: pos, line: this.line, primitive: true };
          if (this.inTopObject && this.keyExpected) this.keyStart = pos;
          this.inString = true;
          pos++;
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY: {
          if (this.mode === 'start') this.startMode(c);
          if (
            c === OPEN_ARRAY &&
            this.inTopObject &&
            !this.wrapperUsed &&
            this.lastKey !== null &&
            WRAPPER_KEYS.has(this.lastKey)
          ) {
            // {"data": [ ... ]}: the records are this array's elements, not the outer object.
            this.wrapperUsed = true;
            this.capture = null;
            this.recordDepth = 2;
          } else if (this.depth === this.recordDepth && !this.capture) {
            this.capture = { start: pos, line: this.line, primitive: false };
          }
          this.stack.push(c);
          if (c === OPEN_OBJECT && this.depth === 1) {
            this.keyExpected = true;
            this.lastKey = null;
          }
          pos++;
          break;
        }
        case CLOSE_OBJECT:
        case CLOSE_ARRAY: {
          if (this.capture?.primitive && this.depth === this.recordDepth) this.emit(out, pos);
          const open = this.stack.pop();
          if (open !== (c === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY)) {
            throw new DataFormatError(`unexpected '${String.fromCharCode(c)}'`, { line: this.line });
          }
          pos++;
          if (this.capture && !this.capture.primitive && this.depth === this.recordDepth) this.emit(out, pos);
          if (this.recordDepth === 2 && this.depth === 1 && c === CLOSE_ARRAY) this.recordDepth = -1;
          if (this.depth === 0 && this.mode === 'array') this.mode = 'done';
          break;
        }
        case COMMA:
          if (this.capture?.primitive && this.depth === this.recordDepth) this.emit(out, pos);
          if (this.inTopObject) this.keyExpected = true;
          pos++;
          break;
        case COLON:
          if (this.inTopObject) this.keyExpected = false;
          pos++;
          break;
        default:
          if (this.mode === 'start') {
            throw new DataFormatError(`not JSON: starts with '${buf.slice(pos, pos + 16)}'`, { line: this.line });
          }
          if (this.depth === this.recordDepth && !this.capture) this.capture = { start: pos, line: this.line, primitive: true };
          pos++;
      }
    }
    this.pos = pos;
  }

  private get depth(): number {
    return this.stack.length;
  }

  private get inTopObject(): boolean {
    return this.stack.length === 1 && this.stack[0] === OPEN_OBJECT;
  }

  private startMode(c: number): void {
    this.mode = c === OPEN_ARRAY ? 'array' : 'objects';
    this.recordDepth = c === OPEN_ARRAY ? 1 : 0;
  }

  private stringEnded(out: RawRow[], pos: number): void {
    if (this.keyStart >= 0) {
      const text = this.buf.slice(this.keyStart, pos);
      this.keyStart = -1;
      this.lastKey = text.length <= 64 ? safeParseString(text) : null;
    }
    if (this.capture?.primitive && this.depth === this.recordDepth && this.buf.charCodeAt(this.capture.start) === QUOTE) {
      this.emit(out, pos);
    }
  }

  private emit(out: RawRow[], end: number): void {
    const cap = this.capture!;
    this.capture = null;
    const text = this.buf.slice(cap.start, end);
    const ref = { index: this.index++, line: cap.line };
    try {
      out.push({ ref, value: JSON.parse(text) });
    } catch (e) {
      out.push({ ref, error: `invalid JSON: ${(e as Error).message}` });
    }
  }

  /** Drops scanned text that no capture or key still needs. */
  private trim(): void {
    let keep = this.pos;
    if (this.capture) keep = Math.min(keep, this.capture.start);
    if (this.keyStart >= 0) keep = Math.min(keep, this.keyStart);
    if (keep > 0) {
      this.buf = this.buf.slice(keep);
      this.pos -= keep;
      if (this.capture) this.capture.start -= keep;
      if (this.keyStart >= 0) this.keyStart -= keep;
    }
    if (this.capture && this.buf.length - this.capture.start > MAX_ROW_CHARS) {
      throw new DataFormatError(`record ${this.index} is longer than ${MAX_ROW_CHARS >> 20} Mi characters`, {
        line: this.capture.line,
      });
    }
  }
}

function safeParseString(text: string): string | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}
