// A local stand-in for the Hugging Face Hub: the endpoints @huggingface/hub 2.17.5 calls for what
// src/hub/client.ts does, with the request and response shapes that library sends and reads
// (node_modules/@huggingface/hub: list-files, file-download-info + download-file, create-repo,
// commit), on 127.0.0.1 only. Nothing in the tests reaches the internet.
//
//   GET  /api/{models|datasets}/{ns}/{name}/tree/{rev}?recursive=true&expand=false
//        → 200 [{type: "file", oid, size, path, lfs?: {oid, size, pointerSize}}]
//   GET  /{ns}/{name}/resolve/{rev}/{path}, /datasets/{ns}/{name}/resolve/{rev}/{path}
//        Range: bytes=a-b → 206 with Content-Range "bytes a-b/size" and ETag; no Range → 200
//        missing file → 404, X-Error-Code: EntryNotFound
//   POST /api/repos/create {name, organization, type, visibility?} → 200 {url, name} | 409
//   POST /api/{types}/{repo}/preupload/{rev} {files: [{path, size, sample}]}
//        → {files: [{path, uploadMode: "lfs" | "regular", shouldIgnore: false}]}
//   POST /{datasets/}{repo}.git/info/lfs/objects/batch {operation: "upload", transfers, objects}
//        → {transfer: "basic", objects: [{oid, size, actions?: {upload: {href}}}]} (no actions: stored)
//   PUT  /lfs-upload/{oid} (the href above) → 200 when the body's sha256 is the oid
//   POST /api/{types}/{repo}/commit/{rev}  application/x-ndjson: {key: "header", value: {summary}},
//        then {key: "file", value: {path, content (base64), encoding}} or
//        {key: "lfsFile", value: {path, algo: "sha256", size, oid}} → {commitOid, commitUrl}
//        The commit is applied whole or not at all; LFS objects it names must have been uploaded.
// Errors as the Hub sends them: JSON {error} with 401 (a bad token; or a write without one), 404
// (no such repository or revision; a private one without a token that can read it), 409.
// `interrupt` drops the connection of the next matching request halfway (a push cut off).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface HubRepo {
  type: 'model' | 'dataset';
  id: string;
  private: boolean;
  /** Commits on main, oldest first: each a full snapshot. */
  commits: { oid: string; title: string; files: Map<string, Uint8Array> }[];
  /** Other revisions (branches, tags) → their files. */
  refs: Map<string, Map<string, Uint8Array>>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Whether an Authorization header came with it (never its value). */
  auth: boolean;
}

export interface HubServer {
  url: string;
  repos: Map<string, HubRepo>;
  requests: RecordedRequest[];
  /** Tokens that may read private repositories and write. */
  tokens: Set<string>;
  addRepo(type: HubRepo['type'], id: string, files: Record<string, Uint8Array | string>, o?: { private?: boolean; refs?: Record<string, Record<string, Uint8Array | string>> }): HubRepo;
  /** The files at main (or null when there is no such repo). */
  files(type: HubRepo['type'], id: string): Map<string, Uint8Array> | null;
  /** Drops the connection of the next request whose method and path match, after reading half its body. */
  interrupt(method: string, path: RegExp): void;
  close(): Promise<void>;
}

const key = (type: string, id: string) => `${type}:${id}`;
const bytes = (v: Uint8Array | string) => (typeof v === 'string' ? new TextEncoder().encode(v) : v);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const isLfs = (path: string, size: number) => /\.(safetensors|parquet|onnx|onnx_data|bin|gguf)$/.test(path) || size > 10 * 1024 * 1024;

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

export async function startHubServer(): Promise<HubServer> {
  const repos = new Map<string, HubRepo>();
  const lfs = new Map<string, Uint8Array>();
  const requests: RecordedRequest[] = [];
  const tokens = new Set<string>();
  const interrupts: { method: string; path: RegExp }[] = [];
  let url = '';

  const bearer = (req: IncomingMessage) => /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  /** undefined: no token; true: a valid one; false: a bad one (→ 401). */
  const authOf = (req: IncomingMessage) => {
    const t = bearer(req);
    return t === undefined ? undefined : tokens.has(t);
  };
  const newCommit = (repo: HubRepo, title: string, files: Map<string, Uint8Array>) => {
    const oid = randomBytes(20).toString('hex');
    repo.commits.push({ oid, title, files });
    return oid;
  };
  const snapshot = (repo: HubRepo, rev: string) => {
    if (rev === 'main') return repo.commits.at(-1)!.files;
    const byRef = repo.refs.get(rev);
    if (byRef) return byRef;
    return repo.commits.find((c) => c.oid === rev)?.files ?? null;
  };
  /** The repo for a read, or an error response sent. */
  const readable = (req: IncomingMessage, res: ServerResponse, type: string, id: string): HubRepo | null => {
    const auth = authOf(req);
    if (auth === false) {
      json(res, 401, { error: 'Invalid credentials in Authorization header' });
      return null;
    }
    const repo = repos.get(key(type, id));
    if (!repo || (repo.private && !auth)) {
      json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return null;
    }
    return repo;
  };
  /** The repo for a write, or an error response sent. */
  const writable = (req: IncomingMessage, res: ServerResponse, type: string, id: string): HubRepo | null => {
    if (authOf(req) !== true) {
      json(res, 401, { error: 'Invalid credentials in Authorization header' });
      return null;
    }
    const repo = repos.get(key(type, id));
    if (!repo) {
      json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return null;
    }
    return repo;
  };

  const server = createServer(async (req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(u.pathname);
    const method = req.method ?? 'GET';
    requests.push({ method, path, auth: !!req.headers.authorization });
    const cut = interrupts.findIndex((i) => i.method === method && i.path.test(path));
    if (cut >= 0) {
      interrupts.splice(cut, 1);
      // Read part of the body, then drop the connection: the client sees a network error.
      req.once('data', () => req.socket.destroy());
      req.once('end', () => req.socket.destroy());
      return;
    }
    try {
      let m: RegExpExecArray | null;
      if (method === 'GET' && (m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(path))) {
        const type = m[1] === 'models' ? 'model' : 'dataset';
        const repo = readable(req, res, type, m[2]!);
        if (!repo) return;
        const files = snapshot(repo, m[3]!);
        if (!files) return json(res, 404, { error: `Invalid rev id: ${m[3]}` }, { 'X-Error-Code': 'RevisionNotFound' });
        const under = m[4] ? `${m[4]}/` : '';
        const out = [...files].filter(([p]) => p.startsWith(under)).map(([p, b]) => {
          const oid = sha256(b);
          return { type: 'file', oid: oid.slice(0, 40), size: b.byteLength, path: p, ...(isLfs(p, b.byteLength) ? { lfs: { oid, size: b.byteLength, pointerSize: 134 } } : {}) };
        });
        return json(res, 200, out);
      }
      if ((method === 'GET' || method === 'HEAD') && (m = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path))) {
        const repo = readable(req, res, m[1] ? 'dataset' : 'model', m[2]!);
        if (!repo) return;
        const files = snapshot(repo, m[3]!);
        if (!files) return json(res, 404, { error: `Invalid rev id: ${m[3]}` }, { 'X-Error-Code': 'RevisionNotFound' });
        const file = files.get(m[4]!);
        if (!file) return json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
        const etag = `"${sha256(file)}"`;
        const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
        if (range) {
          const start = Number(range[1]);
          const end = Math.min(range[2] ? Number(range[2]) : file.byteLength - 1, file.byteLength - 1);
          res.writeHead(206, { 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${start}-${end}/${file.byteLength}`, 'Content-Length': String(end - start + 1), ETag: etag, 'Accept-Ranges': 'bytes' });
          return res.end(method === 'HEAD' ? undefined : Buffer.from(file.subarray(start, end + 1)));
        }
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(file.byteLength), ETag: etag, 'Accept-Ranges': 'bytes' });
        return res.end(method === 'HEAD' ? undefined : Buffer.from(file));
      }
      if (method === 'POST' && path === '/api/repos/create') {
        const b = JSON.parse((await body(req)).toString()) as { name: string; organization?: string; type?: string; visibility?: string; private?: boolean };
        if (authOf(req) !== true) return json(res, 401, { error: 'Invalid credentials in Authorization header' });
        const type = b.type === 'dataset' ? 'dataset' : 'model';
        const id = `${b.organization}/${b.name}`;
        if (repos.has(key(type, id))) return json(res, 409, { error: 'You already created this model repo', url: `${url}/${id}` });
        const repo: HubRepo = { type, id, private: b.visibility === 'private' || b.private === true, commits: [], refs: new Map() };
        newCommit(repo, 'initial commit', new Map([['.gitattributes', bytes('*.safetensors filter=lfs diff=lfs merge=lfs -text\n')]]));
        repos.set(key(type, id), repo);
        return json(res, 200, { url: `${url}/${type === 'dataset' ? 'datasets/' : ''}${id}`, name: id });
      }
      if (method === 'POST' && (m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/.exec(path))) {
        const b = JSON.parse((await body(req)).toString()) as { files: { path: string; size: number; sample: string }[] };
        if (!writable(req, res, m[1] === 'models' ? 'model' : 'dataset', m[2]!)) return;
        return json(res, 200, { files: b.files.map((f) => ({ path: f.path, uploadMode: isLfs(f.path, f.size) ? 'lfs' : 'regular', shouldIgnore: false })) });
      }
      if (method === 'POST' && (m = /^\/(datasets\/)?([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(path))) {
        const b = JSON.parse((await body(req)).toString()) as { operation: string; objects: { oid: string; size: number }[] };
        if (!writable(req, res, m[1] ? 'dataset' : 'model', m[2]!)) return;
        return json(res, 200, {
          transfer: 'basic',
          objects: b.objects.map((o) => (lfs.has(o.oid) ? { oid: o.oid, size: o.size } : { oid: o.oid, size: o.size, actions: { upload: { href: `${url}/lfs-upload/${o.oid}` } } })),
        }, { 'Content-Type': 'application/vnd.git-lfs+json' });
      }
      if (method === 'PUT' && (m = /^\/lfs-upload\/([0-9a-f]{64})$/.exec(path))) {
        const b = new Uint8Array(await body(req));
        if (sha256(b) !== m[1]) return json(res, 400, { error: 'sha256 mismatch' });
        lfs.set(m[1]!, b);
        res.writeHead(200);
        return res.end();
      }
      if (method === 'POST' && (m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/commit\/([^/]+)$/.exec(path))) {
        const lines = (await body(req)).toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; value: Record<string, unknown> });
        const repo = writable(req, res, m[1] === 'models' ? 'model' : 'dataset', m[2]!);
        if (!repo) return;
        const header = lines.find((l) => l.key === 'header');
        const files = new Map(repo.commits.at(-1)!.files);
        for (const l of lines) {
          if (l.key === 'file') files.set(String(l.value.path), new Uint8Array(Buffer.from(String(l.value.content), 'base64')));
          else if (l.key === 'lfsFile') {
            const blob = lfs.get(String(l.value.oid));
            if (!blob) return json(res, 422, { error: `LFS object ${String(l.value.oid)} of ${String(l.value.path)} was never uploaded` });
            files.set(String(l.value.path), blob);
          } else if (l.key === 'deletedFile') files.delete(String(l.value.path));
        }
        const oid = newCommit(repo, String(header?.value.summary ?? ''), files);
        return json(res, 200, { commitOid: oid, commitUrl: `${url}/${repo.type === 'dataset' ? 'datasets/' : ''}${repo.id}/commit/${oid}`, hookOutput: '' });
      }
      json(res, 404, { error: `the test Hub has no ${method} ${path}` });
    } catch (e) {
      json(res, 500, { error: String(e) });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  return {
    url,
    repos,
    requests,
    tokens,
    addRepo(type, id, files, o = {}) {
      const repo: HubRepo = { type, id, private: !!o.private, commits: [], refs: new Map() };
      newCommit(repo, 'initial commit', new Map(Object.entries(files).map(([p, v]) => [p, bytes(v)])));
      for (const [name, refFiles] of Object.entries(o.refs ?? {})) repo.refs.set(name, new Map(Object.entries(refFiles).map(([p, v]) => [p, bytes(v)])));
      repos.set(key(type, id), repo);
      return repo;
    },
    files(type, id) {
      return repos.get(key(type, id))?.commits.at(-1)?.files ?? null;
    },
    interrupt(method, path) {
      interrupts.push({ method, path });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
