// The filesystem fuzz pass (filesystem.test.ts), run in a worker by fuzzInWorkers: the bytes stay
// valid, the folder structure is mutated. Each input lays out one real folder in a temporary
// directory (a model folder, an adapter folder, an adapter zip, a dataset file or a checkpoint, as
// the CLI reads them) and changes one to three of its entries:
//   links out of the folder (to a copy of the same file, so that following one would "work"), a
//   linked folder, links inside, loops, dangling links, links to /dev/zero, /dev/null and
//   /dev/urandom, FIFOs, folders where files belong, missing, empty and huge (sparse) files, and
//   files grown by a sparse tail.
// Then it reads the layout through the CLI's own readers (nodeDirSource + loadModel,
// readAdapterFrom, fileSource + importAll, readCheckpointBytes + decodeCheckpoint) under the
// harness's time and memory ceilings, and judges: a refusal must be a typed error with a clear
// message; a read that succeeds must not have followed a link out of a folder (every file outside
// has its access time set in the past first, so that reading it shows: relatime updates it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { threadId } from 'node:worker_threads';
import { zipSync } from 'fflate';
import { readAdapterFrom, readCheckpointBytes } from '../../src/cli/input.js';
import { DataFormatError } from '../../src/data/errors.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { LimitError } from '../../src/data/io/limits.js';
import { fileSource } from '../../src/data/io/node-file.js';
import { InputFileError } from '../../src/data/io/node-read.js';
import { ZipFormatError } from '../../src/data/io/zip.js';
import { NonFiniteError } from '../../src/engine/finite.js';
import { ModelLoadError } from '../../src/engine/model/errors.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { readSafetensors } from '../../src/engine/training/peft.js';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint } from '../../src/engine/training/trainer.js';
import { prototypePolluted, unclearMessage, withTimeLimit, type CaseMaker, type FuzzCase, type Outcome, type Rng } from '../support/fuzz.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

/** What is laid out: a folder read inside itself (links out are refused), or a file the user names (links are followed). */
type Role = 'model' | 'adapter' | 'zip' | 'data' | 'checkpoint';

interface Seed {
  role: Role;
  name: string;
  /** Files by path relative to the layout's root (a folder role) or one file (the others). */
  files: Record<string, Uint8Array>;
  weight: number;
}

export type Change =
  | 'link-outside' | 'link-outside-folder' | 'link-inside' | 'link-loop' | 'link-dangling'
  | 'dev-zero' | 'dev-null' | 'dev-urandom' | 'fifo' | 'folder' | 'missing' | 'empty' | 'huge' | 'sparse-tail';

const CHANGES: Change[] = ['link-outside', 'link-outside-folder', 'link-inside', 'link-loop', 'link-dangling', 'dev-zero', 'dev-null', 'dev-urandom', 'fifo', 'folder', 'missing', 'empty', 'huge', 'sparse-tail'];

/** One change: what and where (a path in the layout). */
interface Edit {
  change: Change;
  path: string;
}

function readTree(dir: string, skip: RegExp): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      if (statSync(join(dir, p)).isDirectory()) walk(p);
      else if (!skip.test(p)) out[p] = new Uint8Array(readFileSync(join(dir, p)));
    }
  };
  walk('');
  return out;
}

function checkpointBytes(adapter: Record<string, Uint8Array>): Uint8Array {
  const st = readSafetensors(adapter['adapter_model.safetensors']!, 'adapter');
  const values: Record<string, Float32Array> = {};
  const zeros: Record<string, Float32Array> = {};
  for (const [name, t] of st.tensors) {
    values[name] = t.data;
    zeros[name] = new Float32Array(t.data.length);
  }
  return encodeCheckpoint({
    version: 1,
    config: parseTrainingConfig({ method: 'dpo', lora: { r: 4, lora_alpha: 8 } }),
    step: 1,
    rng: [1, 2, 3, 4],
    dataFingerprint: 'data',
    modelFingerprint: 'model',
    history: [{ step: 1, loss: 0.69 }],
    adapter: values,
    optimizer: { steps: 1, m: zeros, v: zeros },
  });
}

function seeds(): Seed[] {
  const skip = /^(reference|weights)\.json$/;
  const adapter = readTree(join(FIXTURES, 'export/tiny-llama-adapter'), /^$/);
  const pairs = new Uint8Array(readFileSync(join(FIXTURES, 'training/pairs.jsonl')));
  const csv = new TextEncoder().encode('prompt,chosen,rejected\nQ1, yes, no\nQ2, good, bad\n');
  return [
    { role: 'model', name: 'tiny-qwen2 (onnx/ with external data)', files: readTree(join(FIXTURES, 'models/tiny-qwen2'), skip), weight: 3 },
    { role: 'model', name: 'tiny-llama', files: readTree(join(FIXTURES, 'models/tiny-llama'), skip), weight: 2 },
    { role: 'adapter', name: 'tiny-llama adapter folder', files: adapter, weight: 2 },
    { role: 'zip', name: 'tiny-llama adapter zip', files: { 'adapter.zip': zipSync({ 'adapter/adapter_config.json': adapter['adapter_config.json']!, 'adapter/adapter_model.safetensors': adapter['adapter_model.safetensors']! }) }, weight: 1 },
    { role: 'data', name: 'pairs.jsonl', files: { 'pairs.jsonl': pairs }, weight: 1 },
    { role: 'data', name: 'pairs.csv', files: { 'pairs.csv': csv }, weight: 1 },
    { role: 'checkpoint', name: 'checkpoint', files: { 'checkpoint.safetensors': checkpointBytes(adapter) }, weight: 1 },
  ];
}

/** Folder roles read inside their folder: a link out of it must never be followed. */
const FOLDER_ROLES: Role[] = ['model', 'adapter'];

function pickSeed(all: Seed[], rng: Rng): Seed {
  const total = all.reduce((a, s) => a + s.weight, 0);
  let x = rng.int(total);
  for (const s of all) {
    if (x < s.weight) return s;
    x -= s.weight;
  }
  return all[0]!;
}

function folders(files: Record<string, Uint8Array>): string[] {
  const out = new Set<string>();
  for (const p of Object.keys(files)) if (p.includes('/')) out.add(dirname(p));
  return [...out];
}

/** Lays out a seed under `root/target`, with copies of everything under `root/outside`. */
function layOut(root: string, seed: Seed): { target: string; outside: string; entry: string } {
  const target = join(root, 'target');
  const outside = join(root, 'outside');
  for (const base of [target, outside]) {
    for (const [p, bytes] of Object.entries(seed.files)) {
      mkdirSync(dirname(join(base, p)), { recursive: true });
      writeFileSync(join(base, p), bytes);
    }
  }
  const only = Object.keys(seed.files)[0]!;
  return { target, outside, entry: FOLDER_ROLES.includes(seed.role) ? target : join(target, only) };
}

function apply(root: string, target: string, outside: string, e: Edit, original: Uint8Array | undefined): void {
  const p = join(target, e.path);
  const remove = () => rmSync(p, { recursive: true, force: true });
  mkdirSync(dirname(p), { recursive: true });
  switch (e.change) {
    case 'link-outside':
      remove();
      symlinkSync(join(outside, e.path), p);
      return;
    case 'link-outside-folder': {
      // The file's folder (or the file itself at the top) becomes a link to the outside copy.
      const dir = e.path.includes('/') ? join(target, dirname(e.path)) : p;
      rmSync(dir, { recursive: true, force: true });
      symlinkSync(e.path.includes('/') ? join(outside, dirname(e.path)) : join(outside, e.path), dir);
      return;
    }
    case 'link-inside': {
      // A relative link to a copy of the seed's file kept inside (allowed), one copy per change.
      let copy = join(target, '.kept', e.path);
      for (let k = 1; existsSync(copy); k++) copy = join(target, '.kept', `${k}`, e.path);
      mkdirSync(dirname(copy), { recursive: true });
      writeFileSync(copy, original ?? '');
      remove();
      symlinkSync(relative(dirname(p), copy), p);
      return;
    }
    case 'link-loop':
      remove();
      symlinkSync(`${p}.other`, p);
      rmSync(`${p}.other`, { force: true });
      symlinkSync(p, `${p}.other`);
      return;
    case 'link-dangling':
      remove();
      symlinkSync(join(root, 'nowhere', 'x'), p);
      return;
    case 'dev-zero':
    case 'dev-null':
    case 'dev-urandom':
      remove();
      symlinkSync(`/dev/${e.change.slice(4)}`, p);
      return;
    case 'fifo':
      remove();
      execFileSync('mkfifo', [p]);
      return;
    case 'folder':
      remove();
      mkdirSync(p);
      return;
    case 'missing':
      remove();
      return;
    case 'empty':
      if (existsSync(p) && statSync(p).isFile()) truncateSync(p, 0);
      else {
        remove();
        writeFileSync(p, '');
      }
      return;
    case 'huge':
      // Sparse: 64 GiB of holes, past every role's cap; nothing is written to disk.
      if (!(existsSync(p) && statSync(p).isFile())) {
        remove();
        writeFileSync(p, '');
      }
      truncateSync(p, 64 * 1024 ** 3);
      return;
    case 'sparse-tail':
      if (existsSync(p) && statSync(p).isFile()) truncateSync(p, statSync(p).size + 48 * 1024 * 1024);
      return;
  }
}

/** Sets every outside file's access time an hour before its modification (relatime then updates it on a read). */
function markOutside(outside: string): Map<string, number> {
  const marks = new Map<string, number>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else {
        const atime = new Date(st.mtimeMs - 3_600_000);
        utimesSync(p, atime, st.mtime);
        marks.set(p, statSync(p).atimeMs);
      }
    }
  };
  walk(outside);
  return marks;
}

function readOutside(marks: Map<string, number>): string[] {
  return [...marks].filter(([p, atime]) => statSync(p).atimeMs !== atime).map(([p]) => p);
}

const SYSTEM_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EACCES', 'ENXIO']);

/** A refusal is fine when it is one of the readers' typed errors (or a system error naming the path), with a clear message. */
function checkError(e: unknown): string | null {
  if (!(e instanceof Error)) return `not an Error: ${String(e)}`;
  const typed = [InputFileError, ModelLoadError, DataFormatError, LimitError, CheckpointError, ZipFormatError, NonFiniteError].some((T) => e instanceof T);
  const code = (e as NodeJS.ErrnoException).code;
  const system = code !== undefined && SYSTEM_CODES.has(code) && /\//.test(e.message);
  // The adapter readers' own errors are plain Errors that name the adapter first.
  const named = e.constructor === Error && /^\S*(adapter|target)\S*: /.test(e.message);
  if (!typed && !system && !named) return `untyped error: ${e.name}: ${e.message}`;
  return unclearMessage(e.message);
}

async function read(role: Role, entry: string): Promise<unknown> {
  switch (role) {
    case 'model':
      return loadModel(nodeDirSource(entry));
    case 'adapter':
    case 'zip': {
      const a = await readAdapterFrom(entry);
      if (!a) throw Object.assign(new Error(`no adapter at ${entry}`), { code: 'ENOENT' });
      return a;
    }
    case 'data':
      return importAll(await fileSource(entry));
    case 'checkpoint':
      return decodeCheckpoint(await readCheckpointBytes(entry), entry);
  }
}

export interface FilesystemArgs {
  /** A temporary folder the test made (and removes): each input lays out under it. */
  base: string;
}

/** Inputs 0..seeds-1: every seed laid out unchanged (it must read); then one to three changes. */
export function filesystemPlan(limitMs: number, args: unknown): CaseMaker {
  const { base } = args as FilesystemArgs;
  const all = seeds();
  return (rng, i): FuzzCase => {
    const seed = all[i] ?? pickSeed(all, rng);
    const edits: Edit[] = [];
    if (i >= all.length) {
      const paths = Object.keys(seed.files);
      const n = 1 + rng.int(3);
      for (let k = 0; k < n; k++) {
        const change = rng.pick(CHANGES);
        // A folder role: any of its files, or a file it may look for that is not there.
        const extra = FOLDER_ROLES.includes(seed.role) ? ['generation_config.json', 'chat_template.jinja', ...folders(seed.files).map((f) => `${f}/extra.bin`)] : [];
        edits.push({ change, path: rng.chance(0.85) ? rng.pick(paths) : rng.pick(extra.length ? extra : paths) });
      }
    }
    const what = `${seed.name}: ${edits.length ? edits.map((e) => `${e.change} ${e.path}`).join(', ') : 'unchanged'}`;
    return {
      what,
      show: () => what,
      run: async (): Promise<Outcome> => {
        const root = join(base, `t${threadId}-${i}`);
        rmSync(root, { recursive: true, force: true });
        mkdirSync(root, { recursive: true });
        try {
          const { target, outside, entry } = layOut(root, seed);
          for (const e of edits) apply(root, target, outside, e, seed.files[e.path]);
          const marks = markOutside(outside);
          const r = await withTimeLimit(limitMs, () => read(seed.role, entry));
          if (prototypePolluted()) return { kind: 'bug', why: 'Object.prototype was polluted', ms: r.ms };
          const leaked = FOLDER_ROLES.includes(seed.role) ? readOutside(marks) : [];
          if (leaked.length) return { kind: 'bug', why: `followed a link out of the folder: read ${leaked.map((p) => relative(root, p)).join(', ')}`, error: r.error, ms: r.ms };
          if (r.error !== undefined) {
            if (edits.length === 0) return { kind: 'bug', why: 'the unchanged layout was refused', error: r.error, ms: r.ms };
            const why = checkError(r.error);
            return why ? { kind: 'bug', why, error: r.error, ms: r.ms } : { kind: 'refused', error: r.error as Error, ms: r.ms };
          }
          return { kind: 'ok', ms: r.ms };
        } finally {
          // rmSync removes links, not what they point to; FIFOs and sparse files go with the folder.
          rmSync(root, { recursive: true, force: true });
        }
      },
    };
  };
}
