// A model folder on disk (Node only: the CLI and tests). Kept apart from source.ts so the browser
// bundle never sees node:fs. Every read goes through NodeFolder (src/data/io/node-read.ts): a path
// that resolves outside the folder (a symbolic link to a file or through a linked directory), a
// device, a FIFO or a socket is refused with 'file-refused', and each file is capped at the size
// its role allows (MODEL_FILE_LIMITS) before a byte is read. External data is read by range, up
// to the bytes the graph declares for it (tensor-store.ts), never past them.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GiB, InputFileError, MiB, NodeFolder } from '../../data/io/node-read.js';
import { ModelLoadError } from './errors.js';
import { normalizePath, type ModelSource } from './source.js';

/** The most bytes each kind of model file may have, checked before it is read. */
export const MODEL_FILE_LIMITS = {
  /** tokenizer.json: the largest vocabularies in use (Gemma's 262k tokens) are about 35 MB. */
  tokenizer: 128 * MiB,
  /** config.json, generation_config.json, genai_config.json, tokenizer_config.json, special_tokens_map.json. */
  json: 16 * MiB,
  /** chat_template.jinja: templates are a few KB. */
  template: 4 * MiB,
  /** An .onnx file: protobuf's limit for one message; larger models keep their weights as external data. */
  onnx: 2 * GiB,
  /** Any other file read whole. External data is not: it is read by range, at most what the graph declares. */
  other: 2 * GiB,
} as const;

/** The limit for a path in the folder, and what the message calls it. */
export function modelFileLimit(path: string): { limit: number; role: string } {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  if (name === 'tokenizer.json') return { limit: MODEL_FILE_LIMITS.tokenizer, role: 'a tokenizer.json' };
  if (name.endsWith('.json')) return { limit: MODEL_FILE_LIMITS.json, role: 'a JSON settings file' };
  if (name.endsWith('.jinja')) return { limit: MODEL_FILE_LIMITS.template, role: 'a chat template' };
  if (name.endsWith('.onnx')) return { limit: MODEL_FILE_LIMITS.onnx, role: 'an .onnx file (protobuf cannot hold more; keep the weights as external data)' };
  return { limit: MODEL_FILE_LIMITS.other, role: 'a model file read whole' };
}

/** Files under `dir`, listed two folders deep (the transformers.js layout keeps onnx/ below). */
export function nodeDirSource(dir: string): ModelSource {
  const root = resolve(dir);
  let opened: Promise<NodeFolder | undefined> | null = null;
  const folder = () => (opened ??= NodeFolder.open(root));
  const rel = (p: string) => {
    const n = normalizePath(p);
    if (!n) throw new Error(`model path "${p}" leaves the model folder`);
    return n;
  };
  /** Runs a read; a refused file becomes a ModelLoadError naming it. */
  const guarded = async <T>(p: string, f: (folder: NodeFolder, path: string) => Promise<T>): Promise<T | undefined> => {
    const path = rel(p);
    const d = await folder();
    if (!d) return undefined;
    try {
      return await f(d, path);
    } catch (e) {
      if (e instanceof InputFileError) throw new ModelLoadError('file-refused', e.message, { file: path, problem: e.problem, ...e.details });
      throw e;
    }
  };
  return {
    label: root,
    list: async () => {
      const d = await folder();
      if (!d) {
        const exists = await stat(root).then(() => true, () => false);
        throw new ModelLoadError('no-model-file', `${root}: ${exists ? 'not a folder' : 'no such folder'}`, { folder: root });
      }
      return d.list(2);
    },
    size: (p) => guarded(p, (d, path) => d.size(path)),
    read: (p) =>
      guarded(p, (d, path) => {
        const { limit, role } = modelFileLimit(path);
        return d.read(path, limit, role);
      }),
    readRange: (p, offset, length) => guarded(p, (d, path) => d.readRange(path, offset, length)),
  };
}
