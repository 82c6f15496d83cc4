// The whole path through the CLI on two architecture replicas (issue 12): Phi-4-mini (packed
// qkv_proj / gate_up_proj, partial rotary, longrope) and Gemma 2 (soft-caps, sandwich norms,
// GeGLU, a sliding window of 4): `train` (DPO lowers the loss on its pairs; PEFT's module names
// in adapter_config.json and the safetensors), `sample` with the adapter (KV-cache generation),
// `eval`, and `export --merged --gguf --peft`. In process on one engine (pipelines compile once);
// on lavapipe where it is set up (vitest.config.ts).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '#test-engine';
import { run as evalCommand } from '../../src/cli/eval.js';
import { run as exportCommand } from '../../src/cli/export.js';
import { run as sampleCommand } from '../../src/cli/sample.js';
import { run as trainCommand, useEngine } from '../../src/cli/train.js';
import { readSafetensors } from '../../src/engine/training/peft.js';
import { LOCAL } from '../model/helpers.js';

const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'prefstudio-arch-cli-'));

beforeAll(async () => useEngine(await testEngine()));
afterAll(() => {
  useEngine(null);
  rmSync(root, { recursive: true, force: true });
});

/** Runs a command in process, its stdout captured. */
async function capture(command: (args: string[]) => Promise<number>, args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await command(args), out };
  } finally {
    spy.mockRestore();
    quiet.mockRestore();
  }
}

describe.each([
  { name: 'phi3', modules: ['down_proj', 'gate_up_proj', 'o_proj', 'qkv_proj'] },
  { name: 'gemma2', modules: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'] },
])('$name through the CLI', ({ name, modules }) => {
  const model = join(LOCAL, `arch-${name}`);
  const run = join(root, `${name}-run`);

  it('train (DPO): the loss falls; the adapter has PEFT\'s module names', async () => {
    const { code } = await capture(trainCommand, ['--model', model, '--data', PAIRS, '--method', 'dpo', '--lr', '2e-2', '--steps', '5', '--batch-size', '4',
      '--max-length', '32', '--lora-r', '4', '--lora-alpha', '8', '--targets', 'all-linear', '--save-steps', '5', '--out', run]);
    expect(code).toBe(0);
    const steps = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    expect(steps).toHaveLength(5);
    expect(steps[0]!.loss).toBeCloseTo(Math.log(2), 5); // B starts at zero: policy = reference
    expect(steps.at(-1)!.loss).toBeLessThan(steps[0]!.loss - 0.05);
    const config = JSON.parse(readFileSync(join(run, 'adapter_config.json'), 'utf8')) as { target_modules: string[] };
    expect([...config.target_modules].sort()).toEqual(modules);
    const names = [...readSafetensors(new Uint8Array(readFileSync(join(run, 'adapter_model.safetensors')))).tensors.keys()];
    for (const m of modules) expect(names).toContain(`base_model.model.model.layers.1.${m === 'qkv_proj' || /^[qkvo]_proj$/.test(m) ? 'self_attn' : 'mlp'}.${m}.lora_B.weight`);
  }, 300_000);

  it('sample and eval with the adapter', async () => {
    const sample = await capture(sampleCommand, ['--model', model, '--adapter', run, '--prompt', 'Dogs or cats?', '--max-new-tokens', '6', '--temperature', '0']);
    expect(sample.code).toBe(0);
    expect(sample.out.length).toBeGreaterThan(0);
    const metrics = join(root, `${name}-eval.json`);
    expect((await capture(evalCommand, ['--model', model, '--adapter', run, '--data', PAIRS, '--method', 'dpo', '--out', metrics])).code).toBe(0);
    const m = JSON.parse(readFileSync(metrics, 'utf8')) as Record<string, number>;
    expect(m['eval_loss'] ?? m.loss).toBeLessThan(Math.log(2));
  }, 300_000);

  it('export: merged ONNX, GGUF LoRA and the PEFT zip', async () => {
    const out = join(root, `${name}-export`);
    const merged = `${out}.onnx`, gguf = `${out}.gguf`, peft = `${out}.zip`;
    // llama.cpp's phi3 takes the head size as hidden / heads: the replica (hidden cut to 32) has no
    // GGUF, and says so; the real Phi-4-mini (24 × 128 = 3072) does (test/export/architectures.test.ts).
    const gguffed = name !== 'phi3';
    const { code } = await capture(exportCommand, ['--model', model, '--adapter', run, '--merged', merged, ...(gguffed ? ['--gguf', gguf] : []), '--peft', peft]);
    expect(code).toBe(0);
    for (const f of gguffed ? [merged, gguf, peft] : [merged, peft]) expect(statSync(f).size).toBeGreaterThan(1000);
    if (!gguffed) {
      await expect(capture(exportCommand, ['--model', model, '--adapter', run, '--gguf', gguf])).rejects.toThrow(/heads × head_dim = hidden/);
    }
  }, 300_000);
});
