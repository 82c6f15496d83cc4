// Where the studio may fetch from, in one place: the Content-Security-Policy (vite.config.ts)
// and the model URL loader (src/worker/model-url.ts) both read it. The app fetches its own files;
// a model URL the user types may also point at the Hugging Face Hub (and the CDN hosts it
// redirects downloads to) or at a server on this machine. No other origin is reachable.

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

/** Whether the policy lets a model be fetched from `url` (`self` is the app's own origin). */
export function isAllowedModelUrl(url: URL, self: string): boolean {
  if (url.origin === self) return true;
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname);
  return url.protocol === 'https:' && HUB_HOST.test(url.hostname);
}
