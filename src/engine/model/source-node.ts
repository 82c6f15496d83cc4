// A model folder on disk (Node only: the CLI and tests). Kept apart from source.ts so the browser
// bundle never sees node:fs.

import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelLoadError } from './errors.js';
import { normalizePath, type ModelSource } from './source.js';

/** Files under `dir`, listed two folders deep (the transformers.js layout keeps onnx/ below). */
export function nodeDirSource(dir: string): ModelSource {
  const root = resolve(dir);
  const full = (p: string) => {
    const n = normalizePath(p);
    if (!n) throw new Error(`model path "${p}" leaves the model folder`);
    return join(root, n);
  };
  const notFound = (e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw e;
  };
  return {
    label: root,
    list: async () => {
      const st = await stat(root).catch(notFound);
      if (!st?.isDirectory()) throw new ModelLoadError('no-model-file', `${root}: ${st ? 'not a folder' : 'no such folder'}`, { folder: root });
      const out: string[] = [];
      const walk = async (rel: string, depth: number) => {
        const entries = await readdir(join(root, rel), { withFileTypes: true });
        for (const e of entries) {
          const p = rel ? `${rel}/${e.name}` : e.name;
          if (e.isFile() || e.isSymbolicLink()) out.push(p);
          else if (e.isDirectory() && depth < 2) await walk(p, depth + 1);
        }
      };
      await walk('', 0);
      return out.sort();
    },
    size: async (p) => {
      try {
        const s = await stat(full(p));
        return s.isFile() ? s.size : undefined;
      } catch (e) {
        return notFound(e);
      }
    },
    read: async (p) => {
      try {
        const b = await readFile(full(p));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        return notFound(e);
      }
    },
    readRange: async (p, offset, length) => {
      let fh;
      try {
        fh = await open(full(p), 'r');
      } catch (e) {
        return notFound(e);
      }
      try {
        const out = new Uint8Array(Math.max(0, length));
        let got = 0;
        while (got < out.length) {
          const { bytesRead } = await fh.read(out, got, out.length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === out.length ? out : out.subarray(0, got);
      } finally {
        await fh.close();
      }
    },
  };
}
