// The Hugging Face Hub, both ways, through @huggingface/hub (never hand-written HTTP): list a
// repository's files, download them (a preference dataset to import, a model's files to keep),
// and push files in one commit (an adapter with its model card, a labelled dataset).
// Framework-free: the page's services, the Workers and Node use it alike; `hubUrl` and `fetch`
// point it at a local server in the tests (test/hub/hub-server.ts).
//
// - Network policy (src/net-policy.ts): only the Hub's hosts, or a server on this machine (a
//   local mirror, the tests), are ever asked; anything else is refused before a request.
// - Commit semantics: pushFiles makes one commit with every file (the library uploads large
//   files to LFS/Xet storage first, then commits them all in one request); a push interrupted
//   before that commit leaves the repository as it was, and pushing again succeeds.
// - The token (a user's, pasted) goes only into the Authorization header of these requests: it is
//   never put in an error message, a log or a file (hubError scrubs it from messages too).
// - Errors come out as HubError with one clear message: 401 (the token), 403, 404 (the repo, the
//   revision or the file), unreachable server.

import { commit, createRepo, downloadFile, listFiles, type CommitOperation, type ListFileEntry, type RepoDesignation } from '@huggingface/hub';
import { isAllowedHubUrl } from '../net-policy.js';

export const HUB_URL = 'https://huggingface.co';

export type HubRepoType = 'model' | 'dataset';

export interface HubOptions {
  /** The Hub's address (default https://huggingface.co; a loopback server in the tests). */
  hubUrl?: string;
  fetch?: typeof fetch;
  /** A user access token (hf_...): only for private repositories and pushes. */
  accessToken?: string;
  signal?: AbortSignal;
}

export type HubErrorKind = 'auth' | 'forbidden' | 'not-found' | 'network' | 'policy' | 'no-files' | 'bad-input' | 'other';

export class HubError extends Error {
  constructor(
    readonly kind: HubErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

export const isHubError = (e: unknown): e is HubError => e instanceof HubError;

function hubUrlOf(o: HubOptions): string {
  const url = (o.hubUrl ?? HUB_URL).replace(/\/$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HubError('policy', `"${url}" is not a Hub address`);
  }
  if (!isAllowedHubUrl(parsed)) throw new HubError('policy', `${parsed.host}: PrefStudio talks only to the Hugging Face Hub (huggingface.co) or a server on this machine, so that no data can leave for other hosts`);
  return url;
}

/** A fetch that refuses hosts outside the network policy (redirect targets included) and honours `signal`. */
function policyFetch(o: HubOptions): typeof fetch {
  const base = o.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  return async (input, init) => {
    const url = new URL(String(input instanceof Request ? input.url : input));
    if (!isAllowedHubUrl(url)) throw new HubError('policy', `${url.host}: PrefStudio talks only to the Hugging Face Hub or a server on this machine; this request was not sent`);
    o.signal?.throwIfAborted();
    const signal = o.signal && init?.signal ? AbortSignal.any([o.signal, init.signal]) : (o.signal ?? init?.signal ?? undefined);
    return base(input, { ...init, signal });
  };
}

/** `what` failed: one clear message for the HTTP status, never the token. */
export function hubError(e: unknown, what: string, o: Pick<HubOptions, 'accessToken'> = {}): HubError {
  if (e instanceof HubError) return e;
  const scrub = (s: string) => (o.accessToken ? s.split(o.accessToken).join('hf_***') : s);
  const err = e as { statusCode?: number; name?: string; message?: string };
  const status = typeof err.statusCode === 'number' ? err.statusCode : undefined;
  if (err.name === 'AbortError') return new HubError('other', `${what}: cancelled`);
  if (/access token must start with 'hf_'/.test(String(err.message))) return new HubError('auth', `${what}: that is not a Hugging Face access token (they start with hf_); copy one from huggingface.co → Settings → Access Tokens`);
  if (status === 401) return new HubError('auth', `${what}: the Hub refused the access token (401). Paste a valid token (hf_..., with write access to push), or none for a public repository`, 401);
  if (status === 403) return new HubError('forbidden', `${what}: the token may not do this (403). A push needs a token with write access to that namespace; a gated repository needs its terms accepted on the Hub`, 403);
  if (status === 404) return new HubError('not-found', `${what}: not found on the Hub (404). Check the repository id, the revision and the file; a private repository also answers 404 without a token that can read it`, 404);
  if (status !== undefined) return new HubError('other', `${what}: the Hub answered ${status} (${scrub(String(err.message ?? '')).slice(0, 300)})`, status);
  if (err instanceof TypeError || /fetch failed|network|ECONNREFUSED|ECONNRESET|socket/i.test(String(err.message))) {
    return new HubError('network', `${what}: could not reach the Hub (${scrub(String(err.message ?? e))}). Check the connection and try again`);
  }
  return new HubError('other', `${what}: ${scrub(String(err.message ?? e))}`);
}

function repoOf(id: string, type: HubRepoType): RepoDesignation {
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/.test(id)) throw new HubError('bad-input', `"${id}" is not a Hub repository id (namespace/name)`);
  return { type, name: id };
}

const label = (id: string, type: HubRepoType, revision?: string) => `${type === 'dataset' ? 'dataset ' : ''}${id}${revision && revision !== 'main' ? `@${revision}` : ''}`;

/** Every file of a repository at a revision. */
export async function listRepoFiles(id: string, type: HubRepoType, o: HubOptions & { revision?: string } = {}): Promise<ListFileEntry[]> {
  const what = `listing ${label(id, type, o.revision)}`;
  try {
    const out: ListFileEntry[] = [];
    for await (const f of listFiles({ repo: repoOf(id, type), revision: o.revision, recursive: true, hubUrl: hubUrlOf(o), fetch: policyFetch(o), accessToken: o.accessToken })) {
      if (f.type === 'file') out.push(f);
    }
    return out;
  } catch (e) {
    throw hubError(e, what, o);
  }
}

/** One file's bytes. */
export async function downloadRepoFile(id: string, type: HubRepoType, path: string, o: HubOptions & { revision?: string } = {}): Promise<Blob> {
  const what = `downloading ${path} from ${label(id, type, o.revision)}`;
  try {
    const blob = await downloadFile({ repo: repoOf(id, type), path, revision: o.revision, hubUrl: hubUrlOf(o), fetch: policyFetch(o), accessToken: o.accessToken });
    if (!blob) throw new HubError('not-found', `${what}: no such file (404)`, 404);
    // Read now, so that errors surface here (the library's Blob is lazy).
    return new Blob([await blob.arrayBuffer()]);
  } catch (e) {
    throw hubError(e, what, o);
  }
}

// ---- preference datasets ----

/** Files the importer reads (src/data/import): Parquet and JSON lines (and JSON), gzipped or not. */
export const DATASET_FILE = /\.(parquet|jsonl|ndjson|json)(\.gz)?$/i;

/** The split a dataset file belongs to, by the Hub's naming conventions (data/train-0000.parquet, test.jsonl, validation/...). */
export function splitOfPath(path: string): string {
  const parts = path.toLowerCase().split('/');
  const name = parts.at(-1)!.replace(DATASET_FILE, '');
  for (const [split, words] of [['train', ['train', 'training']], ['test', ['test', 'testing', 'eval', 'evaluation']], ['validation', ['validation', 'valid', 'val', 'dev']]] as const) {
    if (parts.slice(0, -1).some((p) => (words as readonly string[]).includes(p))) return split;
    if ((words as readonly string[]).some((w) => name === w || name.startsWith(`${w}-`) || name.startsWith(`${w}_`) || name.startsWith(`${w}.`))) return split;
  }
  return 'train';
}

export interface DatasetSplitFiles {
  split: string;
  files: { path: string; size: number }[];
}

/**
 * The importable files of a dataset repository by split. None: a HubError('no-files') that
 * lists what the repository holds.
 */
export function datasetSplits(entries: readonly ListFileEntry[], repo: string): DatasetSplitFiles[] {
  const bySplit = new Map<string, { path: string; size: number }[]>();
  for (const e of entries) {
    if (!DATASET_FILE.test(e.path) || /(^|\/)\.|dataset_infos?\.json$|README/i.test(e.path)) continue;
    const split = splitOfPath(e.path);
    bySplit.set(split, [...(bySplit.get(split) ?? []), { path: e.path, size: e.size }]);
  }
  if (bySplit.size === 0) {
    const found = entries.map((e) => e.path);
    throw new HubError('no-files', `dataset ${repo} has no Parquet or JSON lines file to import; it holds ${found.length ? `${found.length} file${found.length > 1 ? 's' : ''}: ${found.slice(0, 20).join(', ')}${found.length > 20 ? ', ...' : ''}` : 'no files'}`);
  }
  return [...bySplit].map(([split, files]) => ({ split, files: files.sort((a, b) => a.path.localeCompare(b.path)) }));
}

/** The files of one split of a dataset repository (default: train), downloaded, with their paths. */
export async function downloadDatasetSplit(id: string, o: HubOptions & { revision?: string; split?: string; onFile?: (path: string, i: number, n: number) => void } = {}): Promise<{ split: string; files: { path: string; blob: Blob }[] }> {
  const splits = datasetSplits(await listRepoFiles(id, 'dataset', o), id);
  const want = o.split ?? (splits.some((s) => s.split === 'train') ? 'train' : splits[0]!.split);
  const chosen = splits.find((s) => s.split === want);
  if (!chosen) throw new HubError('no-files', `dataset ${id} has no split "${want}" (it has ${splits.map((s) => s.split).join(', ')})`);
  const files: { path: string; blob: Blob }[] = [];
  for (const [i, f] of chosen.files.entries()) {
    o.onFile?.(f.path, i, chosen.files.length);
    files.push({ path: f.path, blob: await downloadRepoFile(id, 'dataset', f.path, o) });
  }
  return { split: want, files };
}

// ---- models ----

/** Files a model folder needs (src/engine/model/layout.ts reads these). */
export const MODEL_FILE = /(\.onnx|\.onnx_data|\.onnx\.data|\.data|config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|generation_config\.json|genai_config\.json|chat_template\.jinja)$/;

/**
 * Downloads a model repository's files (optionally under `subfolder`), skipping those `have`
 * says are already stored with their size (so a download cut by a reload resumes where it
 * stopped), reporting bytes as each file lands.
 */
export async function downloadModelFiles(
  id: string,
  o: HubOptions & {
    revision?: string;
    have?: (path: string, size: number) => Promise<boolean> | boolean;
    save: (path: string, blob: Blob) => Promise<void>;
    onProgress?: (p: { path: string; loaded: number; total: number }) => void;
    /** Of a repo's .onnx variants (model.onnx, onnx/model_fp16.onnx, ...), the one to fetch with its external data; default: all. `sizes`: the listed files' bytes by path (external data included). */
    pick?: (onnxFiles: string[], sizes: ReadonlyMap<string, number>) => string | Promise<string>;
  },
): Promise<{ files: string[]; skipped: string[]; bytes: number }> {
  let entries = (await listRepoFiles(id, 'model', o)).filter((e) => MODEL_FILE.test(e.path));
  const onnxFiles = entries.filter((e) => e.path.endsWith('.onnx')).map((e) => e.path);
  if (onnxFiles.length === 0) {
    throw new HubError('no-files', `model ${id} has no .onnx file: PrefStudio runs ONNX models (an Optimum or transformers.js export, e.g. in its onnx/ folder)`);
  }
  if (o.pick) {
    // One variant: its .onnx, its external data (<file>_data, <file>.data, chunks after them) and the other files.
    const chosen = await o.pick(onnxFiles, new Map(entries.map((e) => [e.path, e.size])));
    const isData = (p: string) => /(\.onnx_data|\.onnx\.data|\.data)(_\d+)?$/.test(p);
    entries = entries.filter((e) => e.path === chosen || (isData(e.path) ? e.path.startsWith(`${chosen}_data`) || e.path.startsWith(`${chosen}.data`) : !e.path.endsWith('.onnx')));
  }
  const total = entries.reduce((s, e) => s + e.size, 0);
  let loaded = 0;
  const skipped: string[] = [];
  for (const e of entries) {
    if (await o.have?.(e.path, e.size)) {
      skipped.push(e.path);
    } else {
      const blob = await downloadRepoFile(id, 'model', e.path, o);
      if (blob.size !== e.size) throw new HubError('other', `downloading ${e.path} from ${id}: got ${blob.size} bytes, the Hub lists ${e.size}`);
      await o.save(e.path, blob);
    }
    loaded += e.size;
    o.onProgress?.({ path: e.path, loaded, total });
  }
  return { files: entries.map((e) => e.path), skipped, bytes: total };
}

// ---- pushes ----

export interface PushResult {
  commit: string;
  url: string;
  created: boolean;
}

/**
 * Pushes `files` to a repository in one commit (created first when it does not exist). Either
 * every file lands in that commit or none does.
 */
export async function pushFiles(id: string, type: HubRepoType, files: Record<string, Uint8Array | string>, o: HubOptions & { title: string; private?: boolean; onProgress?: (phase: string) => void }): Promise<PushResult> {
  if (!o.accessToken) throw new HubError('auth', `pushing to ${label(id, type)}: paste an access token with write access first`);
  if (!id.includes('/')) throw new HubError('bad-input', `pushing to "${id}": give the repository as namespace/name (your user or organization name, then the repository)`);
  const repo = repoOf(id, type);
  const hubUrl = hubUrlOf(o);
  const f = policyFetch(o);
  let created = false;
  try {
    await createRepo({ repo, private: o.private ?? true, hubUrl, fetch: f, accessToken: o.accessToken });
    created = true;
  } catch (e) {
    // 409: it exists already, which is fine.
    if ((e as { statusCode?: number }).statusCode !== 409) throw hubError(e, `creating ${label(id, type)}`, o);
  }
  const operations: CommitOperation[] = Object.entries(files).map(([path, content]) => ({
    operation: 'addOrUpdate',
    path,
    content: new Blob([typeof content === 'string' ? new TextEncoder().encode(content) : (content as Uint8Array<ArrayBuffer>)]),
  }));
  try {
    o.onProgress?.('uploading');
    const out = await commit({ repo, operations, title: o.title, hubUrl, fetch: f, accessToken: o.accessToken, abortSignal: o.signal });
    if (!out) throw new HubError('other', `pushing to ${label(id, type)}: the Hub made no commit`);
    return { commit: out.commit.oid, url: out.commit.url, created };
  } catch (e) {
    throw hubError(e, `pushing to ${label(id, type)} (nothing was committed)`, o);
  }
}
