// Vite: the studio app (index.html → src/main.tsx) and its engine Worker.
// Security: a strict Content-Security-Policy in the built page (meta tag) and on the preview
// server (header); cross-origin isolation so onnxruntime-web can use wasm threads.
// Static hosting: `npm run build` writes dist/ with relative URLs (base './'), so any static host
// serves it from any path (GitHub Pages' /<repo>/ included); routes are hash routes, so no
// server rewrite is needed. A service worker (vite-plugin-pwa, Workbox's generateSW) precaches
// the app shell, so after the first visit the studio opens and trains offline: models and data
// are in OPFS and IndexedDB already. It is registered by a small script file (registerSW.js),
// not inline, so the CSP's script-src 'self' holds. Headers a host may add (not needed):
// Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp give
// onnxruntime-web two wasm threads instead of one.
import { randomBytes } from 'node:crypto';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { VitePWA } from 'vite-plugin-pwa';
import { MODEL_URL_SOURCES } from './src/net-policy.js';

/** The production policy: nothing but our own origin, wasm compilation for onnxruntime-web. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  // onnxruntime-web may start its wasm threads from blob: URLs.
  "worker-src 'self' blob:",
  // blob:/data: for files the user opens (object URLs) and wasm fetched from them. The Hub and a
  // server on this machine (src/net-policy.ts) only for a model URL the user types
  // (src/worker/model-url.ts refuses any other host with a clear message), sent without
  // credentials. script-src stays 'self', so no injected script can use this.
  `connect-src 'self' blob: data: ${MODEL_URL_SOURCES.join(' ')}`,
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** SharedArrayBuffer (wasm threads) needs a cross-origin isolated page. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const HARDENING_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** Puts the policy into the built index.html right after <meta charset>, ahead of every script. */
function contentSecurityPolicyMeta(): Plugin {
  const tag = `<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}" />`;
  return {
    name: 'prefstudio:csp-meta',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(html) {
        const charset = /<meta\s+charset=[^>]*>/i;
        if (!charset.test(html)) throw new Error('index.html needs <meta charset> for the CSP meta to follow');
        return html.replace(charset, (meta) => `${meta}\n    ${tag}`);
      },
    },
  };
}

/**
 * onnxruntime-web starts its wasm threads as `new Worker(import.meta.url)`: the chunk holding it
 * must be onnxruntime-web alone, or each thread would also run our app code (and fail on
 * `document`). One chunk group, for the page and for Workers.
 */
const ORT_OWN_CHUNK = {
  output: { codeSplitting: { groups: [{ name: 'onnxruntime-web', test: /[\\/]node_modules[\\/]onnxruntime-web[\\/]/ }] } },
};

/**
 * The offline app shell: every file of the build (scripts, styles, wasm, the page), not the demo
 * model and dataset under models/ and datasets/ (the first visit stores those in OPFS and
 * IndexedDB). autoUpdate: a new build's worker takes over at once and drops the old caches.
 */
const SERVICE_WORKER = {
  registerType: 'autoUpdate',
  injectRegister: 'script',
  manifest: false,
  workbox: {
    globPatterns: ['**/*.{html,js,mjs,css,wasm,svg,png,ico,woff2}'],
    globIgnores: ['models/**', 'datasets/**'],
    // onnxruntime-web's wasm is ~25 MB.
    maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
    navigateFallback: 'index.html',
    cleanupOutdatedCaches: true,
    clientsClaim: true,
    skipWaiting: true,
  },
} satisfies Parameters<typeof VitePWA>[0];

export default defineConfig(({ command, isPreview }) => {
  // The dev server injects React refresh's inline preamble and <style> tags for CSS: instead of
  // 'unsafe-inline', Vite stamps them with a nonce (new each start) that the dev policy allows.
  const devNonce = command === 'serve' && !isPreview ? randomBytes(18).toString('base64') : undefined;
  const devPolicy = devNonce
    ? CONTENT_SECURITY_POLICY.replace("script-src 'self'", `script-src 'self' 'nonce-${devNonce}'`).replace(
        "style-src 'self'",
        `style-src 'self' 'nonce-${devNonce}'`,
      )
    : CONTENT_SECURITY_POLICY;

  return {
    base: './',
    plugins: [react(), contentSecurityPolicyMeta(), VitePWA(SERVICE_WORKER)],
    html: devNonce ? { cspNonce: devNonce } : {},
    worker: { format: 'es', rolldownOptions: ORT_OWN_CHUNK },
    build: { target: 'es2022', rolldownOptions: ORT_OWN_CHUNK },
    // Pre-bundling would move onnxruntime-web away from its .wasm/.mjs files (it finds them
    // relative to import.meta.url); served from node_modules as is, it finds them.
    optimizeDeps: { exclude: ['onnxruntime-web'] },
    server: {
      host: '127.0.0.1',
      headers: { ...ISOLATION_HEADERS, ...HARDENING_HEADERS, 'Content-Security-Policy': devPolicy },
    },
    preview: {
      host: '127.0.0.1',
      headers: { ...ISOLATION_HEADERS, ...HARDENING_HEADERS, 'Content-Security-Policy': CONTENT_SECURITY_POLICY },
    },
  };
});
