// A file on disk as a ByteSource (Node only: the CLI and tests; the browser uses blobSource).
import { createReadStream, promises as fs } from 'node:fs';
import { basename } from 'node:path';
import { openRegular } from './node-read.js';
import { DEFAULT_CHUNK, type ByteSource } from './source.js';

/** A regular file only (a device such as /dev/zero or a FIFO is refused: src/data/io/node-read.ts). */
export async function fileSource(path: string): Promise<ByteSource> {
  const { fh, size } = await openRegular(path);
  await fh.close();
  return {
    name: basename(path),
    size,
    async *chunks() {
      for await (const c of createReadStream(path, { highWaterMark: DEFAULT_CHUNK })) {
        const b = c as Buffer;
        yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      }
    },
    async read(start, end) {
      const fh = await fs.open(path, 'r');
      try {
        const len = Math.max(0, Math.min(end, size) - start);
        const buf = new Uint8Array(len);
        let got = 0;
        while (got < len) {
          const { bytesRead } = await fh.read(buf, got, len - got, start + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    },
  };
}
