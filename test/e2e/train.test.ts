// The Train page in the built studio, on what a first visit has: the demo model on the GPU and
// the demo dataset imported at start. Picking the dataset shows its split counts and offers the
// demo recipe, each method
// says what it does and what data it needs, and planning shows the memory estimate. Running,
// the live chart, reload mid-run and resume are driven end to end by journey.test.ts on a small
// labelled dataset (steps on the demo dataset take far longer on a software GPU).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEMO_DATA, useStudio } from '../support/e2e.js';

const studio = useStudio('train');
const demoSplits = readFileSync(DEMO_DATA, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { split: string }).split);
const count = (split: string) => demoSplits.filter((s) => s === split).length;

describe('the Train page in the built studio', () => {
  it('offers the demo dataset with its splits, explains each method, and plans a run with a memory estimate', async () => {
    const { page: p, errors } = await studio.open('#/train', { viewport: { width: 1280, height: 1000 }, timeout: 30_000 });
    await p.locator('[data-testid="train-model"][data-loaded="true"]').waitFor({ timeout: 90_000 });
    const dataset = p.getByTestId('train-dataset');
    await expect.poll(async () => (await dataset.locator('option').allTextContents()).join('|'), { timeout: 60_000 }).toContain('demo-fortunes-positive');
    const value = await dataset.locator('option', { hasText: 'demo-fortunes-positive' }).first().getAttribute('value');
    await dataset.selectOption(value!);
    await expect.poll(() => p.getByTestId('train-dataset-counts').textContent()).toContain(`${count('train')} training and ${count('test')} held-out records`);

    // The demo dataset offers the recipe the demo learning check runs; it fills the form.
    expect(await p.getByTestId('train-demo-recipe').textContent()).toMatch(/hopeful sayings over gloomy ones/);
    expect(await p.getByTestId('train-field-lora.target_modules').inputValue()).not.toBe('all-linear');
    await p.getByTestId('train-demo-recipe-button').click();
    expect(await p.getByTestId('train-field-learning_rate').inputValue()).toBe('0.01');
    expect(await p.getByTestId('train-field-max_steps').inputValue()).toBe('10');
    expect(await p.getByTestId('train-field-per_device_train_batch_size').inputValue()).toBe('8');
    expect(await p.getByTestId('train-field-lora.target_modules').inputValue()).toBe('all-linear');

    const info = p.getByTestId('train-method-info');
    expect(await p.getByTestId('train-method').inputValue()).toBe('dpo');
    expect(await info.textContent()).toMatch(/relative to the untuned model.*Needs: pairs/);
    await p.getByTestId('train-method').selectOption('kto');
    await expect.poll(() => info.textContent()).toMatch(/no pairing needed.*Needs: thumbs up\/down records/);
    await p.getByTestId('train-method').selectOption('orpo');
    await expect.poll(() => info.textContent()).toMatch(/no reference model.*Needs: pairs/);
    await p.getByTestId('train-method').selectOption('dpo');

    await p.getByTestId('train-field-max_steps').fill('3');
    await p.getByTestId('train-advanced').click();
    await p.getByTestId('train-field-max_length').fill('32');
    await p.getByTestId('train-plan-button').click();
    await expect.poll(() => p.getByTestId('train-memory').textContent(), { timeout: 60_000 }).toMatch(/Estimated GPU memory [\d.]+ MiB of a [\d.]+ [GM]iB budget \((half the host|twice|set by)/);
    expect(await p.getByTestId('train-start').isEnabled()).toBe(true);
    expect(errors).toEqual([]);
  }, 300_000);
});
