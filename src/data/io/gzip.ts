// Streaming gunzip (fflate) with the checks fflate leaves out: a truncated member, a wrong CRC-32
// or length in the trailer, all become a DataFormatError instead of silently short data. Memory
// stays bounded whatever the ratio: the compressed bytes go to the inflater INFLATE_PIECE at a time
// (deflate's ceiling of about 1032:1 keeps one piece's output under 17 MB) and the output comes
// out in chunks of at most OUT_CHUNK bytes; the decompressed size and ratio are checked as it
// inflates (./limits.ts).
import { Gunzip } from 'fflate';
import { DataFormatError } from '../errors.js';
import { InflateMeter, LimitError, type InflateLimits } from './limits.js';

/** Compressed bytes handed to the inflater at once. */
export const INFLATE_PIECE = 16 * 1024;
/** Largest decompressed chunk yielded. */
export const OUT_CHUNK = 1 << 20;

export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

export interface GunzipOptions {
  /** Names the stream in limit errors (default "gzip data"). */
  what?: string;
  limits?: Partial<InflateLimits>;
}

/** Decompresses a gzip stream chunk by chunk (single or multi-member; the last member's trailer is
 *  checked). Holds at most one input piece's output at a time, yielded in chunks of at most
 *  OUT_CHUNK bytes; throws LimitError past the decompression limits. */
export async function* gunzipChunks(input: AsyncIterable<Uint8Array>, options: GunzipOptions = {}): AsyncGenerator<Uint8Array> {
  const meter = new InflateMeter(options.what ?? 'gzip data', options.limits);
  const out: Uint8Array[] = [];
  let crc = 0xffffffff;
  let size = 0;
  let inBytes = 0;
  const tail = new Uint8Array(8); // the last 8 input bytes: CRC-32 and ISIZE of the last member
  let tailLen = 0;
  const g = new Gunzip((data) => {
    meter.output(data.length);
    crc = crc32Update(crc, data);
    size = (size + data.length) >>> 0;
    for (let at = 0; at < data.length; at += OUT_CHUNK) out.push(data.subarray(at, Math.min(data.length, at + OUT_CHUNK)));
  });
  g.onmember = () => {
    crc = 0xffffffff;
    size = 0;
  };
  const push = (chunk: Uint8Array, final: boolean) => {
    try {
      meter.input(chunk.length);
      g.push(chunk, final);
    } catch (e) {
      if (e instanceof LimitError) throw e;
      const msg = (e as Error).message;
      throw new DataFormatError(
        msg === 'unexpected EOF' ? 'truncated gzip: the compressed data ends early' : `corrupt gzip: ${msg}`,
        { offset: inBytes },
      );
    }
  };
  for await (const chunk of input) {
    if (chunk.length === 0) continue;
    inBytes += chunk.length;
    keepTail(chunk);
    for (let at = 0; at < chunk.length; at += INFLATE_PIECE) {
      push(chunk.subarray(at, Math.min(chunk.length, at + INFLATE_PIECE)), false);
      while (out.length) yield out.shift()!;
    }
  }
  push(new Uint8Array(0), true);
  while (out.length) yield out.shift()!;
  if (inBytes < 18) throw new DataFormatError('truncated gzip: shorter than a gzip header and trailer', { offset: inBytes });
  const view = new DataView(tail.buffer);
  const wantCrc = view.getUint32(0, true);
  const wantSize = view.getUint32(4, true);
  if (wantSize !== size || wantCrc !== (crc ^ 0xffffffff) >>> 0) {
    throw new DataFormatError('truncated or corrupt gzip: the trailer does not match the data (CRC-32 or length)', { offset: inBytes });
  }

  function keepTail(chunk: Uint8Array) {
    if (chunk.length >= 8) {
      tail.set(chunk.subarray(chunk.length - 8));
      tailLen = 8;
      return;
    }
    const keep = Math.min(tailLen, 8 - chunk.length);
    tail.copyWithin(0, tailLen - keep, tailLen);
    tail.set(chunk, keep);
    tailLen = keep + chunk.length;
  }
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function crc32Update(crc: number, data: Uint8Array): number {
  let c = crc | 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}
