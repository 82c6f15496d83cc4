// Byte sources: what an import reads from. A browser File/Blob, bytes in memory, or (in Node) a
// file path (./node-file.ts). Reading is by chunks, so a 500 MB file is never held at once;
// Parquet also needs random access (`read`).

export interface ByteSource {
  /** File name, used for format hints (extension) and provenance. */
  readonly name: string;
  /** Total bytes, when known (progress). */
  readonly size?: number;
  /** The bytes in order. Each call starts a fresh read from the beginning. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Bytes [start, end) (Parquet footer and row groups). */
  read?(start: number, end: number): Promise<Uint8Array>;
}

export const DEFAULT_CHUNK = 1 << 20;

/** A browser File or Blob (works in a Worker too). */
export function blobSource(blob: Blob, name = (blob as Partial<File>).name ?? 'data'): ByteSource {
  return {
    name,
    size: blob.size,
    async *chunks() {
      // Blob.stream() where it exists; slices otherwise (older engines).
      if (typeof blob.stream === 'function') {
        const reader = blob.stream().getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            yield value;
          }
        } finally {
          await reader.cancel().catch(() => {});
        }
      }
      for (let at = 0; at < blob.size; at += DEFAULT_CHUNK) {
        yield new Uint8Array(await blob.slice(at, at + DEFAULT_CHUNK).arrayBuffer());
      }
    },
    async read(start, end) {
      return new Uint8Array(await blob.slice(start, end).arrayBuffer());
    },
  };
}

/** Bytes already in memory (tests, pasted text, a decompressed Parquet). */
export function bytesSource(name: string, bytes: Uint8Array, chunkSize = 64 * 1024): ByteSource {
  return {
    name,
    size: bytes.length,
    async *chunks() {
      for (let at = 0; at < bytes.length; at += chunkSize) yield bytes.subarray(at, at + chunkSize);
    },
    async read(start, end) {
      return bytes.subarray(start, Math.min(end, bytes.length));
    },
  };
}

export function textSource(name: string, text: string, chunkSize?: number): ByteSource {
  return bytesSource(name, new TextEncoder().encode(text), chunkSize);
}

/** A source produced on the fly by a generator of chunks (big synthetic tests, network bodies). */
export function generatedSource(name: string, make: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>, size?: number): ByteSource {
  return {
    name,
    size,
    async *chunks() {
      yield* make();
    },
  };
}

/** The first n bytes (fewer if the source is shorter). */
export async function headBytes(source: ByteSource, n: number): Promise<Uint8Array> {
  if (source.read) return source.read(0, source.size === undefined ? n : Math.min(n, source.size));
  const parts: Uint8Array[] = [];
  let have = 0;
  for await (const c of source.chunks()) {
    parts.push(c);
    have += c.length;
    if (have >= n) break;
  }
  return concat(parts).subarray(0, n);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lower-case extensions of a file name, outermost last: "a.jsonl.gz" -> ["jsonl", "gz"]. */
export function extensions(name: string): string[] {
  const base = name.split(/[\\/]/).pop() ?? name;
  return base.toLowerCase().split('.').slice(1);
}
