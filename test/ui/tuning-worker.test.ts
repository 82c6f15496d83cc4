// The engine Worker's kernel tuning (src/worker/tuning.ts) in-process on the Node engine, with an
// in-memory OPFS and fake-indexeddb: untuned before a model; a software adapter keeps the safe
// kernels unless asked; asked, it measures the active model's shapes and caches the choice in
// IndexedDB, so a second request repeats it from there; a run's LoRA passes are measured at its
// rank before it trains (once measuring was asked for); a forced variant is applied, a bad one
// refused naming it.
import 'fake-indexeddb/auto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '#test-engine';
import { openWorkspace, type PrefDb } from '../../src/db/index.js';
import { ModelStore } from '../../src/services/model-store.js';
import type { ModelFileEntry } from '../../src/worker/protocol.js';
import { fakeRoot } from './models-fake-opfs.js';

vi.mock('../../src/engine/browser.js', async () => {
  const { testEngine: engine } = await import('#test-engine');
  return { createBrowserEngine: engine };
});

const { importModel, getActiveModel, unloadModel, useModelStore } = await import('../../src/worker/models.js');
const { forceKernelVariants, kernelTuningReport, tuneActiveModel, tuneForTraining } = await import('../../src/worker/tuning.js');

const LLAMA = new URL('../fixtures/models/tiny-llama/', import.meta.url).pathname;
// A budget that covers every variant's compile on a software adapter with a cold shader cache
// under load (seconds each; 150 s in all was seen), so every shape is measured and cached.
const BUDGET_MS = 400_000;

async function files(dir: string): Promise<ModelFileEntry[]> {
  const out: ModelFileEntry[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile() && !['reference.json', 'weights.json'].includes(e.name)) {
      out.push({ path: `tiny-llama/${e.name}`, file: new File([await readFile(join(dir, e.name))], e.name) });
    }
  }
  return out;
}

describe('kernel tuning in the engine Worker', () => {
  let db: PrefDb | null = null;
  const workspace = async () => (db ??= await openWorkspace(`tuning-worker-${Math.random()}`));
  afterAll(async () => {
    const a = getActiveModel();
    if (a) await unloadModel(a.id);
    const engine = await testEngine();
    engine.choices.clear();
    engine.choices.forced = {};
    engine.pool.trim();
    db?.close();
  });

  it('tunes the active model on request, caches in IndexedDB, forces variants', async () => {
    expect((await tuneActiveModel(workspace)).state).toBe('untuned');
    useModelStore(new ModelStore(fakeRoot().provider));
    await importModel({ kind: 'files', files: await files(LLAMA), label: 'tiny-llama' }, new AbortController().signal);

    // The test adapter is a software one: nothing is measured unless asked.
    const auto = await tuneActiveModel(workspace);
    expect(auto.state).toBe('software');
    expect(auto.choices).toEqual([]);
    // Nor before a run.
    const run = { per_device_train_batch_size: 4, max_length: 32, lora: { r: 4 } } as Parameters<typeof tuneForTraining>[3];
    const skipped: string[] = [];
    await tuneForTraining(await testEngine(), await workspace(), getActiveModel()!.model, run, (l) => skipped.push(l), BUDGET_MS);
    expect(skipped).toEqual([]);
    expect((await kernelTuningReport()).choices).toEqual([]);

    const measured = await tuneActiveModel(workspace, true, BUDGET_MS);
    expect(measured.state, measured.note).toBe('measured');
    expect(measured.choices.length).toBeGreaterThan(0);
    expect(measured.progress.length).toBeGreaterThan(0);
    expect(await db!.kernelTuning.count()).toBe(1);
    const cached = await tuneActiveModel(workspace, true, BUDGET_MS);
    expect(cached.state).toBe('cached');
    expect(cached.choices).toEqual(measured.choices);

    // Once measuring was asked for, a run's LoRA passes are measured at its rank and rows (256 =
    // 4 pairs of 32 tokens: the rows the model was tuned at, so its other kernels come from the
    // cache); a second run of the same shape finds them all in the cache and logs nothing.
    const lines: string[] = [];
    await tuneForTraining(await testEngine(), await workspace(), getActiveModel()!.model, run, (l) => lines.push(l), BUDGET_MS);
    const cfg = getActiveModel()!.model.config;
    expect(lines.some((l) => l.includes(`lora_xa M=256 C=${cfg.hidden} R=4`)), lines.join('\n')).toBe(true);
    expect(lines.some((l) => l.includes('matmul_forward')), lines.join('\n')).toBe(false);
    const afterRun = (await kernelTuningReport()).choices;
    for (const k of ['lora_xa', 'lora_dyb', 'lora_grad', 'attention_backward']) expect(afterRun.some((c) => c.kernel === k), k).toBe(true);
    expect(afterRun.filter((c) => c.kernel === 'lora_grad').every((c) => c.complete !== false)).toBe(true);
    const again: string[] = [];
    await tuneForTraining(await testEngine(), await workspace(), getActiveModel()!.model, run, (l) => again.push(l), BUDGET_MS);
    expect(again).toEqual([]);

    const forced = await forceKernelVariants('matmul_forward=tiled8');
    expect(forced.forced).toEqual({ matmul_forward: 'tiled8' });
    expect((await testEngine()).choices.name('matmul_forward', 9, 16, 16)).toBe('tiled8');
    await expect(forceKernelVariants('matmul_forward=warp')).rejects.toThrow(/"warp" of matmul_forward does not exist/);
    expect((await forceKernelVariants('')).forced).toEqual({});
    expect((await kernelTuningReport()).variants.some((v) => v.name === 'tiled8' && v.whyNot === null)).toBe(true);
  }, 900_000); // every variant's compile: minutes with a cold shader cache (a fresh CI machine) under load
});
