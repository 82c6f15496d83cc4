// Shared set-up of the end-to-end tests (test/e2e/): the production build of the studio (Vite,
// into a temp dir, once per test run and shared by the files), served by `vite preview` on 127.0.0.1, and Debian's
// headless Chromium through playwright-core. `useStudio('name')` registers the hooks of a file:
//   beforeAll  build, preview, launch Chromium
//   afterEach  for every page opened: on failure a full-page screenshot and, with
//              PREFSTUDIO_E2E_TRACE=1, the test's Playwright trace (open with
//              `npx playwright-core show-trace`) under test-results/; pages
//              opened for one test are closed, pages opened with `keep` carry to the next test
//   afterAll   close everything, remove the build
// Each page collects console errors and uncaught exceptions (page and Workers), every request URL
// (page and Workers) and dismisses dialogs, recording their messages.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { chromiumArgs, chromiumPath } from '../../scripts/chromium.mjs';
import { buildStudioAt, previewStudio } from '../../scripts/studio-build.mjs';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RESULTS = join(ROOT, 'test-results');
/** Playwright traces of failing tests (PREFSTUDIO_E2E_TRACE=1). */
const TRACE = process.env.PREFSTUDIO_E2E_TRACE === '1';
/** The shared fixtures, read in place beside the repository (CI lays shared/ there too). */
export const SHARED_DATASETS = join(ROOT, '../shared/fixtures/datasets');
export const DEMO_DATA = join(ROOT, 'public/datasets/demo-fortunes-positive.jsonl');

export interface OpenedPage {
  page: Page;
  context: BrowserContext;
  /** console.error messages and uncaught exceptions, from the page and its Workers. */
  errors: string[];
  /** Every URL the page and its Workers requested. */
  requests: string[];
  /** Messages of the dialogs shown (each dismissed). */
  dialogs: string[];
}

export interface OpenOptions {
  /** Another browser (from `launch`); default: the file's. */
  browser?: Browser;
  viewport?: { width: number; height: number };
  /** Playwright's default timeout for the page's actions (ms). */
  timeout?: number;
  /** Keep the page (and its context: OPFS, IndexedDB) open for the following tests of the file. */
  keep?: boolean;
}

export interface Studio {
  /** http://127.0.0.1:<port> of the preview server. */
  readonly origin: string;
  /** The built app, shared by the run's e2e files: read it, never write into it. */
  readonly outDir: string;
  readonly browser: Browser;
  /** Opens `${origin}/${hash}` in a fresh browser context. */
  open(hash?: string, options?: OpenOptions): Promise<OpenedPage>;
  /** Another Chromium (closed in afterAll, after the failure screenshots). */
  launch(args?: string[]): Promise<Browser>;
  /** Requests that went anywhere but the preview server (data: and blob: URLs are local). */
  offsite(requests: readonly string[]): string[];
}

/** The production build of the studio in a new temp dir. */
export async function buildStudio(name: string): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), `prefstudio-e2e-${name}-`));
  await buildStudioAt(ROOT, outDir);
  return outDir;
}

/**
 * The run's one production build, shared by the e2e files (read-only for them): the first file to
 * ask builds it under a lock (mkdir is atomic), the others wait for its 'ready' (or 'failed')
 * mark. Outside a run with the global set-up (test/support/e2e-global.ts), a build of its own.
 */
export async function sharedStudioBuild(): Promise<{ outDir: string; shared: boolean }> {
  const root = inject('e2eBuildRoot');
  if (!root) return { outDir: await buildStudio('own'), shared: false };
  const outDir = join(root, 'app');
  const ready = join(root, 'ready');
  const failed = join(root, 'failed');
  let mine = false;
  try {
    mkdirSync(join(root, 'lock'));
    mine = true;
  } catch {
    // Another file is building it.
  }
  if (mine) {
    try {
      await buildStudioAt(ROOT, outDir);
      writeFileSync(ready, '');
    } catch (e) {
      writeFileSync(failed, String((e as Error).stack ?? e));
      throw e;
    }
  }
  for (const started = Date.now(); !existsSync(ready); ) {
    if (existsSync(failed)) throw new Error(`e2e: the shared build failed in another test file:\n${readFileSync(failed, 'utf8')}`);
    if (Date.now() - started > 300_000) throw new Error(`e2e: no shared build in ${root} after 300 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { outDir, shared: true };
}

export function launchChromium(args: string[] = chromiumArgs()): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args, headless: true, timeout: 60_000 });
}

/** Imports a dataset file on the Data page (already shown) and waits until it is stored. */
export async function importDataset(page: Page, path: string): Promise<void> {
  await page.getByTestId('import-file').setInputFiles(path);
  await page.getByTestId('import-preview').waitFor();
  await page.getByTestId('import-start').click();
  await page.getByTestId('import-done').waitFor();
}

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 80);

/** Registers the file's hooks; the returned object is usable inside tests. */
export function useStudio(name: string): Studio {
  let outDir = '';
  let sharedBuild = true;
  let server: PreviewServer | null = null;
  let origin = '';
  let browser: Browser | null = null;
  const extraBrowsers: Browser[] = [];
  let opened: (OpenedPage & { keep: boolean })[] = [];

  const studio: Studio = {
    get origin() {
      return origin;
    },
    get outDir() {
      return outDir;
    },
    get browser() {
      if (!browser) throw new Error('e2e: the browser is not started (useStudio registers a beforeAll)');
      return browser;
    },
    async open(hash = '#/models', options = {}) {
      const context = await (options.browser ?? studio.browser).newContext({ viewport: options.viewport ?? { width: 1280, height: 900 }, acceptDownloads: true });
      // DOM snapshots of every action when asked (PREFSTUDIO_E2E_TRACE=1; they cost CPU), kept only when the test fails.
      if (TRACE) {
        await context.tracing.start({ snapshots: true, screenshots: false, sources: false });
        await context.tracing.startChunk();
      }
      const page = await context.newPage();
      page.setDefaultTimeout(options.timeout ?? 20_000);
      const entry = { page, context, errors: [] as string[], requests: [] as string[], dialogs: [] as string[], keep: !!options.keep };
      opened.push(entry);
      page.on('console', (m) => {
        if (m.type() === 'error') entry.errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => entry.errors.push(`pageerror: ${e.message}`));
      page.on('worker', (w) => {
        w.on('console', (m) => {
          if (m.type() === 'error') entry.errors.push(`worker console: ${m.text()}`);
        });
      });
      // The context's requests include those of the page's dedicated Workers.
      context.on('request', (r) => entry.requests.push(r.url()));
      page.on('dialog', (d) => {
        entry.dialogs.push(d.message());
        void d.dismiss();
      });
      await page.goto(`${origin}/${hash}`);
      return entry;
    },
    async launch(args) {
      const b = await launchChromium(args);
      extraBrowsers.push(b);
      return b;
    },
    offsite(requests) {
      return requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin);
    },
  };

  beforeAll(async () => {
    ({ outDir, shared: sharedBuild } = await sharedStudioBuild());
    ({ server, origin } = await previewStudio(ROOT, outDir));
    browser = await launchChromium();
  }, 360_000);

  afterEach(async (ctx) => {
    const failed = ctx.task.result?.state === 'fail';
    const test = slug(ctx.task.name);
    for (const [i, entry] of opened.entries()) {
      const base = join(RESULTS, `${name}-${test}-${i}`);
      if (failed) {
        await mkdir(RESULTS, { recursive: true });
        if (!entry.page.isClosed()) await entry.page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => {});
        if (TRACE) await entry.context.tracing.stopChunk({ path: `${base}.trace.zip` }).catch(() => {});
      } else if (TRACE) {
        await entry.context.tracing.stopChunk().catch(() => {});
      }
      if (entry.keep && !entry.page.isClosed()) {
        if (TRACE) await entry.context.tracing.startChunk().catch(() => {});
      } else await entry.context.close().catch(() => {});
    }
    opened = opened.filter((e) => e.keep && !e.page.isClosed());
  }, 60_000);

  afterAll(async () => {
    for (const { context } of opened) await context.close().catch(() => {});
    opened = [];
    await Promise.all(extraBrowsers.map((b) => b.close().catch(() => {})));
    await browser?.close();
    await server?.close();
    if (outDir && !sharedBuild) await rm(outDir, { recursive: true, force: true });
  }, 30_000);

  return studio;
}
