// The Evaluate page in the built studio in headless Chromium (same setup as train.test.ts): a
// tiny dataset (4 training and 3 held-out pairs of the demo data) is imported, a one-step DPO run
// trains on it, and the Evaluate page scores the held-out pairs with the base model and the run:
// the summary has the base row (rewards 0, accuracy 0 %) and the run's row, and the per-pair table
// lists the 3 pairs; a prompt is sampled base against the run and judged blind by keyboard, giving
// a win rate with its interval. Kept short for a software GPU.
import { mkdtempSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DEMO_DATA, importDataset, useStudio } from '../support/e2e.js';

const studio = useStudio('evaluate');

describe('the Evaluate page in the built studio', () => {
  it('scores held-out pairs with the base model and a tuned run, samples both and judges blind', async () => {
    const { page: p, errors } = await studio.open('#/data', { viewport: { width: 1280, height: 1000 }, timeout: 30_000 });
    const lines = (await readFile(DEMO_DATA, 'utf8')).split('\n').filter((l) => l.trim());
    const bySplit = (s: string) => lines.filter((l) => (JSON.parse(l) as { split?: string }).split === s || (s === 'train' && !(JSON.parse(l) as { split?: string }).split));
    const TINY = join(mkdtempSync(join(tmpdir(), 'prefstudio-e2e-eval-')), 'eval-tiny.jsonl');
    await writeFile(TINY, [...bySplit('train').slice(0, 4), ...bySplit('test').slice(0, 3)].join('\n') + '\n');

    await importDataset(p, TINY);

    await p.getByTestId('nav-train').click();
    await p.locator('[data-testid="train-model"][data-loaded="true"]').waitFor({ timeout: 90_000 });
    const tinyOption = await p.getByTestId('train-dataset').locator('option', { hasText: 'eval-tiny' }).getAttribute('value');
    await p.getByTestId('train-dataset').selectOption(tinyOption!);
    await expect.poll(() => p.getByTestId('train-dataset-counts').textContent()).toMatch(/4 training and 3 held-out records/);
    await p.getByTestId('train-field-max_steps').fill('1');
    await p.getByTestId('train-field-per_device_train_batch_size').fill('1');
    await p.getByTestId('train-advanced').click();
    await p.getByTestId('train-field-max_length').fill('32');
    await p.getByTestId('train-field-save_steps').fill('1');
    await p.getByTestId('train-name').fill('tiny run');
    await p.getByTestId('train-plan-button').click();
    await expect.poll(() => p.getByTestId('train-memory').textContent(), { timeout: 60_000 }).toMatch(/Estimated GPU memory/);
    // gradient_checkpointing: automatic by default (off: the tiny run fits); the select turns it on.
    expect(await p.getByTestId('train-field-gradient_checkpointing').inputValue()).toBe('auto');
    expect(await p.getByTestId('train-checkpointing').textContent()).toMatch(/^gradient checkpointing: off \(automatic: the run fits without it; about .+ with it\)$/);
    await p.getByTestId('train-field-gradient_checkpointing').selectOption('true');
    await p.getByTestId('train-plan-button').click();
    await expect.poll(() => p.getByTestId('train-checkpointing').textContent(), { timeout: 60_000 }).toBe('gradient checkpointing: on');
    await p.getByTestId('train-field-gradient_checkpointing').selectOption('auto');
    await p.getByTestId('train-plan-button').click();
    await expect.poll(() => p.getByTestId('train-checkpointing').textContent(), { timeout: 60_000 }).toMatch(/^gradient checkpointing: off \(automatic/);
    await p.getByTestId('train-start').click();
    await expect.poll(() => p.getByTestId('train-run').first().getAttribute('data-status'), { timeout: 300_000, interval: 1000 }).toBe('done');

    await p.getByTestId('nav-evaluate').click();
    await p.getByTestId('eval-dataset').waitFor();
    await p.getByTestId('eval-dataset').selectOption(tinyOption!);
    await p.getByTestId('eval-adapters').getByLabel('tiny run').check();
    await p.getByTestId('eval-run').click();
    const summary = p.getByTestId('eval-summary');
    await summary.waitFor({ timeout: 300_000 });
    const rows = summary.locator('tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).textContent()).toMatch(/\(base\)\s*3\s*0\.0 %\s*0\.0000/);
    expect(await rows.nth(1).textContent()).toMatch(/^tiny run\s*3\s*\d+\.\d %/);
    expect(await p.getByTestId('eval-pairs').locator('[data-pair]').count()).toBe(3);

    // Side by side (base against the run, one seed), then one blind verdict by keyboard.
    expect(await p.getByTestId('eval-side-1').locator('option:checked').textContent()).toBe('tiny run');
    await p.getByTestId('eval-prompts').fill('The best thing');
    await p.getByLabel('Max new tokens').fill('6');
    await p.getByTestId('eval-generate').click();
    await p.getByTestId('eval-judge-start').click({ timeout: 120_000 });
    expect(await p.getByTestId('eval-side-by-side').locator('.eval-sbs-row').count()).toBe(1);
    await p.keyboard.press('ArrowLeft');
    await expect.poll(() => p.getByTestId('eval-winrate').textContent()).toMatch(/win rate (0\.0|100\.0) % \(95 % CI [\d.]+–[\d.]+ %\), [01] wins, [01] losses, 0 ties/);

    // The run is in the history with its configuration.
    expect(await p.getByTestId('eval-runs').textContent()).toMatch(/tiny run/);
    expect(errors).toEqual([]);
  }, 720_000);
});
