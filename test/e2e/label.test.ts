// A person's path through the built studio in headless Chromium (same setup as smoke.test.ts):
// import a shared fixture on the Data page, label every one of its 19 pairs with the keyboard
// alone (with an undo on the way), reload and find the labels, export TRL JSONL and check it row
// by row, import the export and export it again unchanged. Then hostile text: imported and shown
// on both pages as text, with no element made from it and no script run.
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ROOT, SHARED_DATASETS, importDataset, useStudio } from '../support/e2e.js';

const studio = useStudio('label');
const ZEN = join(SHARED_DATASETS, 'trl-zen/zen_standard_preference.jsonl');
const HOSTILE = join(ROOT, 'test/fixtures/data/hostile.jsonl');

const open = (hash: string) => studio.open(hash);

/** Opens the Label page on the named dataset (the workspace also holds the bundled demo data). */
async function startLabelling(page: Page, annotator: string, dataset: string) {
  await page.getByTestId('nav-label').click();
  const source = page.getByTestId('label-source');
  const option = source.locator('option').filter({ hasText: new RegExp(`^${dataset} \\(`) });
  await source.selectOption((await option.getAttribute('value'))!);
  await page.getByTestId('annotator').fill(annotator);
  await page.getByTestId('annotator').press('Enter');
  await page.getByTestId('label-task').waitFor();
}

/** The first text block shown in a test id's element (or the element itself, for plain text). */
const text = async (page: Page, testId: string) =>
  ((await page.locator(`.label-text[data-testid="${testId}"], [data-testid="${testId}"] .label-text`).first().textContent()) ?? '').trim();

describe('labelling in the built studio', () => {
  it('imports a fixture, labels all its pairs with the keyboard, keeps them over a reload, exports TRL JSONL', async () => {
    const { page, errors } = await open('#/data');
    await importDataset(page, ZEN);
    const item = page.getByTestId('dataset-item').filter({ hasText: 'zen_standard_preference' });
    expect(await item.getAttribute('data-total')).toBe('19');

    await startLabelling(page, 'ada', 'zen_standard_preference');
    const rows: { prompt: string; chosen: string; rejected: string }[] = [];
    /** Presses a side's key and remembers what that side showed. */
    const choose = async (key: 'ArrowLeft' | 'ArrowRight', last = false) => {
      const prompt = await text(page, 'label-prompt');
      const left = await text(page, 'candidate-left');
      const right = await text(page, 'candidate-right');
      await page.keyboard.press(key);
      await page.getByTestId('label-last').filter({ hasText: 'Saved' }).waitFor();
      if (last) await page.getByTestId('label-finished').waitFor();
      else await expect.poll(() => text(page, 'label-prompt')).not.toBe(prompt);
      return key === 'ArrowLeft' ? { prompt, chosen: left, rejected: right } : { prompt, chosen: right, rejected: left };
    };
    rows.push(await choose('ArrowLeft'));
    await choose('ArrowRight');
    // Undo brings that task back with the same sides; decide it the other way.
    await page.keyboard.press('u');
    await page.getByTestId('label-last').filter({ hasText: 'Undone' }).waitFor();
    rows.push(await choose('ArrowLeft'));
    rows.push(await choose('ArrowRight'));
    const progress = page.getByTestId('label-progress');
    expect(await progress.getAttribute('data-labelled')).toBe('3');
    // The rest of the queue, alternating sides, until the page says it is finished.
    const total = Number(await progress.getAttribute('data-total'));
    expect(total).toBe(19);
    while (rows.length < total) rows.push(await choose(rows.length % 2 ? 'ArrowRight' : 'ArrowLeft', rows.length === total - 1));
    expect(await progress.getAttribute('data-labelled')).toBe(String(total));

    await page.reload();
    await page.getByTestId('label-page').waitFor();
    await expect.poll(() => progress.getAttribute('data-labelled')).toBe(String(total));
    await page.getByTestId('label-finished').waitFor();
    expect(await page.getByTestId('annotator').inputValue()).toBe('ada');

    await page.getByTestId('nav-data').click();
    const labels = page.getByTestId('dataset-item').filter({ hasText: 'zen_standard_preference · labels' });
    expect(await labels.getAttribute('data-total')).toBe(String(total));
    await labels.getByTestId('export-target').selectOption('trl');
    const [download] = await Promise.all([page.waitForEvent('download'), labels.getByTestId('export-button').click()]);
    expect(download.suggestedFilename()).toMatch(/\.trl\.jsonl$/);
    const exported = (await readFile((await download.path())!, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, string>);
    // Shown text is trimmed; the exported text is the stored text.
    expect(exported.map((r) => ({ prompt: r.prompt!.trim(), chosen: r.chosen!.trim(), rejected: r.rejected!.trim() }))).toEqual(rows);

    // The export imports back unchanged: imported, then exported again, it is the same file.
    const exportedPath = (await download.path())!;
    const file = join(await mkdtemp(join(tmpdir(), 'prefstudio-label-')), 'labels.trl.jsonl');
    await copyFile(exportedPath, file);
    await importDataset(page, file);
    const again = page.getByTestId('dataset-item').filter({ hasText: /^labels\b/ }).first();
    expect(await again.getAttribute('data-total')).toBe(String(total));
    await again.getByTestId('export-target').selectOption('trl');
    const [second] = await Promise.all([page.waitForEvent('download'), again.getByTestId('export-button').click()]);
    expect(await readFile((await second.path())!, 'utf8')).toBe(await readFile(exportedPath, 'utf8'));
    expect(errors).toEqual([]);
  }, 120_000);

  it('hostile text is shown as text on the Data and Label pages and never runs', async () => {
    const { page, errors, dialogs } = await open('#/data');
    await page.getByTestId('import-file').setInputFiles(HOSTILE);
    const preview = page.getByTestId('preview-rows');
    await preview.waitFor();
    expect(await preview.textContent()).toContain("<script>alert('x')</script>");
    expect(await preview.locator('script, img, svg, iframe').count()).toBe(0);
    await page.getByTestId('import-start').click();
    await page.getByTestId('import-done').waitFor();

    await startLabelling(page, 'eve', 'hostile');
    const task = page.getByTestId('label-task');
    await expect.poll(() => text(page, 'label-prompt')).toBe("<script>alert('x')</script>");
    const shown = async () => `${await text(page, 'candidate-left')}|${await text(page, 'candidate-right')}`;
    await expect.poll(shown).toContain('<img src=x onerror=alert(1)>');
    expect(await shown()).toContain('javascript:alert(document.cookie)');
    expect(await task.locator('script, img, svg, iframe').count()).toBe(0);
    await page.keyboard.press('ArrowLeft');
    await page.getByTestId('label-last').filter({ hasText: 'Saved' }).waitFor();
    // The next record renders after the save is confirmed: wait for it, do not race it.
    await expect.poll(() => task.textContent()).toContain('</textarea><svg/onload=alert(2)>');
    expect(await task.locator('script, img, svg, iframe').count()).toBe(0);
    expect(await page.evaluate(() => (Object.prototype as { polluted?: unknown }).polluted)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
  }, 90_000);
});
