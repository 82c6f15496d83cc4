// The demo promise of issue 5, end to end through the CLI: on the bundled demo model and demo
// dataset, a short DPO run (`prefstudio train`, 10 steps of 8 pairs) raises held-out
// rewards/accuracies clearly above chance, and the tuned adapter's samples show the learned
// preference: fewer gloomy words, a larger share of hopeful ones (scored with the lexicon the
// dataset was built from, scripts/demo-model/tone-lexicon.json). Same prompts, same seeds, with
// and without the adapter (`prefstudio sample`).
//
// Runs on Mesa's lavapipe where it is set up (the node project; about 2 minutes there, five
// times that on SwiftShader). PyTorch on the same recipe (scripts/demo-model/dpo_sweep.py) gives
// held-out accuracy 0.84-0.89 over five seeds.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compareSamples } from '../../scripts/demo-preference-samples.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/prefstudio.mjs');
const MODEL = join(ROOT, 'public/models/demo-fortunes');
const DATA = join(ROOT, 'public/datasets/demo-fortunes-positive.jsonl');
const run = promisify(execFile);

let out = '';
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('demo learning check', () => {
  it('a short DPO run on the demo raises held-out accuracy well above chance, and its samples turn hopeful', async () => {
    out = await mkdtemp(join(tmpdir(), 'prefstudio-demo-'));
    const adapter = join(out, 'adapter');
    // The held-out split is evaluated once, at the end, in one batch.
    const test = (await readFile(DATA, 'utf8')).split('\n').filter((l) => l.includes('"split": "test"')).length;
    await run(process.execPath, [
      BIN, 'train', '--model', MODEL, '--data', DATA, '--method', 'dpo', '--lr', '1e-2', '--steps', '10',
      '--batch-size', '8', '--eval-batch-size', String(test), '--max-length', '32', '--lora-r', '8', '--lora-alpha', '16',
      '--targets', 'all-linear', '--seed', '1', '--out', adapter,
    ], { maxBuffer: 16 << 20 });

    const metrics = (await readFile(join(adapter, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const last = metrics.at(-1)!;
    console.log(`[demo] held out after 10 steps: ${JSON.stringify({ accuracy: last['eval_rewards/accuracies'], margin: last['eval_rewards/margins'], loss: last.eval_loss })}`);
    // Untrained, every reward is 0 (LoRA B starts at zero): chance is 0.5, the loss log 2.
    expect(last['eval_rewards/accuracies']).toBeGreaterThanOrEqual(0.75);
    expect(last['eval_rewards/margins']).toBeGreaterThan(0.1);
    expect(last.eval_loss).toBeLessThan(Math.log(2) - 0.1);
    expect(last['eval_rewards/chosen']).toBeGreaterThan(last['eval_rewards/rejected']!);

    // All rows of a side in one GPU batch: half the time of batches of 16 on lavapipe. Three
    // samples a prompt, not four (a quarter less sampling, about 17 s of CPU here). Margins with
    // this adapter on lavapipe, 2026-12-07 (gloomy tuned / base <= 0.6; hopeful share rise >= 0.1;
    // base gloomy > 10): n = 3, seed 0 (this test): 0.37, +0.19, 35; n = 3, seed 1: 0.39, +0.25,
    // 28; n = 4, seed 1: 0.35, +0.21, 37; n = 4, seed 0 (before): 0.16, +0.38, 45. n = 2 left
    // 16 base gloomy words, too close to 10.
    const N = 3;
    const s = await compareSamples({ adapter, n: N, maxNewTokens: 32, seed: 0, batch: 256 });
    console.log(`[demo] samples: ${JSON.stringify({ ...s, examples: undefined })}`);
    expect(s.prompts).toBe(test);
    expect(s.samples).toBe(N * test);
    const share = (w: { hopeful: number; gloomy: number }) => w.hopeful / (w.hopeful + w.gloomy);
    // DPO pushes the rejected words down more than it pulls the chosen ones up (both log-probs
    // fall, as TRL runs show too): the robust signs are fewer gloomy words and a larger hopeful
    // share; the mean tone per sample rose on 2 of 3 training seeds and stayed level on one.
    expect(s.wordsBase.gloomy).toBeGreaterThan(10); // the base model does use gloomy words
    expect(s.wordsTuned.gloomy).toBeLessThanOrEqual(0.6 * s.wordsBase.gloomy);
    expect(share(s.wordsTuned)).toBeGreaterThanOrEqual(share(s.wordsBase) + 0.1);
  }, 900_000);
});
