// A model folder on a web server, from the URL the user typed. Hugging Face Hub repositories keep
// files at `<repo>/resolve/<revision>/<file>`; plain servers at `<folder>/<file>`. Pasted Hub
// page URLs (`/tree/main`, `/blob/main/config.json`) are turned into their `resolve` form.
// Requests go out only for a URL the user gave, with no credentials, and count their bytes.
import { ModelLoadError } from '../engine/model/errors.js';
import { isHubRepoId } from '../hub-id.js';
import { isAllowedModelUrl } from '../net-policy.js';
import { WorkerTaskError } from './errors.js';
import { abortError } from './tasks.js';

const HUB_HOSTS = new Set(['huggingface.co', 'hf.co', 'www.huggingface.co']);
/** Names that say "a model lives here" (one is enough). */
const MARKERS = ['config.json', 'genai_config.json', 'model.onnx', 'onnx/model.onnx'];
const FILE_LIKE = /\.(json|onnx|onnx_data|data|jinja|txt|md)$/i;

/** A folder URL (ending in '/') that may hold the model, and the name the model gets from it. */
export interface ModelUrlCandidate {
  base: string;
  /** "org/repo" for a Hub layout, else the folder's name. */
  name: string;
}

/** Where the typed URL's files may be, in the order to try. Throws WorkerTaskError('bad-url'). */
export function modelUrlCandidates(input: string): ModelUrlCandidate[] {
  // A Hub repository id ("org/name") is that repository on huggingface.co.
  const id = input.trim();
  if (/^[^/:\s]+\/[^/:\s]+$/.test(id) && isHubRepoId(id)) input = `https://huggingface.co/${id}`;
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new WorkerTaskError('bad-url', `"${input}" is not a URL: give the full address, such as https://huggingface.co/org/model, or a Hub repository id (org/model)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WorkerTaskError('bad-url', `${url.protocol} URLs are not supported: give an http(s) address of a model folder`);
  }
  if (!isAllowedModelUrl(url, globalThis.location?.origin ?? '')) {
    throw new WorkerTaskError(
      'bad-url',
      `${url.host}: PrefStudio fetches models only from the Hugging Face Hub (huggingface.co) or a server on this machine (localhost), so that no data can leave for other hosts. Download the model folder and open it from disk instead`,
    );
  }
  url.search = '';
  url.hash = '';
  const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const at = (parts: string[]) => `${url.origin}/${parts.map(encodeURIComponent).join('/')}${parts.length ? '/' : ''}`;
  const repoName = (repo: string[]) => repo.slice(-2).join('/') || url.host;

  // <repo>/{resolve,tree,blob}/<revision>[/sub/folder][/file]
  const marker = segments.findIndex((s, i) => i > 0 && (s === 'resolve' || s === 'tree' || s === 'blob') && i + 1 < segments.length);
  if (marker > 0) {
    const repo = segments.slice(0, marker);
    let rest = segments.slice(marker + 2);
    if (rest.length && FILE_LIKE.test(rest.at(-1)!)) rest = rest.slice(0, -1);
    return [{ base: at([...repo, 'resolve', segments[marker + 1]!, ...rest]), name: repoName(repo) }];
  }
  if (segments.length && FILE_LIKE.test(segments.at(-1)!)) segments.pop();
  const hub = { base: at([...segments, 'resolve', 'main']), name: repoName(segments) };
  if (HUB_HOSTS.has(url.hostname)) return [hub];
  return [hub, { base: at(segments), name: segments.at(-1) ?? url.host }];
}

export interface MeteredFetchOptions {
  signal?: AbortSignal;
  /** Called with the bytes of each body chunk as it arrives. */
  onBytes?: (n: number) => void;
  fetch?: typeof fetch;
}

/**
 * fetch for urlSource: no credentials, aborted by `signal`, body bytes counted as they arrive.
 * A server that cannot be reached, or refuses (401/403: gated or private), is a clear error;
 * 404 is left to the caller (it means "no such file" while probing a layout).
 * The Worker fetches only URLs the user gave (or the bundled demo's); see vite.config.ts's CSP.
 */
export function meteredFetch(options: MeteredFetchOptions = {}): typeof fetch {
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    let response: Response;
    try {
      response = await doFetch(input, { ...init, credentials: 'omit', signal: options.signal });
    } catch (e) {
      if (options.signal?.aborted) throw abortError();
      throw new WorkerTaskError(
        'network',
        `could not reach ${url} (${(e as Error).message}). The server must be online, reachable from this page, and allow cross-origin requests (Access-Control-Allow-Origin)`,
        { url },
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new WorkerTaskError('http', `${url}: HTTP ${response.status}. The repository may be gated or private; PrefStudio sends no credentials, so download it and open the folder instead`, { url, status: response.status });
    }
    if (response.status >= 500) throw new WorkerTaskError('http', `${url}: HTTP ${response.status} ${response.statusText} from the server`, { url, status: response.status });
    // Single-page-app servers answer every unknown path with their index.html: no model file is
    // HTML, so that is "no such file".
    if (response.ok && /^text\/html\b/i.test(response.headers.get('content-type') ?? '')) {
      await response.body?.cancel().catch(() => {});
      return new Response(null, { status: 404, statusText: 'Not Found (the server sent an HTML page)' });
    }
    const onBytes = options.onBytes;
    if (!onBytes || !response.body || init?.method === 'HEAD') return response;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onBytes(chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** The first candidate folder that holds a model, by HEAD requests for a few marker files. */
export async function resolveModelUrl(input: string, doFetch: typeof fetch): Promise<{ base: string; name: string }> {
  const candidates = modelUrlCandidates(input);
  let refused: unknown = null;
  for (const { base, name } of candidates) {
    try {
      for (const file of MARKERS) {
        const r = await doFetch(base + file, { method: 'HEAD' });
        if (r.ok) return { base, name };
      }
    } catch (e) {
      // Some servers answer 403 for any missing path (S3): try the next candidate first.
      if (!(e instanceof WorkerTaskError && e.code === 'http')) throw e;
      refused ??= e;
    }
  }
  if (refused) throw refused;
  throw new ModelLoadError(
    'no-model-file',
    `no model found at ${input}: none of ${MARKERS.join(', ')} is at ${candidates.map((c) => c.base).join(' or ')}. Give the address of a folder laid out like a Hugging Face repository`,
    { tried: candidates.map((c) => c.base) },
  );
}
