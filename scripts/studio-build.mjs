// The production build of the studio and a local preview server for it: shared by the e2e tests
// (test/support/e2e.ts) and scripts/measure-browser.mjs.
import { join } from 'node:path';
import { build, preview } from 'vite';

/** Builds the checkout at `root` into `outDir` in production mode. */
export async function buildStudioAt(root, outDir) {
  // Vitest sets NODE_ENV=test, which would make Vite bundle React's development build.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root, configFile: join(root, 'vite.config.ts'), mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}

/** Serves a build of `root` from `outDir` on a free loopback port; returns the server and its origin. */
export async function previewStudio(root, outDir) {
  const server = await preview({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port: 0, strictPort: true, open: false },
  });
  return { server, origin: `http://127.0.0.1:${server.httpServer.address().port}` };
}
