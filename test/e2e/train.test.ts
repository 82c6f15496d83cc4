// A DPO run in the built studio in headless Chromium (same setup as label.test.ts): the demo
// model loads at start, the demo dataset is imported on the Data page, a short run starts on the
// Train page and its loss chart grows; the tab is reloaded mid-run, the run is listed as
// interrupted at its last checkpoint with its curve so far, resumes, and its curve continues to
// the last step. Kept short for a software GPU: batches of 1, max_length 32, 3 steps.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumArgs, chromiumPath } from '../../scripts/chromium.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = join(ROOT, 'test-results');
const DEMO_DATA = join(ROOT, 'public/datasets/demo-fortunes-positive.jsonl');
const STEPS = 3;

let outDir = '';
let server: PreviewServer | null = null;
let origin = '';
let browser: Browser | null = null;
let context: BrowserContext | null = null;
let page: Page | null = null;
const errors: string[] = [];

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'prefstudio-e2e-train-'));
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root: ROOT, configFile: join(ROOT, 'vite.config.ts'), mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  server = await preview({
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port: 0, strictPort: true, open: false },
  });
  origin = `http://127.0.0.1:${(server.httpServer.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs(), headless: true, timeout: 60_000 });
  context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => void d.dismiss());
}, 180_000);

afterAll(async () => {
  if (page && !page.isClosed() && errors.length) {
    await mkdir(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'train-last.png'), fullPage: true }).catch(() => {});
  }
  await context?.close().catch(() => {});
  await browser?.close();
  await server?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
}, 30_000);

const points = async (p: Page) => Number(await p.getByTestId('chart-loss').getAttribute('data-points'));

describe('training in the built studio', () => {
  it('runs DPO with a live chart, survives a reload mid-run and resumes from its checkpoint with the curve continuing', async () => {
    const p = page!;
    try {
      await p.goto(`${origin}/#/data`);
      await p.getByTestId('import-file').setInputFiles(DEMO_DATA);
      await p.getByTestId('import-preview').waitFor();
      await p.getByTestId('import-start').click();
      await p.getByTestId('import-done').waitFor();

      await p.getByTestId('nav-train').click();
      await p.locator('[data-testid="train-model"][data-loaded="true"]').waitFor({ timeout: 90_000 });
      await expect.poll(() => p.getByTestId('train-dataset-counts').textContent()).toMatch(/281 training and 49 held-out records/);
      expect(await p.getByTestId('train-method').inputValue()).toBe('dpo');
      expect(await p.getByTestId('train-method-info').textContent()).toMatch(/Needs: pairs/);
      await p.getByTestId('train-maxSteps').fill(String(STEPS));
      await p.getByTestId('train-batchSize').fill('1');
      await p.getByTestId('train-maxLength').fill('32');
      await p.getByTestId('train-saveSteps').fill('1');
      await p.getByTestId('train-plan-button').click();
      await expect.poll(() => p.getByTestId('train-memory').textContent(), { timeout: 60_000 }).toMatch(/Estimated GPU memory [\d.]+ MiB of a 4 GiB budget/);
      await p.getByTestId('train-start').click();

      const run = p.getByTestId('train-run').first();
      // Reference log-probs of every example first (batched), then steps: the chart grows.
      await expect.poll(() => points(p), { timeout: 420_000, interval: 1000 }).toBeGreaterThanOrEqual(2);
      expect(await run.getAttribute('data-status')).toBe('running');
      const before = await points(p);
      expect(before).toBeLessThan(STEPS);

      await p.reload();
      await p.getByTestId('page-train').waitFor();
      const again = p.getByTestId('train-run').first();
      await expect.poll(() => again.getAttribute('data-status')).toBe('interrupted');
      const checkpointStep = Number(await again.getAttribute('data-step'));
      expect(checkpointStep).toBeGreaterThanOrEqual(1);
      expect(checkpointStep).toBeLessThanOrEqual(before);
      // The curve so far is the checkpoint's.
      expect(await points(p)).toBe(checkpointStep);
      expect(Number(await p.getByTestId('chart-loss').getAttribute('data-last-step'))).toBe(checkpointStep);

      await p.locator('[data-testid="train-model"][data-loaded="true"]').waitFor({ timeout: 90_000 });
      await again.getByTestId('train-resume').click();
      await expect.poll(() => again.getAttribute('data-status'), { timeout: 420_000, interval: 1000 }).toBe('done');
      expect(await points(p)).toBe(STEPS);
      expect(Number(await p.getByTestId('chart-loss').getAttribute('data-last-step'))).toBe(STEPS);
      expect(await p.getByTestId('train-config').textContent()).toMatch(/"max_steps": 3/);
      expect(errors).toEqual([]);
    } catch (e) {
      await mkdir(RESULTS, { recursive: true });
      await p.screenshot({ path: join(RESULTS, 'train-failure.png'), fullPage: true }).catch(() => {});
      throw e;
    }
  }, 900_000);
});
