// Reading entries of a zip held in memory, bounded (PEFT adapter zips, src/engine/export/peft.ts).
// fflate's unzipSync allocates each entry at the size its header declares and inflates it whole
// before anything can be checked (a 3 MB zip took 3.2 GB), so the archive is walked here instead:
//   - the central directory is read (end record, then one header per entry, zip64 sizes too);
//   - only the entries the caller wants are inflated, by fflate's streaming Inflate, INFLATE_PIECE
//     bytes of compressed data at a time, each output piece counted against the limits while it
//     inflates (./limits.ts: total size, ratio) and against the size the entry declares;
//   - the output's length and CRC-32 must match the header's.
import { Inflate } from 'fflate';
import { crc32Update, INFLATE_PIECE } from './gzip.js';
import { InflateMeter, LimitError, type InflateLimits } from './limits.js';

/** A zip that is not one, or is damaged. */
export class ZipFormatError extends Error {
  override readonly name = 'ZipFormatError';
}

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  /** Offset of the entry's local header. */
  offset: number;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Every entry in the central directory (folders included). */
export function zipEntries(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  const fail = (why: string): never => {
    throw new ZipFormatError(why);
  };
  // The end record: 22 bytes plus a comment of up to 65535.
  let eocd = -1;
  for (let i = n - 22; i >= Math.max(0, n - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('no end of central directory record');
  let count = view.getUint16(eocd + 10, true);
  let dirSize = view.getUint32(eocd + 12, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || dirOffset === 0xffffffff || dirSize === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === EOCD64_LOCATOR) {
    const at = Number(view.getBigUint64(eocd - 12, true));
    if (!(at >= 0 && at + 56 <= n) || view.getUint32(at, true) !== EOCD64) fail('a damaged zip64 end record');
    count = Number(view.getBigUint64(at + 32, true));
    dirSize = Number(view.getBigUint64(at + 40, true));
    dirOffset = Number(view.getBigUint64(at + 48, true));
  }
  if (!(dirOffset + dirSize <= n)) fail(`the central directory (${dirSize} bytes at ${dirOffset}) lies outside the ${n}-byte file`);
  // Each central header is at least 46 bytes: a count the directory cannot hold is a lie.
  if (count * 46 > dirSize) fail(`the central directory claims ${count} entries in ${dirSize} bytes`);
  const entries: ZipEntry[] = [];
  let p = dirOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > n || view.getUint32(p, true) !== CENTRAL) fail(`central directory entry ${k} is damaged`);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let offset = view.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen > n) fail(`central directory entry ${k} runs past the end of the file`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64: the sizes and offset that are 0xffffffff come from the extra field 0x0001, in order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + len) fail(`entry ${name}: a damaged zip64 extra field`);
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (offset === 0xffffffff) offset = next();
      }
      e += 4 + len;
    }
    entries.push({ name, method, compressedSize, size, crc, offset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * The bytes of one entry, inflated within the limits (its declared size and ratio are checked
 * before inflating, its real ones while it inflates). `what` names it in errors
 * ("adapter.zip: adapter_model.safetensors").
 */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, what: string, limits: Partial<InflateLimits> = {}): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => {
    throw new ZipFormatError(`${what}: ${why}`);
  };
  const at = entry.offset;
  if (!(at + 30 <= bytes.length) || view.getUint32(at, true) !== LOCAL) fail('its local header is missing or damaged');
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (!(end <= bytes.length)) fail(`its ${entry.compressedSize} compressed bytes run past the end of the zip`);
  const meter = new InflateMeter(what, limits);
  // What the header declares is checked first, then what the data really inflates to.
  meter.input(entry.compressedSize);
  meter.output(entry.size, 'declares to inflate');
  meter.reset();
  let data: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) fail(`stored with ${entry.compressedSize} bytes but declares ${entry.size}`);
    data = bytes.subarray(start, end);
  } else if (entry.method === 8) {
    // Pieces as they come (never a buffer of the declared size before the data proves it).
    const parts: Uint8Array[] = [];
    let filled = 0;
    const inflater = new Inflate((chunk) => {
      meter.output(chunk.length);
      if (filled + chunk.length > entry.size) fail(`it inflates past the ${entry.size} bytes it declares`);
      parts.push(chunk);
      filled += chunk.length;
    });
    try {
      for (let p = start; p < end; p += INFLATE_PIECE) {
        const piece = bytes.subarray(p, Math.min(end, p + INFLATE_PIECE));
        meter.input(piece.length);
        inflater.push(piece, false);
      }
      inflater.push(new Uint8Array(0), true);
    } catch (e) {
      if (e instanceof LimitError || e instanceof ZipFormatError) throw e;
      fail(`its compressed data is damaged (${(e as Error).message})`);
    }
    if (filled !== entry.size) fail(`it inflates to ${filled} bytes, not the ${entry.size} it declares`);
    data = parts.length === 1 ? parts[0]! : new Uint8Array(filled);
    if (parts.length > 1) {
      let o = 0;
      for (const part of parts.splice(0)) {
        data.set(part, o);
        o += part.length;
      }
    }
  } else {
    return fail(`compression method ${entry.method} is not supported (stored or deflate only)`);
  }
  if ((crc32Update(0xffffffff, data) ^ 0xffffffff) >>> 0 !== entry.crc) fail('its CRC-32 does not match its data');
  return data;
}
