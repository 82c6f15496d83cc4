// Stored models, in the origin private file system (OPFS): one folder per model,
//   models/<id>/<the model's own files, paths kept: config.json, onnx/model.onnx, ...>
//   models/<id>/manifest.json   written last: a folder without one is an unfinished import
//   models/library.json         which model is active; whether the demo was offered
// OPFS rather than IndexedDB: weights are large, and files can be read back by byte range without
// loading them whole. Reachable from the page and from Workers alike: the models service lists and
// deletes here; the engine Worker writes here while importing (so weights never cross threads)
// and reads a stored model back from here.
import type { ModelFileEntry, ModelManifest } from '../worker/protocol.js';

export const MODELS_DIR = 'models';
const MANIFEST = 'manifest.json';
const LIBRARY = 'library.json';

/** Settings of the model library as a whole. */
export interface LibraryState {
  activeId: string | null;
  /** The demo model was loaded once; deleting it does not bring it back on the next start. */
  demoOffered: boolean;
}

const DEFAULT_LIBRARY: LibraryState = { activeId: null, demoOffered: false };

/** FileSystemDirectoryHandle's async iteration (not in TypeScript's DOM lib yet). */
type IterableDirectory = FileSystemDirectoryHandle & { values(): AsyncIterable<FileSystemHandle> };

export type RootProvider = () => Promise<FileSystemDirectoryHandle>;

function opfsRoot(): Promise<FileSystemDirectoryHandle> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.getDirectory) {
    return Promise.reject(new Error('this browser has no origin private file system (navigator.storage.getDirectory), so models cannot be kept between visits'));
  }
  return storage.getDirectory();
}

/** "TinyLlama/TinyLlama-1.1B" → "tinyllama-tinyllama-1.1b": safe as a folder name. */
export function slugify(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 60);
  return s || 'model';
}

/** Splits "onnx/model.onnx" into checked parts; refuses paths that leave the folder. */
function pathParts(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '..' || p.includes('\\'))) throw new Error(`"${path}" is not a path inside a model folder`);
  return parts;
}

function isNotFound(e: unknown): boolean {
  return e instanceof Error && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');
}

export interface ModelWriter {
  readonly id: string;
  /** Writes one file (creating its folders); returns the bytes written. */
  writeFile(path: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number>;
  /** Writes the manifest: from now on the model is listed. */
  commit(manifest: ModelManifest): Promise<void>;
  /** Removes everything written (a failed or cancelled import). */
  discard(): Promise<void>;
}

export class ModelStore {
  constructor(private readonly root: RootProvider = opfsRoot) {}

  private async modelsDir(): Promise<IterableDirectory> {
    return (await (await this.root()).getDirectoryHandle(MODELS_DIR, { create: true })) as IterableDirectory;
  }

  private async modelDir(id: string, create = false): Promise<IterableDirectory | null> {
    const [name] = pathParts(id);
    try {
      return (await (await this.modelsDir()).getDirectoryHandle(name!, { create })) as IterableDirectory;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  private async readJson<T>(dir: FileSystemDirectoryHandle, name: string): Promise<T | undefined> {
    let handle: FileSystemFileHandle;
    try {
      handle = await dir.getFileHandle(name);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    return JSON.parse(await (await handle.getFile()).text()) as T;
  }

  private async writeJson(dir: FileSystemDirectoryHandle, name: string, value: unknown): Promise<void> {
    const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
    await writable.write(JSON.stringify(value, null, 2));
    await writable.close();
  }

  /** Every complete stored model, oldest first. An unreadable manifest is skipped, not fatal. */
  async list(): Promise<ModelManifest[]> {
    const out: ModelManifest[] = [];
    for await (const entry of (await this.modelsDir()).values()) {
      if (entry.kind !== 'directory') continue;
      try {
        const manifest = await this.readJson<ModelManifest>(entry as FileSystemDirectoryHandle, MANIFEST);
        if (manifest?.version === 1 && manifest.id === entry.name) out.push(manifest);
      } catch {
        // A corrupt manifest: the folder is left for removeIncomplete to clear.
      }
    }
    return out.sort((a, b) => a.addedAt.localeCompare(b.addedAt) || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<ModelManifest | undefined> {
    const dir = await this.modelDir(id);
    return dir ? this.readJson<ModelManifest>(dir, MANIFEST) : undefined;
  }

  /** A folder name for a new model: its name, made unique. */
  async newId(name: string): Promise<string> {
    const taken = new Set<string>();
    for await (const entry of (await this.modelsDir()).values()) taken.add(entry.name);
    const base = slugify(name);
    if (!taken.has(base) && base !== LIBRARY) return base;
    for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
  }

  /** Starts writing a new model folder (it does not show in list() until commit). */
  async writer(id: string): Promise<ModelWriter> {
    const dir = (await this.modelDir(id, true))!;
    const models = await this.modelsDir();
    return {
      id,
      async writeFile(path, data) {
        const parts = pathParts(path);
        let at: FileSystemDirectoryHandle = dir;
        for (const part of parts.slice(0, -1)) at = await at.getDirectoryHandle(part, { create: true });
        const writable = await (await at.getFileHandle(parts.at(-1)!, { create: true })).createWritable();
        let written = 0;
        try {
          if (data instanceof Uint8Array) {
            await writable.write(data as Uint8Array<ArrayBuffer>);
            written = data.byteLength;
          } else {
            for await (const chunk of data) {
              await writable.write(chunk as Uint8Array<ArrayBuffer>);
              written += chunk.byteLength;
            }
          }
          await writable.close();
        } catch (e) {
          await writable.abort().catch(() => {});
          throw e;
        }
        return written;
      },
      commit: (manifest) => this.writeJson(dir, MANIFEST, manifest),
      async discard() {
        await models.removeEntry(id, { recursive: true }).catch(() => {});
      },
    };
  }

  /** The stored files of a model, paths relative to its folder (the manifest excluded). */
  async files(id: string): Promise<ModelFileEntry[]> {
    const dir = await this.modelDir(id);
    if (!dir || !(await this.readJson<ModelManifest>(dir, MANIFEST))) throw new Error(`no stored model "${id}"`);
    const out: ModelFileEntry[] = [];
    const walk = async (d: IterableDirectory, prefix: string) => {
      for await (const entry of d.values()) {
        const path = prefix + entry.name;
        if (entry.kind === 'directory') await walk(entry as IterableDirectory, `${path}/`);
        else if (path !== MANIFEST) out.push({ path, file: await (entry as FileSystemFileHandle).getFile() });
      }
    };
    await walk(dir, '');
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  async remove(id: string): Promise<void> {
    const [name] = pathParts(id);
    try {
      await (await this.modelsDir()).removeEntry(name!, { recursive: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Removes folders left by imports that never finished (no readable manifest); returns their ids. */
  async removeIncomplete(): Promise<string[]> {
    const models = await this.modelsDir();
    const gone: string[] = [];
    for await (const entry of models.values()) {
      if (entry.kind !== 'directory') continue;
      const manifest = await this.readJson<ModelManifest>(entry as FileSystemDirectoryHandle, MANIFEST).catch(() => undefined);
      if (!manifest) gone.push(entry.name);
    }
    for (const id of gone) await models.removeEntry(id, { recursive: true });
    return gone;
  }

  async readLibrary(): Promise<LibraryState> {
    const stored = await this.readJson<Partial<LibraryState>>(await this.modelsDir(), LIBRARY).catch(() => undefined);
    return { ...DEFAULT_LIBRARY, ...stored };
  }

  async updateLibrary(patch: Partial<LibraryState>): Promise<LibraryState> {
    const next = { ...(await this.readLibrary()), ...patch };
    await this.writeJson(await this.modelsDir(), LIBRARY, next);
    return next;
  }
}

/** The store on this origin's OPFS. */
export const modelStore = new ModelStore();
