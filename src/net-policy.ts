// Where the studio may fetch from, in one place: the Content-Security-Policy (vite.config.ts),
// the model URL loader (src/worker/model-url.ts) and the Hub client (src/hub/client.ts) read it.
// The app fetches its own files; a model URL the user types may also point at the Hugging Face
// Hub or at a server on this machine. No other origin is reachable.
//
// The Hub client's calls need exactly these hosts: huggingface.co (its API: tree listing,
// resolve, repos/create, preupload, the LFS batch endpoint, commit), the CDN / storage hosts
// downloads redirect to (cdn-lfs*.huggingface.co, cas-bridge.xethub.hf.co), and Xet storage for
// uploads (cas-server.xethub.hf.co, transfer.xethub.hf.co): *.huggingface.co and *.hf.co. A
// repository that the Hub still answers with plain LFS to S3 (no Xet) cannot be pushed to from
// the page: its upload host is not allowed.

/** connect-src sources beyond 'self' for user-requested model downloads. */
export const MODEL_URL_SOURCES = [
  'https://huggingface.co',
  'https://*.huggingface.co',
  'https://hf.co',
  'https://*.hf.co',
  'http://localhost:*',
  'http://127.0.0.1:*',
] as const;

const HUB_HOST = /^(?:.+\.)?(?:huggingface\.co|hf\.co)$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1']);

/** Whether the Hub client may send a request to `url`: the Hub's hosts over https, or loopback. */
export function isAllowedHubUrl(url: URL): boolean {
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname);
  return url.protocol === 'https:' && HUB_HOST.test(url.hostname);
}

/** Whether the policy lets a model be fetched from `url` (`self` is the app's own origin). */
export function isAllowedModelUrl(url: URL, self: string): boolean {
  if (url.origin === self) return true;
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname);
  return url.protocol === 'https:' && HUB_HOST.test(url.hostname);
}
