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
  /** Where the record starts in `buf` (negative: in the held text before it). */
  start: number;
  line: number;
  primitive: boolean;
  /** A string record (its end is its closing quote). */
  quoted?: boolean;
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
  /** Text not yet scanned, and the scanned text since the last `trim`. */
  private buf = '';
  /**
   * Scanned text that a capture or key still needs, before `buf` (it ends where `buf` starts):
   * kept in parts so that a long record arriving in many chunks is not copied once per chunk.
   */
  private held: string[] = [];
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
  /** Where the current top-level key starts (as Capture.start), or null. */
  private keyStart: number | null = null;
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
    // Next backslash and next quote at or after pos (len: none). Kept between strings and escapes
    // so that finding them stays linear in the text: a string with many escapes and its closing
    // quote far away would otherwise search to that quote once per escape.
    let bs = -1;
    let q = -1;
    while (pos < len) {
      if (this.inString) {
        if (bs < pos) {
          bs = buf.indexOf('\\', pos);
          if (bs === -1) bs = len;
        }
        if (q < pos) {
          q = buf.indexOf('"', pos);
          if (q === -1) q = len;
        }
        if (bs < q) {
          if (bs + 1 >= len) {
            pos = bs; // the escaped character is in the next chunk
            break;
          }
          pos = bs + 2;
          continue;
        }
        if (q === len) {
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
          if (this.depth === this.recordDepth && !this.capture) this.capture = { start: pos, line: this.line, primitive: true, quoted: true };
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
    if (this.keyStart !== null) {
      const text = this.text(this.keyStart, pos);
      this.keyStart = null;
      this.lastKey = text.length <= 64 ? safeParseString(text) : null;
    }
    if (this.capture?.primitive && this.depth === this.recordDepth && this.capture.quoted) {
      this.emit(out, pos);
    }
  }

  private emit(out: RawRow[], end: number): void {
    const cap = this.capture!;
    this.capture = null;
    const text = this.text(cap.start, end);
    if (cap.start < 0) this.release();
    const ref = { index: this.index++, line: cap.line };
    try {
      out.push({ ref, value: JSON.parse(text) });
    } catch (e) {
      out.push({ ref, error: `invalid JSON: ${(e as Error).message}` });
    }
  }

  /** The text from `start` to `end` in `buf` coordinates (a negative start reaches into the held text). */
  private text(start: number, end: number): string {
    if (start >= 0) return this.buf.slice(start, end);
    // The last -start held characters, from the parts at the end only (a key is short).
    const parts: string[] = [];
    let need = -start;
    for (let i = this.held.length - 1; i >= 0 && need > 0; i--) {
      const part = this.held[i]!;
      parts.push(part.length <= need ? part : part.slice(part.length - need));
      need -= part.length;
    }
    return parts.reverse().join('') + this.buf.slice(0, end);
  }

  /** Drops the held text once nothing needs it. */
  private release(): void {
    if ((this.capture && this.capture.start < 0) || (this.keyStart !== null && this.keyStart < 0)) return;
    this.held = [];
  }

  /**
   * Moves scanned text out of `buf`: dropped when no capture or key still needs it, else held
   * in parts (so `buf` never grows with a long record and appending stays cheap).
   */
  private trim(): void {
    this.release();
    const keep = Math.min(this.pos, this.capture ? this.capture.start : Infinity, this.keyStart ?? Infinity);
    const cut = this.pos;
    if (cut > 0) {
      if (keep < cut) {
        const from = Math.max(0, keep);
        this.held.push(this.buf.slice(from, cut));
      }
      this.buf = this.buf.slice(cut);
      this.pos = 0;
      if (this.capture) this.capture.start -= cut;
      if (this.keyStart !== null) this.keyStart -= cut;
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
