// Soak run (not a test): many optimizer steps of a DPO run on the demo model in Node through Dawn,
// with the engine's Trainer wired as `prefstudio train` wires it (src/cli/train.ts), checking that
// neither GPU memory (the engine's buffer pool) nor JS memory grows with the step count.
//
//   npm run soak                                  # 2,000 steps, batch 1, max_length 32
//   npm run soak -- --steps 500 --batch-size 2 --max-length 48 --json soak.json
//
// Memory is sampled after the first step, every --every steps and at the end, after a forced GC
// (the script re-runs itself under --expose-gc). The pool keeps buffers by size bucket, so it
// grows while new sequence lengths come up in the first steps; growth is judged from the first
// sample at --every steps (warm) to the end. A checkpoint is taken every --save-steps, as the studio does, so its read-backs
// are soaked too. Exit 1 when memory grows past the tolerances below, printing what grew.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configFrom, openSession, readModel, readRecords, sessionTrainerOptions, tokenizeForRun } from '../src/cli/train.js';
import { Trainer, encodeCheckpoint } from '../src/engine/training/trainer.js';
import { lavapipeIcd } from './lavapipe.mjs';

// The GPU pool must not hold one byte more at the end than after warm-up; the JS heap may wander
// (V8's own caches, the metrics history of a few hundred bytes per step) but not trend.
const GPU_GROWTH_BYTES = 0;
const HEAP_GROWTH_BYTES = 24 * 1024 * 1024;
const RSS_GROWTH_BYTES = 96 * 1024 * 1024;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc && !process.env.PREFSTUDIO_SOAK_CHILD) {
  // Without --expose-gc the heap figures would be noise: run again with it.
  // Mesa's lavapipe where set up (4-7x faster than SwiftShader here), unless a driver is chosen.
  const icd = process.env.VK_ICD_FILENAMES ?? lavapipeIcd();
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, PREFSTUDIO_SOAK_CHILD: '1', ...(icd ? { VK_ICD_FILENAMES: icd } : {}) },
  });
  process.exit(r.status ?? 1);
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const steps = Number(flag('--steps', '2000'));
const every = Number(flag('--every', '250'));
const batch = Number(flag('--batch-size', '1'));
const maxLength = Number(flag('--max-length', '32'));
const saveSteps = Number(flag('--save-steps', '500'));
const modelDir = flag('--model', `${ROOT}public/models/demo-fortunes`);
const dataFile = flag('--data', `${ROOT}public/datasets/demo-fortunes-positive.jsonl`);
const jsonOut = process.argv.includes('--json') ? flag('--json', 'soak.json') : null;

interface Sample {
  step: number;
  seconds: number;
  gpuAllocated: number;
  gpuInUse: number;
  gpuPeak: number;
  gpuBuffers: number;
  heapUsed: number;
  rss: number;
}

const MiB = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`;

async function main(): Promise<number> {
  const tag = 'soak';
  const config = configFrom({
    method: 'dpo',
    max_steps: steps,
    per_device_train_batch_size: batch,
    // Reference log-probs in batches of 8, as the studio's form does.
    per_device_eval_batch_size: Math.max(8, batch),
    max_length: maxLength,
    learning_rate: 1e-4,
    save_steps: saveSteps,
  });
  const records = await readRecords(dataFile, tag);
  const loaded = await readModel(modelDir, tag);
  // Training split only: an evaluation at the end would add nothing to the soak.
  const examples = tokenizeForRun(records, loaded, config, tag, dataFile).filter((e) => e.split === 'train');
  const session = await openSession(loaded, config, tag);
  const { engine } = session;
  const samples: Sample[] = [];
  const t0 = performance.now();
  const sample = (step: number) => {
    gc?.();
    const s = engine.pool.stats;
    const mem = process.memoryUsage();
    const row: Sample = {
      step,
      seconds: (performance.now() - t0) / 1000,
      gpuAllocated: s.bytesAllocated,
      gpuInUse: s.bytesInUse,
      gpuPeak: s.peakBytesAllocated,
      gpuBuffers: s.buffersAllocated,
      heapUsed: mem.heapUsed,
      rss: mem.rss,
    };
    samples.push(row);
    process.stdout.write(
      `step ${String(step).padStart(5)}  ${row.seconds.toFixed(0).padStart(5)} s  GPU allocated ${MiB(row.gpuAllocated)} in use ${MiB(row.gpuInUse)} ` +
        `peak ${MiB(row.gpuPeak)} (${row.gpuBuffers} buffers)  JS heap ${MiB(row.heapUsed)} rss ${MiB(row.rss)}\n`,
    );
  };
  try {
    const trainer = await Trainer.create(await sessionTrainerOptions(session, loaded, config, examples, tag));
    process.stdout.write(`soak: ${trainer.totalSteps} DPO steps, batch ${batch}, max_length ${maxLength}, ${examples.length} training pairs, GPU ${engine.report.vendor}/${engine.report.architecture}\n`);
    let lastLoss = NaN;
    await trainer.run(
      (m) => {
        lastLoss = m.loss ?? NaN;
        if (m.step === 1 || m.step % every === 0 || m.step === trainer.totalSteps) sample(m.step);
      },
      // Encoded as the studio stores it, then dropped.
      { onCheckpoint: (c) => void encodeCheckpoint(c) },
    );
    if (!Number.isFinite(lastLoss)) throw new Error(`the loss is ${lastLoss} at the end`);
    trainer.destroy();
  } finally {
    session.close();
  }

  const first = samples.find((s) => s.step >= every) ?? samples[0]!;
  const last = samples.at(-1)!;
  const problems: string[] = [];
  if (last.gpuAllocated - first.gpuAllocated > GPU_GROWTH_BYTES) problems.push(`GPU pool grew from ${MiB(first.gpuAllocated)} to ${MiB(last.gpuAllocated)}`);
  if (last.gpuPeak > first.gpuPeak) problems.push(`GPU peak grew from ${MiB(first.gpuPeak)} to ${MiB(last.gpuPeak)}`);
  if (last.gpuInUse - first.gpuInUse > GPU_GROWTH_BYTES) problems.push(`GPU bytes in use grew from ${MiB(first.gpuInUse)} to ${MiB(last.gpuInUse)}`);
  if (last.heapUsed - first.heapUsed > HEAP_GROWTH_BYTES) problems.push(`JS heap grew from ${MiB(first.heapUsed)} to ${MiB(last.heapUsed)}`);
  if (last.rss - first.rss > RSS_GROWTH_BYTES) problems.push(`RSS grew from ${MiB(first.rss)} to ${MiB(last.rss)}`);
  // A steady climb between samples is a leak even when under the tolerance.
  const warm = samples.filter((s) => s.step >= first.step);
  const mid = warm[Math.floor(warm.length / 2)]!;
  if (warm.length >= 5 && last.heapUsed - mid.heapUsed > HEAP_GROWTH_BYTES / 2) problems.push(`JS heap still climbing in the second half: ${MiB(mid.heapUsed)} → ${MiB(last.heapUsed)}`);

  const secondsPerStep = (last.seconds - first.seconds) / Math.max(1, last.step - first.step);
  process.stdout.write(`soak: ${last.step} steps in ${last.seconds.toFixed(0)} s (${secondsPerStep.toFixed(3)} s/step); growth judged from step ${first.step} to ${last.step}\n`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ steps, batch, maxLength, saveSteps, adapter: engine.report, samples, problems }, null, 2) + '\n');
  if (problems.length) {
    process.stderr.write(`soak: FAILED, memory grew:\n  ${problems.join('\n  ')}\n`);
    return 1;
  }
  process.stdout.write('soak: no growth in GPU or JS memory\n');
  return 0;
}

process.exitCode = await main().catch((e: Error) => {
  process.stderr.write(`soak: ${e.stack ?? e.message}\n`);
  return 1;
});
