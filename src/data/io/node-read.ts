// Reading input files from disk in Node within bounds (the CLI and tests; the browser reads what
// the user picked). One path for every file a command reads whole or by range: model folders
// (src/engine/model/source-node.ts), adapter folders and zips, settings and checkpoints
// (src/cli/input.ts), dataset files (./node-file.ts).
//   - only regular files: a device (/dev/zero), a FIFO or a socket is refused before any byte is
//     read, and a FIFO is opened without blocking;
//   - a cap per file, checked against the file's size before reading: the caller states the most
//     bytes the file's role allows, and the error names the file and the limit;
//   - exactly the bytes the file had when opened are read, so a file that grows while being read
//     cannot make a read unbounded;
//   - in a folder (NodeFolder), each path is resolved to its real path and refused when it lands
//     outside the folder: `..`, absolute paths, and symbolic links (to a file or through a linked
//     directory) alike. One exception, so that models in the Hugging Face cache load: a folder
//     `<repo>/snapshots/<revision>` may link into `<repo>/blobs`, as huggingface_hub lays it out.

import { constants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { formatSize, GiB, KiB, MiB } from './sizes.js';

// Sizes and their wording live in ./sizes.ts (browser code shares them).
export { formatSize, GiB, KiB, MiB };

/** Why a file was not read. */
export type InputProblem = 'outside' | 'not-regular' | 'too-large' | 'changed';

export class InputFileError extends Error {
  override readonly name = 'InputFileError';
  constructor(
    readonly problem: InputProblem,
    /** The path as the user or the folder named it. */
    readonly file: string,
    message: string,
    readonly details: { limit?: number; size?: number; real?: string } = {},
  ) {
    super(message);
  }
}

/** Whether `inner` is `outer` or inside it (absolute, real paths). */
export function isInside(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/** What a non-regular file is, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function notRegular(file: string, st: Stats, real?: string): InputFileError {
  const via = real && real !== file ? ` (it resolves to ${real})` : '';
  return new InputFileError('not-regular', file, `${file} is ${kindOf(st)}${via}, not a regular file: refused`, { real });
}

function tooLarge(file: string, size: number, limit: number, role: string): InputFileError {
  return new InputFileError('too-large', file, `${file} is ${formatSize(size)}, over the ${formatSize(limit)} limit for ${role}: refused before reading`, { size, limit });
}

/** An open regular file and the size it had when opened. */
export interface OpenFile {
  fh: FileHandle;
  size: number;
  stats: Stats;
}

/**
 * Opens a regular file for reading: O_NONBLOCK, so that a FIFO does not block the open, and
 * O_NOFOLLOW when `noFollow` (a path already resolved), so that a link swapped in afterwards is
 * not followed. The handle's own stat decides: anything but a regular file is closed and refused.
 */
export async function openRegular(path: string, file = path, noFollow = false): Promise<OpenFile> {
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (noFollow ? (constants.O_NOFOLLOW ?? 0) : 0);
  const fh = await fs.open(path, flags);
  try {
    const stats = await fh.stat();
    if (!stats.isFile()) throw notRegular(file, stats);
    return { fh, size: stats.size, stats };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Bytes [offset, offset + length) of an open file, fewer at its end. */
export async function readAt(fh: FileHandle, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(Math.max(0, length));
  let got = 0;
  while (got < out.length) {
    const { bytesRead } = await fh.read(out, got, out.length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === out.length ? out : out.subarray(0, got);
}

/** The whole of an open file: its size at open, refused past `maxBytes` before a byte is read. */
async function readWhole(f: OpenFile, file: string, maxBytes: number, role: string): Promise<Uint8Array> {
  if (f.size > maxBytes) throw tooLarge(file, f.size, maxBytes, role);
  const bytes = await readAt(f.fh, 0, f.size);
  if (bytes.byteLength !== f.size) {
    throw new InputFileError('changed', file, `${file} shrank while being read (${f.size} bytes at open, ${bytes.byteLength} read)`, { size: f.size });
  }
  return bytes;
}

/**
 * A file the user named (a zip, a checkpoint, a settings file), read whole. Links are followed:
 * the user chose the path. Refused when it is not a regular file or is larger than `maxBytes`.
 */
export async function readFileBounded(path: string, maxBytes: number, role: string): Promise<Uint8Array> {
  const f = await openRegular(path);
  try {
    return await readWhole(f, path, maxBytes, role);
  } finally {
    await f.fh.close();
  }
}

/** The same, as UTF-8 text. */
export async function readTextBounded(path: string, maxBytes: number, role: string): Promise<string> {
  return new TextDecoder().decode(await readFileBounded(path, maxBytes, role));
}

/** Whether a path is absent (so a caller may treat it as "no such file"). */
export function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A file inside a folder, resolved. */
export interface FolderFile {
  /** The '/'-separated path in the folder. */
  path: string;
  /** Its real path on disk (inside the folder, or the Hugging Face cache's blobs). */
  real: string;
  size: number;
}

/**
 * A folder whose files are read only inside it. Paths are '/'-separated and relative ("onnx/
 * model.onnx"); the caller normalises them (a path with `..` or a leading '/' never gets here).
 */
export class NodeFolder {
  private constructor(
    /** The folder as given, for messages. */
    readonly label: string,
    /** Its real path. */
    readonly root: string,
    /** Real folders a link may point into: the root, and the Hugging Face cache's blobs. */
    private readonly allowed: string[],
  ) {}

  /** Opens a folder; undefined when there is no such folder, an error when it is something else. */
  static async open(dir: string): Promise<NodeFolder | undefined> {
    let root: string;
    try {
      root = await fs.realpath(dir);
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    const st = await fs.stat(root);
    if (!st.isDirectory()) return undefined;
    const allowed = [root];
    // huggingface_hub: <cache>/models--org--name/snapshots/<revision>/<file> -> ../../blobs/<hash>
    if (basename(dirname(root)) === 'snapshots') {
      const blobs = join(dirname(dirname(root)), 'blobs');
      const real = await fs.realpath(blobs).catch(() => null);
      if (real && (await fs.stat(real)).isDirectory()) allowed.push(real);
    }
    return new NodeFolder(dir, root, allowed);
  }

  /**
   * Everything but folders, `depth` folders deep: files, links, and special files too (so that a
   * FIFO named config.json is refused when read, not silently taken as absent). Linked folders
   * are listed as entries, not walked.
   */
  async list(depth = 2): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string, level: number) => {
      const entries = await fs.readdir(join(this.root, rel), { withFileTypes: true });
      for (const e of entries) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (!e.isDirectory()) out.push(p);
        else if (level < depth) await walk(p, level + 1);
      }
    };
    await walk('', 0);
    return out.sort();
  }

  private where(rel: string): string {
    return `${rel} in ${this.label}`;
  }

  /**
   * The file at `rel`, resolved: undefined when it does not exist or is a folder; an
   * InputFileError when it resolves outside the folder (a link, a linked folder) or is not a
   * regular file (a device, a FIFO, a socket).
   */
  async resolve(rel: string): Promise<FolderFile | undefined> {
    let real: string;
    try {
      real = await fs.realpath(join(this.root, ...rel.split('/')));
    } catch (e) {
      if (isMissing(e)) return undefined;
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new InputFileError('not-regular', rel, `${this.where(rel)} is a loop of symbolic links: refused`);
      throw e;
    }
    if (!this.allowed.some((a) => isInside(real, a))) {
      throw new InputFileError('outside', rel, `${this.where(rel)} resolves to ${real}, outside the folder (a symbolic link out of it): refused`, { real });
    }
    const st = await fs.stat(real);
    if (st.isDirectory()) return undefined;
    if (!st.isFile()) throw notRegular(this.where(rel), st, real !== join(this.root, ...rel.split('/')) ? real : undefined);
    return { path: rel, real, size: st.size };
  }

  /** Opens a resolved file by its real path, following no link swapped in since. */
  private openResolved(f: FolderFile): Promise<OpenFile> {
    return openRegular(f.real, this.where(f.path), true);
  }

  /** Size in bytes; undefined when absent. */
  async size(rel: string): Promise<number | undefined> {
    return (await this.resolve(rel))?.size;
  }

  /** The whole file, refused past `maxBytes` (`role` names the limit in the message). */
  async read(rel: string, maxBytes: number, role: string): Promise<Uint8Array | undefined> {
    const f = await this.resolve(rel);
    if (!f) return undefined;
    const o = await this.openResolved(f);
    try {
      return await readWhole(o, this.where(rel), maxBytes, role);
    } finally {
      await o.fh.close();
    }
  }

  /** Bytes [offset, offset + length), fewer at the end of the file. */
  async readRange(rel: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const f = await this.resolve(rel);
    if (!f) return undefined;
    const o = await this.openResolved(f);
    try {
      // Never past the size at open: a file growing meanwhile reads as it was.
      return await readAt(o.fh, offset, Math.max(0, Math.min(length, o.size - offset)));
    } finally {
      await o.fh.close();
    }
  }
}
