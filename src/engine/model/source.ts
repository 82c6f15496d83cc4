// A model is a folder of named files. A ModelSource reads them from wherever they are: files held
// in memory, a browser FileList (a dropped or picked folder), a URL prefix, or (source-node.ts) a
// directory on disk. Paths are relative and '/'-separated ("onnx/model.onnx"). Large files can be
// read by byte range, so external weight data need not be held twice.

import { ModelLoadError, type ModelErrorCode } from './errors.js';

export interface ModelSource {
  /** For messages: a folder path, a URL, "3 dropped files". */
  readonly label: string;
  /** Every file path, when the source can list its files; undefined when it cannot (URLs). */
  list(): Promise<string[] | undefined>;
  /** Size in bytes, or undefined when there is no such file. */
  size(path: string): Promise<number | undefined>;
  /** The whole file, or undefined when there is no such file. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** Bytes [offset, offset + length), fewer at the end of the file; undefined when no such file. */
  readRange(path: string, offset: number, length: number): Promise<Uint8Array | undefined>;
}

/**
 * "a/./b.onnx" → "a/b.onnx". Returns null for paths that leave the folder ("../x", "/etc/x"):
 * an external-data location inside a model file must not reach outside the model.
 */
export function normalizePath(path: string): string | null {
  const p = path.replace(/\\/g, '/');
  if (p.startsWith('/') || /^[a-zA-Z]:\//.test(p)) return null;
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return null;
    out.push(part);
  }
  return out.length ? out.join('/') : null;
}

/** The folder of a path inside the model ("onnx/model.onnx" → "onnx", "model.onnx" → ""). */
export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Joins a folder and a relative path; null when the result leaves the model folder. */
export function joinPath(dir: string, rel: string): string | null {
  return normalizePath(dir ? `${dir}/${rel}` : rel);
}

const textEncoder = new TextEncoder();

/** Files held in memory (tests, or files already fetched). Strings are stored as UTF-8. */
export function memorySource(files: Record<string, Uint8Array | string> | Map<string, Uint8Array | string>, label = 'memory'): ModelSource {
  const map = new Map<string, Uint8Array>();
  for (const [k, v] of files instanceof Map ? files : Object.entries(files)) {
    const key = normalizePath(k);
    if (key) map.set(key, typeof v === 'string' ? textEncoder.encode(v) : v);
  }
  return {
    label,
    list: async () => [...map.keys()],
    size: async (p) => map.get(normalizePath(p) ?? '')?.byteLength,
    read: async (p) => map.get(normalizePath(p) ?? ''),
    readRange: async (p, offset, length) => map.get(normalizePath(p) ?? '')?.subarray(offset, offset + length),
  };
}

/** The shape of a browser File this module needs (so it type-checks without DOM in Node too). */
export interface FileLike {
  readonly name: string;
  readonly size: number;
  readonly webkitRelativePath?: string;
  arrayBuffer(): Promise<ArrayBuffer>;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/**
 * Files the user picked or dropped. A picked folder gives paths like "my-model/onnx/model.onnx"
 * (webkitRelativePath); the common top folder is stripped so paths are relative to the model.
 */
export function fileListSource(files: Iterable<FileLike>, label?: string): ModelSource {
  const list = [...files];
  const paths = list.map((f) => normalizePath(f.webkitRelativePath || f.name) ?? f.name);
  const tops = new Set(paths.map((p) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '')));
  const strip = tops.size === 1 && !tops.has('') ? [...tops][0]!.length + 1 : 0;
  const map = new Map<string, FileLike>();
  list.forEach((f, i) => map.set(paths[i]!.slice(strip), f));
  const get = (p: string) => map.get(normalizePath(p) ?? '');
  return {
    label: label ?? (strip ? paths[0]!.slice(0, strip - 1) : `${list.length} files`),
    list: async () => [...map.keys()],
    size: async (p) => get(p)?.size,
    read: async (p) => {
      const f = get(p);
      return f ? new Uint8Array(await f.arrayBuffer()) : undefined;
    },
    readRange: async (p, offset, length) => {
      const f = get(p);
      return f ? new Uint8Array(await f.slice(offset, offset + length).arrayBuffer()) : undefined;
    },
  };
}

export interface UrlSourceOptions {
  /** The files the model has, when known (a Hub file listing); without it nothing is listed. */
  files?: string[];
  fetch?: typeof fetch;
}

/**
 * Files under a URL prefix ("https://host/models/x/" or "/models/x/"). Sizes come from HEAD,
 * ranges from HTTP Range requests (a server that ignores Range is handled by slicing).
 */
export function urlSource(baseUrl: string, options: UrlSourceOptions = {}): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const url = (p: string) => {
    const n = normalizePath(p);
    if (!n) throw new Error(`model path "${p}" leaves the model folder`);
    return base + n.split('/').map(encodeURIComponent).join('/');
  };
  const missing = (r: Response) => r.status === 404 || r.status === 410;
  const check = (r: Response, p: string) => {
    if (!r.ok) throw new Error(`${url(p)}: HTTP ${r.status} ${r.statusText}`);
  };
  return {
    label: base,
    list: async () => options.files?.slice(),
    size: async (p) => {
      const r = await doFetch(url(p), { method: 'HEAD' });
      if (missing(r)) return undefined;
      check(r, p);
      const len = r.headers.get('content-length');
      if (len !== null) return Number(len);
      // No length on HEAD (some dev servers): fetch and measure.
      const g = await doFetch(url(p));
      check(g, p);
      return (await g.arrayBuffer()).byteLength;
    },
    read: async (p) => {
      const r = await doFetch(url(p));
      if (missing(r)) return undefined;
      check(r, p);
      return new Uint8Array(await r.arrayBuffer());
    },
    readRange: async (p, offset, length) => {
      if (length <= 0) return new Uint8Array(0);
      const r = await doFetch(url(p), { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      if (missing(r)) return undefined;
      check(r, p);
      const bytes = new Uint8Array(await r.arrayBuffer());
      return r.status === 206 ? bytes : bytes.subarray(offset, offset + length);
    },
  };
}

/** Reads and parses a JSON file; undefined when absent; a ModelLoadError when it is not JSON. */
export async function readJson(source: ModelSource, path: string, code: ModelErrorCode = 'config-invalid'): Promise<Record<string, unknown> | undefined> {
  const bytes = await source.read(path);
  if (!bytes) return undefined;
  const text = new TextDecoder().decode(bytes);
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ModelLoadError(code, `${path} in ${source.label}: not a valid JSON object (${(e as Error).message})`, { file: path });
  }
}
