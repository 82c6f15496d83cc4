// The one way out for every file and folder a command writes (convert, logprobs, train, eval,
// export). Two steps:
//   1. planOutput / planOutputs, before any work: the output's folder must exist and be writable;
//      the output may not be an input, inside an input folder, nor (when it replaces a folder)
//      hold an input; an existing output is refused unless --force (a train run folder: unless
//      --resume); a folder where a file is wanted (and the reverse) is refused. Each problem is an
//      OutputError: one line, exit 2 (main.ts).
//   2. Writing goes to a temporary name beside the target (`.<name>.<pid>-<random>.tmp`), renamed
//      into place at the end: OutputFile (streamed; its `tmp` path also serves a writer that wants
//      a path), writeOutputFile (bytes, text or chunks), writeOutputFolder (a whole folder,
//      renamed into place), prepareRunFolder (a train run folder, written over time, one atomic
//      file at a time). A failure removes the temporary file and leaves any earlier output as it
//      was.
// Temporary files are removed however the process ends: a thrown error (the writer's own
// cleanup), exit, SIGINT/SIGTERM/SIGHUP (signal-exit), and SIGKILL too: a small watcher process,
// told each temporary path, removes those still there when its pipe from this process closes.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, promises as fs, rmSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { onExit } from 'signal-exit';
import { isInside } from '../data/io/node-read.js';

/** An output path that cannot be used as given: one line for the user, exit 2. */
export class OutputError extends Error {
  override readonly name = 'OutputError';
}

export interface OutputSpec {
  /** The flag that names it, for messages: '--out', '--merged'. */
  flag: string;
  path: string;
  kind: 'file' | 'folder';
}

/**
 * An input of the command: the flag that names it (for messages) and its path; `pending`: a
 * folder the command creates before it writes (a Hub model's cache folder), compared by where it
 * will be even when it is not there yet.
 */
export type InputSpec = readonly [flag: string, path: string | undefined | null, pending?: boolean];

export interface PlanOptions {
  /** Replace an existing output (--force). */
  force?: boolean;
  /** What the command reads: an output may not be one, be inside one, or (replacing a folder) hold one. */
  inputs?: readonly InputSpec[];
  /** An existing folder may be written into without --force (train --resume in its own run folder). */
  reuse?: boolean;
  /** Said after "<flag> <path> exists" (default: "pass --force to replace it"). */
  existsHint?: string;
}

export interface PlannedOutput extends OutputSpec {
  /** Absolute: the real path of its folder and its own name. */
  target: string;
  /** Something is there already (a file; a non-empty folder). */
  exists: boolean;
  /** An empty folder is there already. */
  emptyFolder: boolean;
}

const describeKind = (st: Stats) =>
  st.isDirectory() ? 'a folder' : st.isFile() ? 'a file' : st.isSymbolicLink() ? 'a symbolic link' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device';

async function realOrNull(p: string): Promise<string | null> {
  return fs.realpath(p).catch(() => null);
}

/** An input's real path; a pending one not there yet: its nearest existing folder's real path and the rest. */
async function inputReal(path: string, pending?: boolean): Promise<string | null> {
  const real = await realOrNull(path);
  if (real || !pending) return real;
  const abs = resolve(path);
  const up = dirname(abs);
  if (up === abs) return abs;
  const parent = await inputReal(up, true);
  return parent && join(parent, basename(abs));
}

/** Checks one output before any work is done. */
export async function planOutput(spec: OutputSpec, options: PlanOptions = {}): Promise<PlannedOutput> {
  const { flag, path, kind } = spec;
  const what = `${flag} ${path}`;
  const abs = resolve(path);
  const parent = dirname(abs);
  const parentStat = await fs.stat(parent).catch((e: NodeJS.ErrnoException) => e);
  if (parentStat instanceof Error) {
    if (parentStat.code === 'ENOENT') throw new OutputError(`${what}: the folder ${parent} does not exist`);
    if (parentStat.code === 'ENOTDIR') throw new OutputError(`${what}: ${parent} is not a folder`);
    throw new OutputError(`${what}: ${parentStat.message}`);
  }
  if (!parentStat.isDirectory()) throw new OutputError(`${what}: ${parent} is not a folder`);
  try {
    await fs.access(parent, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OutputError(`${what}: ${code === 'EROFS' ? `${parent} is on a read-only file system` : `no permission to write in ${parent}`}`);
  }
  const target = join(await fs.realpath(parent), basename(abs));
  const st = await fs.lstat(target).catch(() => null);
  // Where the output really points: a link output is compared with the inputs by its target.
  const real = st ? ((await realOrNull(target)) ?? target) : target;

  // The same file under another name (a hard link, a bind mount) is the same file.
  const targetStat = st ? await fs.stat(target).catch(() => null) : null;
  for (const [inFlag, inPath, pending] of options.inputs ?? []) {
    if (!inPath) continue;
    const input = await inputReal(inPath, pending);
    if (!input) continue;
    const name = inFlag ? `${inFlag} ${inPath}` : inPath;
    const inputStat = targetStat ? await fs.stat(input).catch(() => null) : null;
    const sameFile = !!targetStat && !!inputStat && targetStat.dev === inputStat.dev && targetStat.ino === inputStat.ino;
    if (real === input || target === input || sameFile) throw new OutputError(`${what} is the input ${name}: write the output somewhere else`);
    if (isInside(real, input) || isInside(target, input)) throw new OutputError(`${what} is inside the input ${name}: write the output somewhere else`);
  }

  let exists = false;
  let emptyFolder = false;
  if (st) {
    if (st.isSymbolicLink()) {
      // Renaming over a link replaces the link, not what it points to; say so rather than guess.
      if (!options.force) throw new OutputError(`${what} exists (a symbolic link to ${real}); pass --force to replace the link`);
      exists = true;
    } else if (kind === 'file') {
      if (st.isDirectory()) throw new OutputError(`${what} is a folder: give a file name`);
      if (!st.isFile()) throw new OutputError(`${what} is ${describeKind(st)}, not a regular file: refused`);
      exists = true;
    } else {
      if (!st.isDirectory()) throw new OutputError(`${what} is ${describeKind(st)}, not a folder`);
      emptyFolder = (await fs.readdir(target)).length === 0;
      exists = !emptyFolder;
    }
    if (exists && !options.force && !options.reuse) throw new OutputError(`${what} exists; ${options.existsHint ?? 'pass --force to replace it'}`);
    // Replacing a folder would delete what it holds: no input may be there.
    if (exists && kind === 'folder' && !options.reuse) {
      for (const [inFlag, inPath, pending] of options.inputs ?? []) {
        const input = inPath ? await inputReal(inPath, pending) : null;
        if (input && isInside(input, real)) throw new OutputError(`${what} holds the input ${inFlag ? `${inFlag} ` : ''}${inPath}: replacing the folder would delete it`);
      }
    }
  }
  return { ...spec, target, exists, emptyFolder };
}

/** Checks several outputs of one command: each as planOutput, and no two the same or one inside another. */
export async function planOutputs(specs: readonly OutputSpec[], options: PlanOptions = {}): Promise<PlannedOutput[]> {
  const plans: PlannedOutput[] = [];
  for (const s of specs) plans.push(await planOutput(s, options));
  for (const [i, a] of plans.entries()) {
    for (const b of plans.slice(i + 1)) {
      if (a.target === b.target) throw new OutputError(`${a.flag} ${a.path} and ${b.flag} ${b.path} are the same path: give each its own`);
      const [outer, inner] = isInside(a.target, b.target) ? [b, a] : isInside(b.target, a.target) ? [a, b] : [null, null];
      if (outer && inner) throw new OutputError(`${inner.flag} ${inner.path} is inside ${outer.flag} ${outer.path}: give each its own place`);
    }
  }
  return plans;
}

// ---------------------------------------------------------------------------------------------
// Temporary files and their cleanup.

/** Temporary paths alive now (not yet renamed into place or removed). */
const live = new Set<string>();
let unhookExit: (() => void) | null = null;

/** The temporary name beside `target`: hidden, this process's id, random. */
export function tempPath(target: string, suffix = 'tmp'): string {
  const name = basename(target).slice(0, 160);
  return join(dirname(target), `.${name}.${process.pid}-${randomBytes(4).toString('hex')}.${suffix}`);
}

/**
 * The watcher: one small Node process per CLI process, started with the first temporary path.
 * It is told each path before the path is created ("+path\0") and when it is gone ("-path\0");
 * when its pipe from this process closes (this process ended, however: even SIGKILL), it removes
 * the paths still listed. It ignores the terminal's signals and lives in its own process group.
 */
const REAPER = `
const fs = require('node:fs');
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
const live = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\\0'); i >= 0; i = buf.indexOf('\\0')) {
    const m = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (m[0] === '+') live.add(m.slice(1)); else live.delete(m.slice(1));
  }
});
process.stdin.on('end', () => {
  for (const p of live) try { fs.rmSync(p, { recursive: true, force: true }); } catch {}
  process.exit(0);
});
`;

let reaper: ChildProcess | null | undefined;

function startReaper(): ChildProcess | null {
  try {
    const child = spawn(process.execPath, ['-e', REAPER], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    child.on('error', () => {
      reaper = null;
    });
    child.stdin?.on('error', () => {
      reaper = null;
    });
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  } catch {
    return null;
  }
}

/** Tells the watcher; resolves once the message is in the pipe (so it outlives a SIGKILL). */
function tell(message: string): Promise<void> {
  if (reaper === undefined) reaper = startReaper();
  const stdin = reaper?.stdin;
  if (!stdin || stdin.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stdin.write(`${message}\0`, () => resolve());
  });
}

/** A temporary path about to be created: removed on exit, signal or kill unless released first. */
async function track(path: string): Promise<void> {
  live.add(path);
  unhookExit ??= onExit(() => {
    for (const p of live) rmSync(p, { recursive: true, force: true });
  });
  await tell(`+${path}`);
}

/** The temporary path is gone (renamed into place or removed). */
function release(path: string): void {
  live.delete(path);
  void tell(`-${path}`);
  if (live.size === 0 && unhookExit) {
    unhookExit();
    unhookExit = null;
  }
}

/** Temporary paths of this process not yet renamed or removed (tests). */
export function liveTempPaths(): string[] {
  return [...live];
}

/** An error while writing, as one line: path problems are OutputErrors (exit 2), the rest exit 1. */
function writeFailure(e: unknown, what: string): Error {
  if (e instanceof OutputError) return e;
  const err = e as NodeJS.ErrnoException;
  const reason = err.code === 'ENOENT' ? 'its folder does not exist (any more)'
    : err.code === 'ENOTDIR' ? 'a part of the path is not a folder'
    : err.code === 'EISDIR' ? 'it is a folder'
    : err.code === 'EACCES' || err.code === 'EPERM' ? 'no permission'
    : err.code === 'EROFS' ? 'read-only file system'
    : err.code === 'ENAMETOOLONG' ? 'the name is too long'
    : null;
  if (reason) return new OutputError(`cannot write ${what}: ${reason}`);
  return new Error(`cannot write ${what}: ${err.message ?? String(e)}`);
}

const describeTarget = (t: PlannedOutput | string) => (typeof t === 'string' ? t : `${t.flag} ${t.path}`);
const targetPath = (t: PlannedOutput | string) => (typeof t === 'string' ? t : t.target);

/** Bytes buffered before a write to disk. */
const BUFFER = 1 << 20;
const encoder = new TextEncoder();

/**
 * A file written under a temporary name and renamed into place by commit(); discard() (or any
 * failure, or the process ending first) removes it. The target is a planned output, or a path
 * in a folder the command owns (a train run folder's files). A writer that wants a path (such as
 * hyparquet-writer's fileWriter) may write `tmp` itself; commit() then syncs and renames it.
 */
export class OutputFile {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private position = 0;
  private done = false;

  private constructor(
    private readonly what: string,
    readonly target: string,
    readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly sync: boolean,
  ) {}

  /**
   * `sync` (default true): the data reaches the disk before the rename, so that a crash of the
   * machine cannot leave a renamed but empty file. Off for files that can be made again (cache
   * entries), where one fsync per small file would cost more than the file.
   */
  static async create(target: PlannedOutput | string, options: WriteOptions = {}): Promise<OutputFile> {
    const what = describeTarget(target);
    const path = targetPath(target);
    const tmp = tempPath(path);
    await track(tmp);
    try {
      const fh = await fs.open(tmp, 'wx');
      return new OutputFile(what, path, tmp, fh, options.sync ?? true);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      release(tmp);
      throw writeFailure(e, what);
    }
  }

  /** Bytes written so far (buffered included). */
  get bytes(): number {
    return this.position + this.pendingBytes;
  }

  async write(chunk: string | Uint8Array): Promise<void> {
    const b = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
    if (b.byteLength === 0) return;
    this.pending.push(b);
    this.pendingBytes += b.byteLength;
    if (this.pendingBytes >= BUFFER) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const parts = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      for (const p of parts) {
        let off = 0;
        while (off < p.byteLength) {
          const { bytesWritten } = await this.fh.write(p, off, p.byteLength - off, this.position);
          off += bytesWritten;
          this.position += bytesWritten;
        }
      }
    } catch (e) {
      throw writeFailure(e, this.what);
    }
  }

  /** Writes what is buffered, syncs, and renames the file into place. */
  async commit(): Promise<void> {
    if (this.done) throw new Error(`${this.what}: written already`);
    try {
      await this.flush();
      if (this.sync) await this.fh.datasync();
      await this.fh.close();
      this.done = true;
      await fs.rename(this.tmp, this.target);
    } catch (e) {
      await this.discard();
      throw writeFailure(e, this.what);
    }
    release(this.tmp);
  }

  /** Removes the temporary file; an earlier output stays as it was. */
  async discard(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.fh.close().catch(() => {});
    }
    await fs.rm(this.tmp, { force: true }).catch(() => {});
    release(this.tmp);
  }
}

export type OutputData = string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

export interface WriteOptions {
  /** fsync before the rename (default true); see OutputFile.create. */
  sync?: boolean;
}

/** Writes `data` (bytes, text, or chunks in order) to a temporary file, then renames it into place. */
export async function writeOutputFile(target: PlannedOutput | string, data: OutputData, options: WriteOptions = {}): Promise<void> {
  const f = await OutputFile.create(target, options);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await f.write(data);
    else for await (const chunk of data) await f.write(chunk);
  } catch (e) {
    await f.discard();
    throw e;
  }
  await f.commit();
}

/**
 * A whole folder: `fill` writes into a temporary folder beside the target, which is then renamed
 * into place. An existing folder (with --force) is moved aside first and removed after; if the
 * rename fails it is moved back. A failure in `fill` removes the temporary folder and leaves the
 * target as it was.
 */
export async function writeOutputFolder(target: PlannedOutput, fill: (dir: string) => Promise<void>): Promise<void> {
  const what = describeTarget(target);
  const tmp = tempPath(target.target);
  await track(tmp);
  try {
    await fs.mkdir(tmp).catch((e: unknown) => {
      throw writeFailure(e, what);
    });
    await fill(tmp);
    const st = await fs.lstat(target.target).catch(() => null);
    if (st && !(st.isDirectory() && (await fs.readdir(target.target)).length === 0)) {
      const old = tempPath(target.target, 'old');
      await fs.rename(target.target, old).catch((e: unknown) => {
        throw writeFailure(e, what);
      });
      try {
        await fs.rename(tmp, target.target);
      } catch (e) {
        await fs.rename(old, target.target).catch(() => {});
        throw writeFailure(e, what);
      }
      await fs.rm(old, { recursive: true, force: true });
    } else {
      if (st) await fs.rmdir(target.target).catch(() => {});
      await fs.rename(tmp, target.target).catch((e: unknown) => {
        throw writeFailure(e, what);
      });
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    release(tmp);
  }
}

/** A file inside a folder being filled (writeOutputFolder's `dir`): its folders made as needed; synced before the folder is renamed. */
export async function writeInto(dir: string, name: string, data: string | Uint8Array | Iterable<Uint8Array>): Promise<void> {
  const file = join(dir, name);
  await fs.mkdir(dirname(file), { recursive: true });
  const fh = await fs.open(file, 'wx');
  try {
    for (const chunk of typeof data === 'string' ? [encoder.encode(data)] : data instanceof Uint8Array ? [data] : data) {
      let off = 0;
      while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * A folder written over time (a train run): made if absent; with --force an existing run's own
 * files (`files`) are removed first, so that no old adapter or checkpoint is left beside the new
 * run's. Each file is then written with writeOutputFile (atomic per file).
 */
export async function prepareRunFolder(target: PlannedOutput, files: readonly string[], replace: boolean): Promise<void> {
  try {
    await fs.mkdir(target.target, { recursive: false }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    if (replace) for (const f of files) await fs.rm(join(target.target, f), { force: true });
  } catch (e) {
    throw writeFailure(e, describeTarget(target));
  }
}
