// Steps of the first-time journeys (test/e2e/journey.test.ts), shared with the static-site test
// (test/e2e/static-offline.test.ts): Data page import, keyboard labels, a short run on the Train
// page, the loss chart's points.
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { importDataset } from './e2e.js';

export async function importFile(page: Page, path: string) {
  await page.getByTestId('nav-data').click();
  await importDataset(page, path);
}

export async function startLabelling(page: Page, dataset: string) {
  await page.getByTestId('nav-label').click();
  const source = page.getByTestId('label-source');
  const option = source.locator('option').filter({ hasText: new RegExp(`^${dataset} \\(`) });
  await source.selectOption((await option.getAttribute('value'))!);
  await page.getByTestId('annotator').fill('journey');
  await page.getByTestId('annotator').press('Enter');
  await page.getByTestId('label-task').waitFor();
}

/** Presses a labelling key and waits for the next task. */
export async function label(page: Page, key: string) {
  const before = await page.getByTestId('label-task').getAttribute('data-task-key');
  await page.keyboard.press(key);
  await page.getByTestId('label-last').filter({ hasText: 'Saved' }).waitFor();
  await expect.poll(() => page.getByTestId('label-task').getAttribute('data-task-key')).not.toBe(before);
}

export async function selectOption(page: Page, testId: string, text: string) {
  const select = page.getByTestId(testId);
  const value = await select.locator('option', { hasText: text }).first().getAttribute('value');
  await select.selectOption(value!);
}

/** Train page: demo model on the GPU, the named dataset, tiny settings; returns after Start. */
export async function startRun(page: Page, o: { dataset: string; method: string; steps: number; name: string; counts: RegExp }) {
  await page.getByTestId('nav-train').click();
  await page.locator('[data-testid="train-model"][data-loaded="true"]').waitFor({ timeout: 90_000 });
  await selectOption(page, 'train-dataset', o.dataset);
  await expect.poll(() => page.getByTestId('train-dataset-counts').textContent()).toMatch(o.counts);
  await page.getByTestId('train-method').selectOption(o.method);
  await page.getByTestId('train-field-max_steps').fill(String(o.steps));
  await page.getByTestId('train-field-per_device_train_batch_size').fill('2');
  // Lengths and checkpoints are advanced settings (shown once opened, kept open).
  if ((await page.getByTestId('train-advanced').getAttribute('aria-expanded')) !== 'true') await page.getByTestId('train-advanced').click();
  await page.getByTestId('train-field-max_length').fill('64');
  await page.getByTestId('train-field-save_steps').fill('1');
  await page.getByTestId('train-name').fill(o.name);
  await page.getByTestId('train-plan-button').click();
  await expect.poll(() => page.getByTestId('train-memory').textContent(), { timeout: 60_000 }).toMatch(/Estimated GPU memory/);
  await page.getByTestId('train-start').click();
}

export const points = async (p: Page) => Number(await p.getByTestId('chart-loss').getAttribute('data-points'));

