// Measures the dataset browser on a large dataset in headless Chromium: builds the studio (Vite),
// serves it (vite preview), imports a generated TRL JSONL file of N records on the Data page, then
// times opening the browser (first rows, statistics), two searches, a kind filter and the
// deduplication, and reports the longest main-thread task (PerformanceObserver 'longtask')
// during each. Same setup as test/e2e (playwright-core with Debian's Chromium).
//
//   node scripts/measure-browser.mjs [--records 100000] [--root <checkout to build>] [--json out.json]
//
// --root measures another checkout (e.g. a `git worktree` of an older commit) with this script.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath } from './chromium.mjs';
import { buildStudioAt, previewStudio } from './studio-build.mjs';

const { values: args } = parseArgs({
  options: { records: { type: 'string', default: '100000' }, root: { type: 'string' }, json: { type: 'string' } },
});
const N = Number(args.records);
const ROOT = args.root ? resolve(args.root) : fileURLToPath(new URL('../', import.meta.url));
/** Every 50th record repeats the one before it (other provenance): N / 50 duplicates. */
const DUPLICATE_EVERY = 50;

/** Seeded generator (mulberry32): the same file every run. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'the a model answer question reason step because therefore data value loss gradient token prompt result example simple clear wrong right better worse kind helpful honest short long careful quick'.split(' ');

function datasetFile(n) {
  const rand = rng(42);
  const words = (k) => Array.from({ length: k }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
  const lines = [];
  let previous = '';
  for (let i = 0; i < n; i++) {
    if (i % DUPLICATE_EVERY === DUPLICATE_EVERY - 1) {
      lines.push(previous);
      continue;
    }
    // ~1% of prompts mention a zebra (the first search), ~10% say "careful step" somewhere.
    const prompt = `Question ${i}: ${words(8 + Math.floor(rand() * 20))}${i % 97 === 0 ? ' zebra' : ''}?`;
    const row = { prompt, chosen: ` ${words(30 + Math.floor(rand() * 80))}.`, rejected: ` ${words(10 + Math.floor(rand() * 60))}.` };
    previous = JSON.stringify(row);
    lines.push(previous);
  }
  return `${lines.join('\n')}\n`;
}

const work = await mkdtemp(join(tmpdir(), 'prefstudio-measure-browser-'));
const outDir = join(work, 'dist');
const file = join(work, 'bench.jsonl');
let server = null;
let browser = null;
try {
  await writeFile(file, datasetFile(N));
  await buildStudioAt(ROOT, outDir);
  let origin;
  ({ server, origin } = await previewStudio(ROOT, outDir));
  browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs(), headless: true, timeout: 60_000 });
  // bypassCSP: the polling predicates below are evaluated as strings (the app's CSP forbids eval).
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  await context.addInitScript(() => {
    window.__longtasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longtasks.push({ start: e.startTime, end: e.startTime + e.duration, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(600_000);
  page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
  await page.goto(`${origin}/#/data`);

  const importStart = Date.now();
  await page.getByTestId('import-file').setInputFiles(file);
  await page.getByTestId('import-preview').waitFor();
  await page.getByTestId('import-start').click();
  await page.getByTestId('import-done').waitFor();
  const importSeconds = (Date.now() - importStart) / 1000;

  const now = () => page.evaluate(() => performance.now());
  /** Waits (polling every 10 ms) until `predicate` holds in the page; returns the page's clock then. */
  const until = (predicate, arg) =>
    page.waitForFunction(`(${predicate})(${JSON.stringify(arg ?? null)}) && performance.now()`, undefined, { polling: 10, timeout: 600_000 }).then((h) => h.jsonValue());
  const longest = (from, to) =>
    page.evaluate(([a, b]) => Math.max(0, ...window.__longtasks.filter((t) => t.end > a && t.start < b).map((t) => t.duration)), [from, to]);
  const statsReady = () => {
    const s = document.querySelector('[data-testid="browser-stats"]');
    return s !== null && !s.textContent.includes('updating');
  };
  const countIs = (n) => {
    const s = document.querySelector('[data-testid="browser-stats"]');
    return s !== null && !s.textContent.includes('updating') && Number(s.getAttribute('data-count')) === n;
  };
  const count = () => page.evaluate(() => Number(document.querySelector('[data-testid="browser-stats"]').getAttribute('data-count')));

  const results = { records: N, root: ROOT, importSeconds };
  // Open: first rows with their text, then the statistics.
  const item = page.locator(`[data-testid="dataset-item"][data-name="bench"]`);
  await item.waitFor();
  const t0 = await now();
  await item.getByRole('button', { name: 'Browse' }).click();
  const firstRows = await until(() => [...document.querySelectorAll('[data-testid="browser-row"]')].some((r) => r.querySelectorAll('[role="cell"]').length > 2));
  const stats = await until(statsReady);
  results.open = { firstRowsMs: firstRows - t0, statsMs: stats - t0, longestTaskMs: await longest(t0, stats) };

  // Scroll through: a few big jumps, each waiting for its rows.
  const s0 = await now();
  for (const f of [0.25, 0.5, 0.75, 1]) {
    await page.evaluate((frac) => {
      const el = document.querySelector('[data-testid="browser-table"]');
      el.scrollTop = frac * (el.scrollHeight - el.clientHeight);
    }, f);
    await until(() => [...document.querySelectorAll('[data-testid="browser-row"]')].every((r) => r.querySelectorAll('[role="cell"]').length > 2));
  }
  const s1 = await now();
  results.scroll = { jumps: 4, ms: s1 - s0, longestTaskMs: await longest(s0, s1) };

  const all = await count();
  // Searches: the time includes the 250 ms pause the page waits for after typing.
  const search = async (term) => {
    const a = await now();
    await page.getByTestId('browser-search').fill(term);
    const b = await until(() => {
      const s = document.querySelector('[data-testid="browser-stats"]');
      return s !== null && !s.textContent.includes('updating') && document.querySelector('[data-testid="browser-search"]').value !== '' && Number(s.getAttribute('data-count')) !== window.__lastCount;
    });
    const c = await count();
    await page.evaluate((n) => (window.__lastCount = n), c);
    return { term, matches: c, ms: b - a, longestTaskMs: await longest(a, b) };
  };
  await page.evaluate((n) => (window.__lastCount = n), all);
  results.search = [await search('zebra'), await search('careful step')];
  const c0 = await now();
  await page.getByTestId('browser-search').fill('');
  const c1 = await until(countIs, all);
  results.clearSearch = { ms: c1 - c0, longestTaskMs: await longest(c0, c1) };

  // Deduplicate.
  const d0 = await now();
  await page.getByTestId('browser-dedupe').click();
  const d1 = await until(() => /Removed|No duplicates/.test(document.querySelector('[data-testid="browser-notice"]')?.textContent ?? ''));
  const d2 = await until(statsReady);
  results.dedup = {
    notice: await page.getByTestId('browser-notice').textContent(),
    ms: d1 - d0,
    withStatsMs: d2 - d0,
    longestTaskMs: await longest(d0, d2),
    countAfter: await count(),
  };
  // Undo it.
  const u0 = await now();
  await page.getByTestId('browser-undo').click();
  const u1 = await until(countIs, all);
  results.undoDedup = { ms: u1 - u0, longestTaskMs: await longest(u0, u1) };

  console.log(JSON.stringify(results, null, 2));
  if (args.json) await writeFile(args.json, JSON.stringify(results, null, 2));
} finally {
  await browser?.close();
  await server?.close();
  await rm(work, { recursive: true, force: true });
}
