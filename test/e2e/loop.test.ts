// The on-policy loop in the built studio (issue 13), headless Chromium: a prompt set (6 training
// and 2 held-out prompts, TRL prompt-only JSONL) is imported on the Data page; a two-round loop on
// the demo model with a person as the judge generates 4 candidates for each of the 6 prompts and
// waits; 3 sets are ranked with the keyboard on the Label page over the generated queue and the
// other 3 judged by the tone-lexicon rule from the Loop page; round 1 trains and round 2 starts
// generating from its adapter; the tab is reloaded in the middle of that generation (after its
// first batch of 4 prompts), the loop is found interrupted, continues with the sets already made,
// and the round finishes. Tiny settings for a software GPU.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, useStudio } from '../support/e2e.js';
import { importFile, label, selectOption, startLabelling } from '../support/journey.js';

const studio = useStudio('loop');
const PROMPTS = join(ROOT, 'test/fixtures/data/loop_prompts.jsonl');

describe('the Loop page', () => {
  it('prompt set, 4 candidates for 6 prompts, 3 judged by keyboard and 3 by the rule, a round trained, round 2 reloaded mid-generation and finished', async () => {
    const { page, errors, requests } = await studio.open('#/models', { viewport: { width: 1280, height: 1000 }, timeout: 30_000 });
    await page.locator('[data-testid="model-row-demo-fortunes"][data-loaded="true"]').waitFor({ timeout: 90_000 });
    await importFile(page, PROMPTS);
    expect(await page.getByTestId('dataset-item').filter({ hasText: 'loop_prompts' }).first().getAttribute('data-total')).toBe('8');

    await page.getByTestId('nav-loop').click();
    await selectOption(page, 'loop-prompts', 'loop_prompts');
    await expect.poll(() => page.getByTestId('loop-prompts').locator('option:checked').textContent()).toMatch(/6 train \/ 2 test/);
    await page.getByTestId('loop-judge').selectOption('person');
    await page.getByTestId('loop-rule').selectOption('tone');
    await page.getByTestId('loop-rounds').fill('2');
    await page.getByTestId('loop-n').fill('4');
    await page.getByTestId('loop-max-new-tokens').fill('8');
    await page.getByTestId('loop-steps').fill('2');
    await page.getByTestId('loop-batch').fill('2');
    await page.getByTestId('loop-start').click();
    const detail = page.getByTestId('loop-detail');
    // A failed loop shows its message in the assertion, not only "failed".
    const status = async () => {
      const s = await detail.getAttribute('data-loop-status');
      return s === 'failed' ? `failed: ${await page.getByTestId('loop-message').textContent()}` : s;
    };
    await expect.poll(status, { timeout: 180_000, interval: 500 }).toBe('waiting');
    expect(await detail.getAttribute('data-stage')).toBe('judge');
    await expect.poll(() => page.getByTestId('loop-message').textContent()).toMatch(/0 of 6 candidate sets of round 1 judged/);

    // The person ranks three candidate sets of 4 on the Label page (Enter: the ranking as shown).
    await startLabelling(page, 'loop · round 1 candidates');
    for (let i = 0; i < 3; i++) await label(page, 'Enter');
    expect(await page.getByTestId('label-progress').getAttribute('data-labelled')).toBe('3');

    // The rule judges the other three; round 1 trains and evaluates, round 2 generates.
    await page.getByTestId('nav-loop').click();
    await page.getByTestId('loop-judge-rest').click();
    await expect.poll(() => page.getByTestId('loop-round-1').getAttribute('data-stage'), { timeout: 300_000, interval: 250 }).toBe('done');
    expect(await page.getByTestId('loop-round-1').locator('td').nth(2).textContent()).toBe('6');
    // Reload after round 2's first batch (4 of 6 prompts) is stored, before its second is.
    await expect.poll(() => page.getByTestId('loop-progress').textContent().catch(() => ''), { timeout: 300_000, interval: 100 }).toMatch(/round 2: generating, 4 \/ 6 prompts/);
    await page.reload();
    await page.getByTestId('page-loop').waitFor();
    await expect.poll(status).toBe('interrupted');
    expect(await detail.getAttribute('data-round')).toBe('2');
    expect(await detail.getAttribute('data-stage')).toBe('generate');
    await page.getByTestId('loop-continue').click();
    await expect.poll(status, { timeout: 300_000, interval: 500 }).toBe('waiting');
    expect(await detail.getAttribute('data-stage')).toBe('judge');
    await expect.poll(() => page.getByTestId('loop-message').textContent()).toMatch(/0 of 6 candidate sets of round 2 judged/);
    await page.getByTestId('loop-judge-rest').click();
    await expect.poll(status, { timeout: 300_000, interval: 500 }).toBe('done');
    expect(await page.getByTestId('loop-round-2').getAttribute('data-stage')).toBe('done');
    expect(await page.getByTestId('loop-round-2').locator('td').nth(2).textContent()).toBe('6');

    // Each round's 6 candidate sets once, in spite of the reload; its evaluation set to label.
    await page.getByTestId('nav-data').click();
    for (const k of [1, 2]) expect(await page.locator(`[data-testid="dataset-item"][data-name="loop · round ${k} candidates"]`).getAttribute('data-total')).toBe('6');
    expect(await page.locator('[data-testid="dataset-item"][data-name="loop · round 2 evaluation"]').getAttribute('data-total')).toBe('2');
    expect(errors).toEqual([]);
    expect(studio.offsite(requests)).toEqual([]);
  }, 900_000);
});
