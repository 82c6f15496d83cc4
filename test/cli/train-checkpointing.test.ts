// gradient_checkpointing on the command line (issue 12): --gradient-checkpointing sets it on,
// --no-gradient-checkpointing off, neither leaves it automatic (the registry's default, null);
// through the real CLI, automatic is on exactly when --memory-budget holds the run with it and not
// without it, the run's line says so, training_config.json records the effective value (the
// checkpoint keeps the setting as given, so --resume finds the same configuration), and an
// explicit --no-gradient-checkpointing under that budget still fails with the advice to turn it on.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_FLAGS, UsageError, configFrom, flagsHelp, parseFlags } from '../../src/cli/train.js';
import { decodeCheckpoint } from '../../src/engine/training/trainer.js';
import { TINY_LLAMA } from '../model/helpers.js';
import { runCli } from '../support/cli.js';
import { failsWith } from '../support/cli-checks.js';

const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'prefstudio-ckpt-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = (args: string[]) => configFrom({ ...parseFlags(args, []).config, method: 'dpo' });

describe('--gradient-checkpointing / --no-gradient-checkpointing', () => {
  it('on, off, or automatic when neither is given; --no- works for every switch and nothing else', () => {
    expect(config([]).gradient_checkpointing).toBeNull();
    expect(config(['--gradient-checkpointing']).gradient_checkpointing).toBe(true);
    expect(config(['--no-gradient-checkpointing']).gradient_checkpointing).toBe(false);
    // The last one given wins, as for any flag.
    expect(config(['--gradient-checkpointing', '--no-gradient-checkpointing']).gradient_checkpointing).toBe(false);
    expect(config(['--no-rslora']).lora.use_rslora).toBe(false);
    expect(config(['--rslora']).lora.use_rslora).toBe(true);
    expect(CONFIG_FLAGS['--no-gradient-checkpointing']).toBeUndefined();
    expect(() => parseFlags(['--no-beta'], [])).toThrow(UsageError);
    expect(() => parseFlags(['--no-beta'], [])).toThrow('unknown option --no-beta');
    expect(flagsHelp()).toMatch(/\n {2}--\[no-\]gradient-checkpointing +\[gradient_checkpointing\] default auto\n +Keep only each layer's input/);
  });
});

/** A size as formatBytes writes it ("3.36 MiB"), in bytes. */
function bytes(text: string): number {
  const m = /^([\d.]+) (B|KiB|MiB|GiB)$/.exec(text);
  if (!m) throw new Error(`not a size: ${text}`);
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(m[2]!);
}

describe('automatic gradient checkpointing through prefstudio train', () => {
  const base = ['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--steps', '1', '--batch-size', '4'];
  let budget = 0;

  it('a budget neither estimate fits: one line naming both totals', async () => {
    // 1 MiB holds the weights and the adapter (checked before the Trainer), not the activations.
    const r = await runCli([...base, '--memory-budget', '1MiB', '--out', join(root, 'none')], { timeoutMs: 120_000 });
    failsWith(r, 1, /^prefstudio train: this run needs about [\d.]+ MiB of GPU memory without gradient checkpointing and about [\d.]+ MiB with it \(.*\), both more than the budget of 1\.00 MiB \(set by memory_budget_bytes\): lower per_device_train_batch_size .* or max_length$/);
    const m = /about ([\d.]+ MiB) of GPU memory without gradient checkpointing and about ([\d.]+ MiB) with it/.exec(r.stderr)!;
    const [without, withIt] = [bytes(m[1]!), bytes(m[2]!)];
    expect(withIt).toBeLessThan(without - 0.1 * 2 ** 20);
    budget = Math.round((without + withIt) / 2);
  }, 120_000);

  it('a budget between the two: on, said, and recorded in training_config.json', async () => {
    expect(budget).toBeGreaterThan(0);
    const out = join(root, 'auto');
    const r = await runCli([...base, '--memory-budget', String(budget), '--out', out], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/budget \(set by memory_budget_bytes\); gradient checkpointing: on \(automatic: the run does not fit without it, about [\d.]+ MiB\)\n/);
    expect(JSON.parse(readFileSync(join(out, 'training_config.json'), 'utf8')).gradient_checkpointing).toBe(true);
    expect(decodeCheckpoint(new Uint8Array(readFileSync(join(out, 'checkpoint.safetensors')))).config.gradient_checkpointing).toBeNull();
  }, 180_000);

  it('--no-gradient-checkpointing under the same budget fails as before, advising to turn it on', async () => {
    const r = await runCli([...base, '--memory-budget', String(budget), '--no-gradient-checkpointing', '--out', join(root, 'off')], { timeoutMs: 120_000 });
    failsWith(r, 1, /^prefstudio train: this run needs about [\d.]+ MiB of GPU memory \(.*\), more than the budget of [\d.]+ MiB \(set by memory_budget_bytes\): turn on gradient_checkpointing, lower per_device_train_batch_size/);
  }, 120_000);
});
