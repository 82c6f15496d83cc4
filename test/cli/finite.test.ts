// Finite numbers or a stop, through the real CLI on the real filesystem (issue 17): a learning
// rate that blows the weights up stops training at that step with the quantity and the likely
// cause, and writes nothing from the bad state (the last good checkpoint stays); corrupt and
// non-finite reference-cache entries are named by file; an adapter with a NaN, a transposed
// lora_A, or one whose merge overflows is refused by eval, sample and every export naming the
// tensor; crafted --resume checkpoints go through the command line's validation. Each case checks
// the exit code, the one-line message, the child's peak memory and the files that existed before.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainingConfig } from '../../src/engine/training/config.js';
import { readSafetensors } from '../../src/engine/training/peft.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainerCheckpoint } from '../../src/engine/training/trainer.js';
import { TINY_LLAMA } from '../model/helpers.js';
import { changes, runCli, snapshot } from '../support/cli.js';
import { failsWith, peakUnder } from '../support/cli-checks.js';

const ADAPTER = new URL('../fixtures/export/tiny-llama-adapter', import.meta.url).pathname;
const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;
const TRAIN_MS = 180_000;

const root = mkdtempSync(join(tmpdir(), 'prefstudio-finite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
};
const same = (before: ReturnType<typeof snapshot>, d: string) => expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });

/** The fixture adapter copied to `dir`, with `edit` applied to its safetensors (header JSON and a view of the bytes). */
function adapterWith(dir: string, edit: (header: Record<string, { shape: number[]; data_offsets: [number, number] }>, data: DataView, headerText: string) => string | void): string {
  cpSync(ADAPTER, dir, { recursive: true });
  const file = join(dir, 'adapter_model.safetensors');
  const bytes = new Uint8Array(readFileSync(file));
  const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + len));
  const header = JSON.parse(text) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
  const data = new DataView(bytes.buffer, 8 + len);
  const newText = edit(header, data, text);
  if (newText !== undefined) {
    const enc = new TextEncoder().encode(newText.padEnd(len, ' '));
    expect(enc.length, 'the edited header keeps its length').toBe(len);
    bytes.set(enc, 8);
  }
  writeFileSync(file, bytes);
  return dir;
}

const B_NAME = 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight';
const A_NAME = 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight';

describe('training stops at the first NaN or infinity, writing nothing from it', () => {
  let cache = '';

  it('train --lr 1e39: exit 1 at step 1 naming the weights and the learning rate; no adapter or checkpoint', async () => {
    const d = fresh();
    cache = join(d, 'cache');
    const before = snapshot(d);
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--lr', '1e39', '--steps', '3', '--batch-size', '2', '--save-steps', '1', '--ref-cache', cache, '--out', join(d, 'run')], { timeoutMs: TRAIN_MS });
    failsWith(r, 1, /^prefstudio train: step 1: LoRA weight base_model\.model\.\S+\.lora_[AB]\.weight after the update is (NaN|-?Infinity), so training stopped there; likely cause: the learning rate 1e\+39 is too high, as AdamW moves each weight by about the learning rate per step; no adapter or checkpoint was written to .*run$/);
    peakUnder(r, 1024);
    const { removed, changed, added } = changes(before, snapshot(d));
    expect({ removed, changed }).toEqual({ removed: [], changed: [] });
    expect(added).not.toContain('run/adapter_model.safetensors');
    expect(added).not.toContain('run/checkpoint.safetensors');
    expect(readdirSync(cache).length).toBeGreaterThan(0);
  }, TRAIN_MS);

  it('a learning rate that warms up into overflow: stops at the bad step, the last good checkpoint and adapter are kept as they were', async () => {
    const d = fresh();
    const run = join(d, 'run');
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--lr', '1e39', '--warmup-steps', '10', '--steps', '6', '--batch-size', '2', '--save-steps', '1', '--out', run], { timeoutMs: TRAIN_MS });
    failsWith(r, 1, /^prefstudio train: step (\d+): .* is (NaN|-?Infinity), so training stopped there; likely cause: the learning rate 1e\+39.*; the checkpoint and adapter of step (\d+) in .*run are kept \(resume with --resume .*checkpoint\.safetensors and a lower --lr\)$/);
    const [, bad, kept] = /step (\d+): .* step (\d+) in/.exec(r.stderr)!;
    expect(Number(kept)).toBe(Number(bad) - 1);
    const ck = decodeCheckpoint(new Uint8Array(readFileSync(join(run, 'checkpoint.safetensors'))));
    expect(ck.step).toBe(Number(kept));
    const adapter = readSafetensors(new Uint8Array(readFileSync(join(run, 'adapter_model.safetensors'))));
    for (const t of adapter.tensors.values()) expect(t.data.every(Number.isFinite), t.name).toBe(true);
    peakUnder(r, 1024);
  }, TRAIN_MS);

  it('a reference-cache entry that is not JSON, holds null (a NaN written), or extreme values: refused naming the file, or the loss stops naming the cache', async () => {
    expect(cache, 'the cache of the first case').not.toBe('');
    const entries = readdirSync(cache).map((f) => join(cache, f));
    const d = fresh();
    const args = ['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--steps', '1', '--batch-size', '2', '--ref-cache', cache, '--out', join(d, 'run')];
    const good = readFileSync(entries[0]!, 'utf8');
    const sequences = (JSON.parse(good) as { logps: number[] }).logps.length;

    writeFileSync(entries[0]!, '{"logps": [0.5, ');
    const before = snapshot(d);
    const broken = await runCli(args, { timeoutMs: TRAIN_MS });
    failsWith(broken, 1, new RegExp(`^prefstudio train: reference-cache entry ${entries[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not JSON \\(.*\\); delete it \\(it is recomputed\\) or the whole cache$`));

    writeFileSync(entries[0]!, JSON.stringify({ logps: Array(sequences).fill(null), tokens: Array(sequences).fill(3), meanLogits: Array(sequences).fill(0) }));
    const nan = await runCli(args, { timeoutMs: TRAIN_MS });
    failsWith(nan, 1, /^prefstudio train: reference-cache entry .*\.json: logps\[0\] is null \(NaN or Infinity when written\); delete it \(it is recomputed\) or the whole cache$/);
    // eval reads the same cache (the same examples give the same keys).
    const evaluated = await runCli(['eval', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--data', PAIRS, '--method', 'dpo', '--ref-cache', cache, '--out', join(d, 'metrics.json')], { timeoutMs: TRAIN_MS });
    failsWith(evaluated, 1, /^prefstudio eval: reference-cache entry .*\.json: logps\[0\] is null \(NaN or Infinity when written\); delete it/);
    same(before, d);

    // Finite but absurd values in every entry: the loss overflows at step 1 and says where to look.
    for (const e of entries) {
      const v = JSON.parse(e === entries[0] ? good : readFileSync(e, 'utf8')) as { logps: number[] };
      writeFileSync(e, JSON.stringify({ ...v, logps: v.logps.map((_, i) => (i % 2 ? -3e38 : 3e38)) }));
    }
    const extreme = await runCli(args, { timeoutMs: TRAIN_MS });
    failsWith(extreme, 1, /^prefstudio train: step 1: the (loss|gradient norm \(grad_norm\)) is (NaN|-?Infinity), so training stopped there; likely cause: .*the reference log-probs, from a damaged reference cache; no adapter or checkpoint was written/);
    expect(existsSync(join(d, 'run', 'adapter_model.safetensors'))).toBe(false);
    peakUnder(extreme, 1024);
  }, 3 * TRAIN_MS);
});

describe('adapters with non-finite values or wrong shapes are refused by eval, sample and every export', () => {
  it('a NaN in lora_B: eval, sample and export --peft/--gguf/--merged/--trl exit 1 naming the tensor; nothing written', async () => {
    const d = fresh();
    const adapter = adapterWith(join(d, 'nan-adapter'), (h, data) => data.setFloat32(h[B_NAME]!.data_offsets[0] + 4 * 3, NaN, true));
    const before = snapshot(d);
    const named = new RegExp(`${adapter}: adapter tensor ${B_NAME.replace(/\./g, '\\.')} holds NaN \\(value 3 of \\d+\\): the adapter is broken \\(saved from a run that diverged\\?\\); refused$`);
    const runs = [
      ['eval', '--model', TINY_LLAMA, '--adapter', adapter, '--data', PAIRS, '--method', 'dpo', '--out', join(d, 'metrics.json')],
      ['sample', '--model', TINY_LLAMA, '--adapter', adapter, '--prompt', 'Hi', '--max-new-tokens', '2'],
      ['export', '--model', TINY_LLAMA, '--adapter', adapter, '--peft', join(d, 'peft')],
      ['export', '--model', TINY_LLAMA, '--adapter', adapter, '--gguf', join(d, 'a.gguf')],
      ['export', '--model', TINY_LLAMA, '--adapter', adapter, '--merged', join(d, 'merged')],
      ['export', '--model', TINY_LLAMA, '--adapter', adapter, '--trl', join(d, 'trl'), '--data', PAIRS, '--method', 'dpo', '--base-model', 'my-org/tiny-llama'],
    ];
    for (const args of runs) {
      const r = await runCli(args);
      failsWith(r, 1, new RegExp(`^prefstudio ${args[0]}: .*${named.source}`));
      expect(r.stdout).toBe('');
      peakUnder(r, 1024);
    }
    same(before, d);
  }, 120_000);

  it('a transposed lora_A (the right size, PEFT shape [in, r]) is refused by eval and export', async () => {
    const d = fresh();
    const adapter = adapterWith(join(d, 'transposed'), (h, _data, text) => {
      expect(h[A_NAME]!.shape).toEqual([4, 48]);
      const entry = JSON.stringify(h[A_NAME]);
      expect(text).toContain(entry);
      return text.replace(entry, JSON.stringify({ ...h[A_NAME], shape: [48, 4] }));
    });
    const before = snapshot(d);
    const named = `adapter tensor ${A_NAME.replace(/\./g, '\\.')} has shape \\[48, 4\\] \\(transposed\\?\\); PEFT's lora_A is \\[r, in\\] with r = 4 from adapter_config\\.json$`;
    const evaluated = await runCli(['eval', '--model', TINY_LLAMA, '--adapter', adapter, '--data', PAIRS, '--method', 'dpo', '--out', join(d, 'metrics.json')]);
    failsWith(evaluated, 1, new RegExp(`^prefstudio eval: .*${named}`));
    const merged = await runCli(['export', '--model', TINY_LLAMA, '--adapter', adapter, '--merged', join(d, 'merged')]);
    failsWith(merged, 1, new RegExp(`^prefstudio export: .*${named}`));
    same(before, d);
  }, 60_000);

  it('an adapter whose merge overflows (finite values of 1e30) is refused by export --merged naming the weight', async () => {
    const d = fresh();
    const adapter = adapterWith(join(d, 'huge'), (h, data) => {
      for (const name of [A_NAME, A_NAME.replace('lora_A', 'lora_B')]) {
        const [begin, end] = h[name]!.data_offsets;
        for (let at = begin; at < end; at += 4) data.setFloat32(at, 1e30, true);
      }
    });
    const before = snapshot(d);
    const r = await runCli(['export', '--model', TINY_LLAMA, '--adapter', adapter, '--merged', join(d, 'merged')]);
    failsWith(r, 1, /^prefstudio export: merge: the merged weight model\.layers\.0\.mlp\.down_proj\.weight \(\S+, float32\) holds (-?Infinity|NaN) \(value \d+ of \d+\): the adapter is too large for this model; nothing written$/);
    same(before, d);
  }, 60_000);
});

describe('--resume checkpoints go through the same validation as the command line', () => {
  let ckpt: TrainerCheckpoint;
  let dir = '';
  beforeAll(async () => {
    dir = fresh();
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--steps', '1', '--batch-size', '2', '--out', join(dir, 'run')], { timeoutMs: TRAIN_MS });
    expect(r.code, r.stderr).toBe(0);
    ckpt = decodeCheckpoint(new Uint8Array(readFileSync(join(dir, 'run', 'checkpoint.safetensors'))));
  }, TRAIN_MS);

  /** Writes a crafted checkpoint and resumes from it into a new folder. */
  const resume = async (name: string, c: TrainerCheckpoint) => {
    const file = join(dir, `${name}.safetensors`);
    writeFileSync(file, encodeCheckpoint(c));
    const before = snapshot(dir);
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--resume', file, '--out', join(dir, `${name}-run`)], { timeoutMs: TRAIN_MS });
    return { r, file, before };
  };
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('learning_rate "abc" is refused as the flag would be, and no training_config.json is written', async () => {
    const { r, file, before } = await resume('lr-abc', { ...ckpt, config: { ...ckpt.config, learning_rate: 'abc' } as unknown as TrainingConfig });
    failsWith(r, 1, new RegExp(`^prefstudio train: --resume ${esc(file)}: its settings are invalid: learning_rate: .*$`));
    same(before, dir);
    peakUnder(r, 700);
  }, TRAIN_MS);

  it('a missing weight_decay takes its default (no "adamw_update: Params.decay not given")', async () => {
    const { weight_decay: _, ...config } = ckpt.config;
    const { r } = await resume('no-decay', { ...ckpt, config: config as TrainingConfig });
    expect(r.stderr).not.toMatch(/Params\.decay|not given/);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'no-decay-run', 'training_config.json'), 'utf8')).weight_decay).toBe(ckpt.config.weight_decay);
  }, TRAIN_MS);

  it('tensors of the wrong size, NaN in an AdamW moment, or a bad RNG state are refused naming them', async () => {
    const name = Object.keys(ckpt.adapter)[0]!;
    const short = (r: Record<string, Float32Array>) => ({ ...r, [name]: r[name]!.subarray(0, 5) });
    const sized = await resume('short', { ...ckpt, adapter: short(ckpt.adapter), optimizer: { ...ckpt.optimizer, m: short(ckpt.optimizer.m), v: short(ckpt.optimizer.v) } });
    failsWith(sized.r, 1, new RegExp(`^prefstudio train: checkpoint tensor adapter/${esc(name)} has 5 values; its shape \\[\\d+, \\d+\\] needs \\d+$`));
    same(sized.before, dir);

    const v = { ...ckpt.optimizer.v, [name]: ckpt.optimizer.v[name]!.map((x, i) => (i === 2 ? NaN : x)) };
    const nan = await resume('nan-v', { ...ckpt, optimizer: { ...ckpt.optimizer, v } });
    failsWith(nan.r, 1, new RegExp(`^prefstudio train: --resume ${esc(nan.file)}: tensor adam_v/${esc(name)} holds NaN \\(value 2 of \\d+\\): the checkpoint was saved from a broken state; refused$`));

    const rng = await resume('rng', { ...ckpt, rng: [1, 2, 3] as unknown as TrainerCheckpoint['rng'] });
    failsWith(rng.r, 1, /its RNG state is not four 32-bit unsigned integers$/);
    same(rng.before, dir);
  }, 2 * TRAIN_MS);
});
