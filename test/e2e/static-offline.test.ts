// The studio as a static site: the production build (`npm run build`'s dist/) served by a plain
// static file server (node's http + sirv, no Vite, no special headers: no CSP header, no
// cross-origin isolation), under a sub-path as GitHub Pages serves a project (/prefstudio/), so
// every URL must be relative. A short DPO journey (demo model, import, keyboard labels, a run
// that checkpoints), then the machine goes offline (Playwright's offline mode, and the server is
// shut down so nothing at all can answer) and the tab reloads: the service worker serves the app
// shell, the model comes from OPFS and the data from IndexedDB, and the interrupted run resumes
// to the end.
import { createServer, type Server } from 'node:http';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import sirv from 'sirv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARED_DATASETS, launchChromium, sharedStudioBuild } from '../support/e2e.js';
import { importFile, label, points, startLabelling, startRun } from '../support/journey.js';

const ZEN_PAIRS = join(SHARED_DATASETS, 'trl-zen/zen_standard_preference.jsonl');
const PREFIX = '/prefstudio';

let build: { outDir: string; shared: boolean } | null = null;
let server: Server | null = null;
let browser: Browser | null = null;
let origin = '';

beforeAll(async () => {
  build = await sharedStudioBuild();
  const serve = sirv(build.outDir, { dev: false, etag: true });
  server = createServer((req, res) => {
    if (!req.url?.startsWith(`${PREFIX}/`)) {
      res.statusCode = 404;
      return res.end('not found');
    }
    req.url = req.url.slice(PREFIX.length);
    serve(req, res, () => {
      res.statusCode = 404;
      res.end('not found');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(null));
  if (build && !build.shared) await rm(build.outDir, { recursive: true, force: true });
}, 30_000);

describe('static build', () => {
  it('opens from a plain static server under a sub-path, trains, then opens offline and resumes the run', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    const served: string[] = [];
    context.on('requestfinished', (r) => served.push(r.url()));
    await page.goto(`${origin}${PREFIX}/#/models`);
    await page.locator('[data-testid="model-row-demo-fortunes"][data-loaded="true"]').waitFor({ timeout: 90_000 });
    // The service worker is installed and controls the page (it precached the app shell).
    await page.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: 60_000 });
    const sw = await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL);
    expect(sw).toBe(`${origin}${PREFIX}/sw.js`);

    await importFile(page, ZEN_PAIRS);
    await startLabelling(page, 'zen_standard_preference');
    for (const key of ['ArrowLeft', 'ArrowRight', 'ArrowLeft']) await label(page, key);
    const STEPS = 3;
    await startRun(page, { dataset: 'zen_standard_preference · labels', method: 'dpo', steps: STEPS, name: 'offline dpo', counts: /3 training and 0 held-out records/ });
    await expect.poll(() => points(page), { timeout: 300_000, interval: 250 }).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId('train-run').first().getAttribute('data-status')).toBe('running');
    // Every request went to the static server, under the sub-path.
    expect(served.filter((u) => !u.startsWith(`${origin}${PREFIX}/`) && !u.startsWith('blob:') && !u.startsWith('data:'))).toEqual([]);

    // Offline: the browser has no network and the server is gone.
    await context.setOffline(true);
    server!.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
    await page.reload();
    await page.getByTestId('page-train').waitFor({ timeout: 60_000 });
    const run = page.getByTestId('train-run').first();
    await expect.poll(() => run.getAttribute('data-status'), { timeout: 60_000 }).toBe('interrupted');
    const step = Number(await run.getAttribute('data-step'));
    expect(step).toBeGreaterThanOrEqual(1);
    // The chart shows the checkpoint's steps (from test/e2e/journey.test.ts, which no longer reloads).
    expect(await points(page)).toBe(step);
    await page.locator('[data-testid="train-model"][data-loaded="true"]').waitFor({ timeout: 90_000 });
    await run.getByTestId('train-resume').click();
    await expect.poll(() => run.getAttribute('data-status'), { timeout: 300_000, interval: 500 }).toBe('done');
    expect(await points(page)).toBe(STEPS);
    expect(errors).toEqual([]);
    await context.close();
  }, 900_000);
});
