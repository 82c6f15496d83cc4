// An in-memory origin private file system with the FileSystemDirectoryHandle methods the model
// store uses (get/create handles, values/keys, removeEntry, createWritable with abort), so the
// store's logic runs in Node exactly as it calls the browser API.

type Node = FakeDirectory | FakeFile;

function notFound(name: string): Error {
  const e = new Error(`${name}: not found`);
  e.name = 'NotFoundError';
  return e;
}

function typeMismatch(name: string): Error {
  const e = new Error(`${name}: wrong kind`);
  e.name = 'TypeMismatchError';
  return e;
}

export class FakeFile {
  readonly kind = 'file';
  data = new Uint8Array(0);
  constructor(readonly name: string) {}
  async getFile(): Promise<File> {
    return new File([this.data], this.name);
  }
  async createWritable() {
    const parts: Uint8Array[] = [];
    return {
      write: async (chunk: string | Uint8Array) => {
        parts.push(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk));
      },
      // Like the browser: nothing is visible until close (the swap file is committed).
      close: async () => {
        const total = parts.reduce((a, p) => a + p.byteLength, 0);
        const out = new Uint8Array(total);
        let at = 0;
        for (const p of parts) {
          out.set(p, at);
          at += p.byteLength;
        }
        this.data = out;
      },
      abort: async () => {
        parts.length = 0;
      },
    };
  }
}

export class FakeDirectory {
  readonly kind = 'directory';
  readonly children = new Map<string, Node>();
  constructor(readonly name: string) {}

  async getDirectoryHandle(name: string, options: { create?: boolean } = {}): Promise<FakeDirectory> {
    const found = this.children.get(name);
    if (found instanceof FakeDirectory) return found;
    if (found) throw typeMismatch(name);
    if (!options.create) throw notFound(name);
    const dir = new FakeDirectory(name);
    this.children.set(name, dir);
    return dir;
  }

  async getFileHandle(name: string, options: { create?: boolean } = {}): Promise<FakeFile> {
    const found = this.children.get(name);
    if (found instanceof FakeFile) return found;
    if (found) throw typeMismatch(name);
    if (!options.create) throw notFound(name);
    const file = new FakeFile(name);
    this.children.set(name, file);
    return file;
  }

  async removeEntry(name: string, options: { recursive?: boolean } = {}): Promise<void> {
    const found = this.children.get(name);
    if (!found) throw notFound(name);
    if (found instanceof FakeDirectory && found.children.size > 0 && !options.recursive) throw new Error(`${name} is not empty`);
    this.children.delete(name);
  }

  async *values(): AsyncGenerator<Node> {
    yield* [...this.children.values()];
  }

  async *keys(): AsyncGenerator<string> {
    yield* [...this.children.keys()];
  }

  /** Test helper: every file path under this folder. */
  paths(prefix = ''): string[] {
    const out: string[] = [];
    for (const [name, node] of this.children) {
      if (node instanceof FakeDirectory) out.push(...node.paths(`${prefix}${name}/`));
      else out.push(prefix + name);
    }
    return out.sort();
  }
}

export function fakeRoot(): { root: FakeDirectory; provider: () => Promise<FileSystemDirectoryHandle> } {
  const root = new FakeDirectory('');
  return { root, provider: async () => root as unknown as FileSystemDirectoryHandle };
}
