// Methods in the built studio (test/support/e2e.ts), on the demo model and a shared fixture, with
// tiny settings for a software GPU:
// - cDPO against DPO: two runs from the Train page on the same data, seed and settings (batch 1,
//   so each step's loss is one pair's). At step 1 a fresh LoRA adapter has B = 0, so the policy is
//   the reference: both losses are log 2, and cDPO's gradient is (1 - 2ε) times DPO's (grad_norm
//   is logged before clipping, optimizer.ts). At step 2 each loss is its formula of the logged
//   margin m = β·Δ: DPO -log σ(m), cDPO -(1-ε) log σ(m) - ε log σ(-m) = DPO's + ε·m. The runs'
//   metrics are read from their rows in IndexedDB, through the page.
// - A pair labelled "both bad" on the Label page (key B) is left out of DPO with its reason (the
//   Train page's plan) and out of the TRL preference export, and is two undesirable examples for
//   KTO: the plan counts 2 more examples for it, the unpaired (KTO) export has two label-false rows.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { RunRow } from '../../src/db/runs-types.js';
import { OBJECTIVE_SETTINGS } from '../../src/engine/methods/settings.js';
import { SHARED_DATASETS, importDataset, useStudio } from '../support/e2e.js';

const studio = useStudio('methods');
const ZEN = join(SHARED_DATASETS, 'trl-zen/zen_standard_preference.jsonl');
const ZEN_STEPS = join(SHARED_DATASETS, 'trl-zen/zen_standard_stepwise_supervision.jsonl');
const LABELS = 'zen_standard_preference · labels';

async function openStudio(file = ZEN) {
  const opened = await studio.open('#/models', { viewport: { width: 1280, height: 1000 }, timeout: 30_000 });
  await opened.page.locator('[data-testid="model-row-demo-fortunes"][data-loaded="true"]').waitFor({ timeout: 90_000 });
  await opened.page.getByTestId('nav-data').click();
  await importDataset(opened.page, file);
  return opened;
}

/** The Label page on a dataset, as annotator "methods"; returns the task element. */
async function startLabelling(page: Page, dataset: string) {
  await page.getByTestId('nav-label').click();
  await selectOption(page, 'label-source', dataset);
  await page.getByTestId('annotator').fill('methods');
  await page.getByTestId('annotator').press('Enter');
  const task = page.getByTestId('label-task');
  await task.waitFor();
  return task;
}

async function selectOption(page: Page, testId: string, text: string) {
  const select = page.getByTestId(testId);
  const value = await select.locator('option', { hasText: text }).first().getAttribute('value');
  await select.selectOption(value!);
}

/** Train page on a dataset with the method's form and tiny settings; `fields` are test-id suffixes. */
async function trainForm(page: Page, o: { dataset: string; method: string; fields: Record<string, string> }) {
  await page.getByTestId('nav-train').click();
  await page.locator('[data-testid="train-model"][data-loaded="true"]').waitFor({ timeout: 90_000 });
  await selectOption(page, 'train-dataset', o.dataset);
  await page.getByTestId('train-method').selectOption(o.method);
  if ((await page.getByTestId('train-advanced').getAttribute('aria-expanded')) !== 'true') await page.getByTestId('train-advanced').click();
  for (const [path, value] of Object.entries(o.fields)) await page.getByTestId(`train-field-${path}`).fill(value);
}

/** Estimates the run and returns the plan's text. */
async function plan(page: Page): Promise<string> {
  await page.getByTestId('train-plan-button').click();
  await expect.poll(() => page.getByTestId('train-memory').textContent(), { timeout: 60_000 }).toMatch(/Estimated GPU memory/);
  return (await page.getByTestId('train-plan').textContent()) ?? '';
}

/** The workspace's training runs, as stored (IndexedDB 'prefstudio', read in the page). */
function storedRuns(page: Page): Promise<RunRow[]> {
  return page.evaluate(
    () =>
      new Promise<RunRow[]>((resolve, reject) => {
        const open = indexedDB.open('prefstudio');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const all = db.transaction('runs').objectStore('runs').getAll();
          all.onsuccess = () => {
            db.close();
            resolve(all.result as RunRow[]);
          };
          all.onerror = () => reject(all.error);
        };
      }),
  );
}

/** Downloads a dataset of the Data page in an export format; returns its JSONL rows. */
async function exportRows(page: Page, dataset: string, target: string): Promise<Record<string, unknown>[]> {
  await page.getByTestId('nav-data').click();
  const item = page.getByTestId('dataset-item').filter({ hasText: dataset });
  await item.getByTestId('export-target').selectOption(target);
  const [download] = await Promise.all([page.waitForEvent('download'), item.getByTestId('export-button').click()]);
  return (await readFile((await download.path())!, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));

describe('methods in the built studio', () => {
  it('cDPO (ε = 0.1) against DPO on the same data, seed and settings: log 2 and a (1 - 2ε) gradient at step 1, each formula at step 2', async () => {
    const EPS = 0.1;
    const { page, errors } = await openStudio();
    const settings = { max_steps: '2', per_device_train_batch_size: '1', learning_rate: '0.05', max_length: '32' };
    for (const method of ['dpo', 'cdpo']) {
      await trainForm(page, { dataset: 'zen_standard_preference —', method, fields: method === 'cdpo' ? { ...settings, label_smoothing: String(EPS) } : settings });
      await page.getByTestId('train-name').fill(`methods ${method}`);
      await plan(page);
      await page.getByTestId('train-start').click();
      const run = page.getByTestId('train-run').filter({ hasText: `methods ${method}` });
      await expect.poll(() => run.getAttribute('data-status'), { timeout: 120_000, interval: 250 }).toBe('done');
    }
    const runs = await storedRuns(page);
    const byName = (name: string) => runs.find((r) => r.name === name)!;
    const dpo = byName('methods dpo');
    const cdpo = byName('methods cdpo');
    // Same run but for the loss: method, its loss type and ε.
    expect(cdpo.config).toMatchObject({ method: 'cdpo', label_smoothing: EPS, seed: dpo.config.seed, learning_rate: 0.05, per_device_train_batch_size: 1, max_length: 32 });
    // Only the objective differs (the method, its loss type, ε and the options that apply to one
    // method only); data, seed, optimizer and LoRA settings are the same.
    const value = (c: RunRow['config'], k: string) => (c as Record<string, unknown>)[k] ?? null;
    const differ = Object.keys({ ...dpo.config, ...cdpo.config }).filter((k) => JSON.stringify(value(dpo.config, k)) !== JSON.stringify(value(cdpo.config, k)));
    expect(differ).toEqual(expect.arrayContaining(['method', 'label_smoothing']));
    expect(differ.filter((k) => k !== 'method' && !(OBJECTIVE_SETTINGS as string[]).includes(k))).toEqual([]);
    expect(dpo.metrics.map((m) => m.step)).toEqual([1, 2]);
    expect(cdpo.metrics.map((m) => m.step)).toEqual([1, 2]);

    const metric = (m: RunRow['metrics'][number] | undefined, key: 'loss' | 'grad_norm' | 'rewards/margins') => {
      const v = m?.[key];
      if (typeof v !== 'number') throw new Error(`no ${key} logged at step ${m?.step}`);
      return v;
    };
    const [d1, d2] = dpo.metrics;
    const [c1, c2] = cdpo.metrics;
    const md = metric(d2, 'rewards/margins');
    const mc = metric(c2, 'rewards/margins');
    console.log(
      `[methods] DPO loss ${metric(d1, 'loss')}, ${metric(d2, 'loss')} grad_norm ${metric(d1, 'grad_norm')} margin ${md}; ` +
        `cDPO loss ${metric(c1, 'loss')}, ${metric(c2, 'loss')} grad_norm ${metric(c1, 'grad_norm')} margin ${mc}`,
    );
    // Step 1: policy = reference.
    expect(Math.abs(metric(d1, 'loss') - Math.LN2)).toBeLessThan(1e-4);
    expect(Math.abs(metric(c1, 'loss') - Math.LN2)).toBeLessThan(1e-4);
    expect(metric(d1, 'grad_norm')).toBeGreaterThan(0);
    expect(Math.abs(metric(c1, 'grad_norm') / metric(d1, 'grad_norm') - (1 - 2 * EPS))).toBeLessThan(1e-3 * (1 - 2 * EPS));
    // Step 2: each loss is its formula of its own logged margin (f32 on the GPU: 1e-5), far
    // tighter than the ε·m between the two formulas; Adam's first step barely depends on the
    // gradient's scale, so both runs reach the same margin, and cDPO's loss is DPO's + ε·m.
    expect(Math.abs(md)).toBeGreaterThan(2e-3);
    expect(Math.abs(metric(d2, 'loss') - -logSigmoid(md))).toBeLessThan(1e-5);
    expect(Math.abs(metric(c2, 'loss') - (-(1 - EPS) * logSigmoid(mc) - EPS * logSigmoid(-mc)))).toBeLessThan(1e-5);
    expect(Math.abs(mc - md)).toBeLessThan(1e-2 * Math.abs(md));
    expect(Math.abs(metric(c2, 'loss') - metric(d2, 'loss'))).toBeGreaterThan(1e-4);
    expect(Math.abs(metric(c2, 'loss') - metric(d2, 'loss') - EPS * md)).toBeLessThan(0.05 * EPS * Math.abs(md));
    expect(errors).toEqual([]);
  }, 300_000);

  it('a pair labelled both bad: left out of DPO with its reason and of the TRL export, two undesirable rows for KTO', async () => {
    const { page, errors } = await openStudio();
    const task = await startLabelling(page, 'zen_standard_preference (');
    let bothBad = '';
    for (const key of ['ArrowLeft', 'b', 'ArrowRight']) {
      const before = await task.getAttribute('data-task-key');
      if (key === 'b') bothBad = ((await page.getByTestId('label-prompt').textContent()) ?? '').trim();
      await page.keyboard.press(key);
      await expect.poll(() => task.getAttribute('data-task-key')).not.toBe(before);
    }
    expect(await page.getByTestId('label-progress').getAttribute('data-labelled')).toBe('3');
    const source = (await readFile(ZEN, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; chosen: string; rejected: string });
    const line = source.findIndex((r) => r.prompt.trim() === bothBad) + 1;
    expect(line).toBeGreaterThan(0);

    // DPO: the two preferences train; the both-bad pair is left out, with the reason.
    const fields = { per_device_train_batch_size: '2', max_steps: '1', max_length: '32' };
    await trainForm(page, { dataset: LABELS, method: 'dpo', fields });
    const dpoPlan = await plan(page);
    expect(dpoPlan).toContain('2 training and 0 held-out examples, 1 records left out');
    expect(dpoPlan).toContain(`line ${line}: both responses are bad: there is no preferred one`);
    // KTO: each preference gives two examples, and the both-bad pair two more (both undesirable).
    await page.getByTestId('train-method').selectOption('kto');
    const ktoPlan = await plan(page);
    expect(ktoPlan).toContain(`${2 * 2 + 2} training and 0 held-out examples;`);
    expect(ktoPlan).not.toContain('left out');

    const trl = await exportRows(page, LABELS, 'trl');
    expect(trl).toHaveLength(2);
    expect(trl.map((r) => (r.prompt as string).trim())).not.toContain(bothBad);
    const kto = await exportRows(page, LABELS, 'kto');
    expect(kto).toHaveLength(6);
    const bad = kto.filter((r) => (r.prompt as string).trim() === bothBad);
    const original = source[line - 1]!;
    expect(bad.map((r) => r.label)).toEqual([false, false]);
    expect(bad.map((r) => r.completion).sort()).toEqual([original.chosen, original.rejected].sort());
    expect(kto.filter((r) => r.label === true)).toHaveLength(2);
    expect(errors).toEqual([]);
  }, 300_000);

  it('step labels by keyboard: a first wrong step says what step_dpo lacks, G generates its correction, Enter saves; 0 says so too; the step_dpo plan keeps the corrected one', async () => {
    const { page, errors } = await openStudio(ZEN_STEPS);
    const task = await startLabelling(page, 'zen_standard_stepwise_supervision (');
    expect(await task.getAttribute('data-mode')).toBe('steps');
    const progress = page.getByTestId('label-progress');

    // Step 1 is the first wrong one: marked, not saved, and the page says what step_dpo lacks.
    await page.keyboard.press('1');
    await expect.poll(() => page.getByTestId('step-gap').textContent()).toMatch(/Step 1 marked as the first wrong one: the first wrong step has no correction: step_dpo needs/);
    expect(await progress.getAttribute('data-labelled')).toBe('0');
    // G: the demo model writes the step (one line), into the field, where it can be edited.
    await page.keyboard.press('g');
    const correction = page.getByTestId('step-correction');
    await expect.poll(() => correction.inputValue(), { timeout: 120_000 }).not.toBe('');
    expect(await correction.inputValue()).not.toContain('\n');
    expect(await page.getByTestId('step-gap').count()).toBe(0);
    const key = await task.getAttribute('data-task-key');
    await page.keyboard.press('Enter');
    await expect.poll(() => task.getAttribute('data-task-key')).not.toBe(key);
    expect(await progress.getAttribute('data-labelled')).toBe('1');
    expect(await page.getByTestId('label-step-gap').count()).toBe(0);

    // 0: every step right, saved at once, with what step_dpo lacks said under the next task.
    await page.keyboard.press('0');
    await expect.poll(() => page.getByTestId('label-step-gap').textContent()).toMatch(/every step is marked right: step_dpo needs a wrong step/);
    expect(await progress.getAttribute('data-labelled')).toBe('2');

    await trainForm(page, { dataset: 'zen_standard_stepwise_supervision · labels', method: 'step_dpo', fields: { max_steps: '1', max_length: '32' } });
    const stepPlan = await plan(page);
    expect(stepPlan).toContain('1 training and 0 held-out examples, 1 records left out');
    expect(stepPlan).toMatch(/line 2: every step is marked right/);
    expect(errors).toEqual([]);
  }, 300_000);
});
