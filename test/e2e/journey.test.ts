// A first-time user's journeys through the built studio in headless Chromium (test/support/e2e.ts):
// DPO: the demo model loads, a shared fixture is imported on the Data page, three pairs are
// labelled with the keyboard, a 4-step DPO run trains on those labels with a live loss chart (a
// reload mid-run and the resume from its checkpoint: test/e2e/static-offline.test.ts, which runs
// the same DPO journey and reloads offline), the Evaluate page scores base against the tuned run,
// and the run's adapter downloads as a PEFT zip whose files are checked as PEFT writes them (the Export page offers the run and its PEFT download is the same files). KTO: thumbs up/down on unpaired completions, then a 2-step KTO run on them.
// Both assert that no request left the local server. Tiny settings for a software GPU.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ROOT, SHARED_DATASETS, useStudio } from '../support/e2e.js';
import { importFile, label, points, selectOption, startLabelling, startRun } from '../support/journey.js';

const studio = useStudio('journey');
const ZEN_PAIRS = join(SHARED_DATASETS, 'trl-zen/zen_standard_preference.jsonl');
const ZEN_UNPAIRED = join(SHARED_DATASETS, 'trl-zen/zen_standard_unpaired_preference.jsonl');
const DEMO_CONFIG = join(ROOT, 'public/models/demo-fortunes/config.json');

/** safetensors: an 8-byte little-endian header length, then the JSON header (read by hand, not with our reader). */
function safetensorsHeader(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  delete header.__metadata__;
  return header as ReturnType<typeof safetensorsHeader>;
}

describe('first-time journeys in the built studio', () => {
  it('DPO: demo model, import, keyboard labels, a run with a live chart, evaluate, PEFT zip; nothing leaves the machine', async () => {
    const STEPS = 4;
    const { page, errors, requests } = await studio.open('#/models', { viewport: { width: 1280, height: 1000 }, timeout: 30_000 });
    await page.locator('[data-testid="model-row-demo-fortunes"][data-loaded="true"]').waitFor({ timeout: 90_000 });

    await importFile(page, ZEN_PAIRS);
    expect(await page.getByTestId('dataset-item').filter({ hasText: 'zen_standard_preference' }).first().getAttribute('data-total')).toBe('19');

    await startLabelling(page, 'zen_standard_preference');
    for (const key of ['ArrowLeft', 'ArrowRight', 'ArrowLeft']) await label(page, key);
    expect(await page.getByTestId('label-progress').getAttribute('data-labelled')).toBe('3');

    await startRun(page, { dataset: 'zen_standard_preference · labels', method: 'dpo', steps: STEPS, name: 'journey dpo', counts: /3 training and 0 held-out records/ });
    const run = page.getByTestId('train-run').first();
    await expect.poll(() => points(page), { timeout: 300_000, interval: 250 }).toBeGreaterThanOrEqual(1);
    expect(await run.getAttribute('data-status')).toBe('running');
    const before = await points(page);
    expect(before).toBeLessThan(STEPS);
    // The chart grows to the end of the run.
    await expect.poll(() => run.getAttribute('data-status'), { timeout: 300_000, interval: 500 }).toBe('done');
    expect(await points(page)).toBe(STEPS);
    expect(Number(await page.getByTestId('chart-loss').getAttribute('data-last-step'))).toBe(STEPS);

    // Export from the run: a PEFT adapter folder, zipped.
    const [download] = await Promise.all([page.waitForEvent('download'), run.getByTestId('train-download-adapter').click()]);
    expect(download.suggestedFilename()).toMatch(/adapter\.zip$/);
    const files = unzipSync(new Uint8Array(await readFile((await download.path())!)));
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const adapterConfig = JSON.parse(new TextDecoder().decode(files['adapter_config.json'])) as Record<string, unknown>;
    // The run's settings as the Train page shows them (the form's LoRA defaults).
    const runConfig = JSON.parse((await page.getByTestId('train-config').textContent())!) as { model: string; lora: { r: number; lora_alpha: number; lora_dropout: number } };
    expect(runConfig.lora.r).toBe(8);
    expect(adapterConfig).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: runConfig.model,
      r: runConfig.lora.r,
      lora_alpha: runConfig.lora.lora_alpha,
      lora_dropout: runConfig.lora.lora_dropout,
      fan_in_fan_out: false,
      inference_mode: true,
      bias: 'none',
    });
    expect([...(adapterConfig.target_modules as string[])].sort()).toEqual(['q_proj', 'v_proj']);
    const config = JSON.parse(await readFile(DEMO_CONFIG, 'utf8')) as Record<string, number>;
    const hidden = config.hidden_size!;
    const expected: Record<string, number[]> = {};
    for (let l = 0; l < config.num_hidden_layers!; l++) {
      const p = `base_model.model.model.layers.${l}.self_attn`;
      expected[`${p}.q_proj.lora_A.weight`] = [8, hidden];
      expected[`${p}.q_proj.lora_B.weight`] = [config.num_attention_heads! * config.head_dim!, 8];
      expected[`${p}.v_proj.lora_A.weight`] = [8, hidden];
      expected[`${p}.v_proj.lora_B.weight`] = [config.num_key_value_heads! * config.head_dim!, 8];
    }
    const st = files['adapter_model.safetensors']!;
    const header = safetensorsHeader(st);
    expect(Object.fromEntries(Object.entries(header).map(([k, v]) => [k, v.shape]))).toEqual(expected);
    const dataStart = 8 + Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
    let trainedB = 0;
    for (const [name, t] of Object.entries(header)) {
      expect(t.dtype).toBe('F32');
      expect(t.data_offsets[1] - t.data_offsets[0]).toBe(4 * t.shape[0]! * t.shape[1]!);
      const values = new Float32Array(st.slice(dataStart + t.data_offsets[0], dataStart + t.data_offsets[1]).buffer);
      expect(values.every(Number.isFinite)).toBe(true);
      // B starts at zero (PEFT's init): trained, some of it moved.
      if (name.includes('lora_B')) trainedB += values.some((v) => v !== 0) ? 1 : 0;
    }
    expect(trainedB).toBeGreaterThan(0);

    // The Export page offers the run; its base model comes from the library; its PEFT zip holds the same files.
    await page.getByTestId('nav-export').click();
    await selectOption(page, 'export-run', 'journey dpo');
    await expect.poll(() => page.getByTestId('export-adapter-summary').textContent(), { timeout: 60_000 }).toMatch(/journey dpo.*8 modules of the model/);
    expect(await page.getByTestId('export-model-library').inputValue()).toBe('demo-fortunes');
    const [fromExport] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-download-peft').click()]);
    expect(unzipSync(new Uint8Array(await readFile((await fromExport.path())!)))).toEqual(files);

    // Evaluate base against the tuned run on the imported pairs.
    await page.getByTestId('nav-evaluate').click();
    await selectOption(page, 'eval-dataset', 'zen_standard_preference (');
    await page.getByLabel('Split').selectOption('all');
    await page.getByLabel('Max length (tokens)').fill('64');
    await page.getByTestId('eval-adapters').getByLabel('journey dpo').check();
    await page.getByTestId('eval-run').click();
    const summary = page.getByTestId('eval-summary');
    await summary.waitFor({ timeout: 300_000 });
    const rows = summary.locator('tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).textContent()).toMatch(/\(base\)\s*19\s*0\.0 %\s*0\.0000/);
    expect(await rows.nth(1).textContent()).toMatch(/^journey dpo\s*19\s*\d+\.\d %/);

    expect(studio.offsite(requests)).toEqual([]);
    expect(requests.some((u) => u.includes('/models/demo-fortunes/'))).toBe(true);
    expect(errors).toEqual([]);
  }, 900_000);

  it('KTO: thumbs up and down by keyboard on unpaired completions, then a short KTO run on them; nothing leaves the machine', async () => {
    const { page, errors, requests } = await studio.open('#/models', { viewport: { width: 1280, height: 1000 }, timeout: 30_000 });
    await page.locator('[data-testid="model-row-demo-fortunes"][data-loaded="true"]').waitFor({ timeout: 90_000 });
    await importFile(page, ZEN_UNPAIRED);

    await startLabelling(page, 'zen_standard_unpaired_preference');
    expect(await page.getByTestId('label-task').getAttribute('data-mode')).toBe('single');
    for (const key of ['ArrowUp', 'ArrowDown', 'ArrowUp', 'ArrowDown']) await label(page, key);
    expect(await page.getByTestId('label-progress').getAttribute('data-labelled')).toBe('4');

    await startRun(page, { dataset: 'zen_standard_unpaired_preference · labels', method: 'kto', steps: 2, name: 'journey kto', counts: /4 training and 0 held-out records/ });
    const run = page.getByTestId('train-run').first();
    await expect.poll(() => run.getAttribute('data-status'), { timeout: 300_000, interval: 500 }).toBe('done');
    expect(await points(page)).toBe(2);
    expect(await page.getByTestId('train-config').textContent()).toMatch(/"method": "kto"/);

    expect(studio.offsite(requests)).toEqual([]);
    expect(errors).toEqual([]);
  }, 600_000);
});
