// A DPO run in the built studio in headless Chromium (same setup as label.test.ts): the demo
// model loads at start, the demo dataset is imported on the Data page, a short run starts on the
// Train page and its loss chart grows; the tab is reloaded mid-run, the run is listed as
// interrupted at its last checkpoint with its curve so far, resumes, and its curve continues to
// the last step. Kept short for a software GPU: batches of 1, max_length 32, 3 steps.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DEMO_DATA, importDataset, useStudio } from '../support/e2e.js';

const studio = useStudio('train');
const STEPS = 3;

const points = async (p: Page) => Number(await p.getByTestId('chart-loss').getAttribute('data-points'));

describe('training in the built studio', () => {
  it('runs DPO with a live chart, survives a reload mid-run and resumes from its checkpoint with the curve continuing', async () => {
    const { page: p, errors } = await studio.open('#/data', { viewport: { width: 1280, height: 1000 }, timeout: 30_000 });
    await importDataset(p, DEMO_DATA);

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
  }, 900_000);
});
