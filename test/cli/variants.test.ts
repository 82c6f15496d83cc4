// A model folder in the transformers.js layout with several variants (onnx/model.onnx in f32 and
// onnx/model_q4.onnx and onnx/model_q4f16.onnx (a float16 graph, MatMulNBits T = float16) written
// by our quantizer): the CLI's --dtype picks one by precision, the default takes fp32 over 4-bit
// (no fp16 here), and a precision the folder lacks is one clear error listing what it has; inspect
// lists every variant with its estimated GPU memory; --f16-weights converts f32 weights on load.
// Without --dtype or --onnx, logprobs and train take the variant the GPU memory budget recommends
// (--memory-budget here), as the Models page does, and say which and why.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findVariants } from '../../src/engine/model/layout.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { variantGpuBytes } from '../../src/engine/model/variant-choice.js';
import { TINY_LLAMA, fileBytes } from '../model/helpers.js';
import { runCli } from '../support/cli.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';

const root = mkdtempSync(join(tmpdir(), 'prefstudio-variants-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function variantsFolder(name = 'model'): string {
  const d = join(root, name);
  cpSync(TINY_LLAMA, d, { recursive: true, filter: (src) => !src.endsWith('model.onnx') });
  mkdirSync(join(d, 'onnx'));
  const f32 = fileBytes(`${TINY_LLAMA}/model.onnx`);
  writeFileSync(join(d, 'onnx', 'model.onnx'), f32);
  writeFileSync(join(d, 'onnx', 'model_q4.onnx'), quantizeOnnx(f32, { bits: 4, blockSize: 16, zeroPoints: true }).bytes);
  writeFileSync(join(d, 'onnx', 'model_q4f16.onnx'), quantizeOnnx(f32, { bits: 4, blockSize: 32, zeroPoints: true, float16: true }).bytes);
  return d;
}

describe('--dtype', () => {
  const dir = variantsFolder();
  it('picks the variant by precision; the default is fp32 over q4', { timeout: 120_000 }, async () => {
    const plain = await runCli(['inspect', dir, '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ onnx: 'onnx/model.onnx', weightDtypes: { f32: expect.any(Number) } });
    const q4 = await runCli(['inspect', dir, '--json', '--dtype', 'q4']);
    expect(q4.code, q4.stderr).toBe(0);
    const r = JSON.parse(q4.stdout);
    expect(r).toMatchObject({ onnx: 'onnx/model_q4.onnx', layoutReason: 'the q4 variant, as asked' });
    expect(Object.keys(r.weightDtypes)).toContain('q4');
    // q4f16: 4-bit linear layers, the rest (embedding, norms) in f16, no f32 left.
    const q4f16 = await runCli(['inspect', dir, '--json', '--dtype', 'q4f16']);
    expect(q4f16.code, q4f16.stderr).toBe(0);
    const h = JSON.parse(q4f16.stdout);
    expect(h).toMatchObject({ onnx: 'onnx/model_q4f16.onnx', layoutReason: 'the q4f16 variant, as asked' });
    expect(Object.keys(h.weightDtypes).sort()).toEqual(['f16', 'q4']);
    // Every variant listed with its size and estimated GPU memory, the loaded one marked.
    expect(h.variants.map((v: { file: string; dtype: string; loaded: boolean }) => [v.file, v.dtype, v.loaded])).toEqual([
      ['onnx/model.onnx', 'fp32', false],
      ['onnx/model_q4f16.onnx', 'q4f16', true],
      ['onnx/model_q4.onnx', 'q4', false],
    ]);
    for (const v of h.variants) expect(v.gpuBytes, v.file).toBeGreaterThanOrEqual(v.bytes);
    const text = await runCli(['inspect', dir]);
    expect(text.stdout).toMatch(/^variants:\n {2}\* onnx\/model\.onnx fp32, [\d.]+ KiB on disk, about [\d.]+ KiB of GPU memory\n {2}- onnx\/model_q4f16\.onnx q4f16, /m);
  });

  it('a precision the folder lacks, or an unknown one, is one clear error', { timeout: 120_000 }, async () => {
    const none = await runCli(['inspect', dir, '--dtype', 'fp16']);
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toMatch(/^cannot load .*: no fp16 variant in .*: it has onnx\/model\.onnx \(fp32\), onnx\/model_q4f16\.onnx \(q4f16\), onnx\/model_q4\.onnx \(q4\) \[file-missing\]$/);
    const bad = await runCli(['logprobs', '--model', dir, '--data', 'x.jsonl', '--out', join(root, 'o.jsonl'), '--dtype', 'fp8']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--dtype "fp8" is not one of fp16, fp32, q4f16, q4, int8, uint8, quantized, bnb4/);
  });
});

describe('the variant by the GPU memory budget (no --dtype, no --onnx)', () => {
  const dir = variantsFolder('budget');
  const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;
  /** Each variant's estimated GPU bytes by dtype (variant-choice.ts), as the Models page and inspect show them. */
  const estimates = async () => Object.fromEntries((await findVariants(nodeDirSource(dir))).map((v) => [v.dtype, variantGpuBytes(v)!]));
  it('logprobs takes the 4-bit variant under a small --memory-budget and fp32 under a large one, saying which and why; --dtype still forces', { timeout: 180_000 }, async () => {
    // The budgets from the variants' own estimates (as inspect lists them): the small one holds q4f16, not fp32.
    const gpu = await estimates();
    expect(gpu.fp32).toBeGreaterThan(gpu.q4f16!);
    const small = String(gpu.q4f16);
    const run = async (name: string, extra: string[]) => {
      const out = join(root, `${name}.jsonl`);
      const r = await runCli(['logprobs', '--model', dir, '--data', PAIRS, '--out', out, '--max-length', '32', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return { stderr: r.stderr, lines: readFileSync(out, 'utf8') };
    };
    const q4 = await run('small', ['--memory-budget', small]);
    expect(q4.stderr).toMatch(new RegExp(`^logprobs: ${dir}: onnx/model_q4f16\\.onnx recommended \\(of 3 variants\\): onnx/model_q4f16\\.onnx \\(q4f16\\): the better ones do not fit the [\\d.]+ KiB GPU memory budget \\(fp32 needs about [\\d.]+ KiB\\); the budget is set by memory_budget_bytes$`, 'm'));
    const f32 = await run('large', ['--memory-budget', '1GiB']);
    expect(f32.stderr).toMatch(new RegExp(`^logprobs: ${dir}: onnx/model\\.onnx recommended \\(of 3 variants\\): fp32, the preferred variant, fits the 1(\\.0+)? GiB budget; the budget is set by memory_budget_bytes$`, 'm'));
    // What was loaded, not only what was said: the same log-probs as the variant asked by --dtype.
    const asked = await run('asked', ['--dtype', 'q4f16']);
    expect(asked.lines).toBe(q4.lines);
    expect(q4.lines).not.toBe(f32.lines);
    // --dtype forces, whatever the budget; nothing is recommended then.
    const forced = await run('forced', ['--memory-budget', small, '--dtype', 'fp32']);
    expect(forced.stderr).not.toContain('recommended');
    expect(forced.lines).toBe(f32.lines);
  });

  it("train chooses by the run's memory_budget_bytes, the budget its memory check then holds the run to", { timeout: 120_000 }, async () => {
    const small = (await estimates()).q4f16!;
    const r = await runCli(['train', '--model', dir, '--data', PAIRS, '--method', 'dpo', '--steps', '1', '--max-length', '32', '--out', join(root, 'run'), '--memory-budget', String(small)]);
    expect(r.stderr).toMatch(new RegExp(`^train: ${dir}: onnx/model_q4f16\\.onnx recommended \\(of 3 variants\\): .*; the budget is set by memory_budget_bytes$`, 'm'));
    expect(r.stderr).toMatch(new RegExp(`^train: model ${dir}: llama, [\\d,]+ parameters, onnx/model_q4f16\\.onnx \\(`, 'm'));
    // At this tiny shape the activations alone are larger than the weights: the run is then refused against the same budget.
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/more than the budget of [\d.]+ KiB \(set by memory_budget_bytes\)/);
  });

  it('a --memory-budget that is not a size is a usage error', async () => {
    const r = await runCli(['logprobs', '--model', dir, '--data', PAIRS, '--out', join(root, 'bad.jsonl'), '--memory-budget', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--memory-budget expects a size like 4GiB or 512MiB, got "lots"');
  });
});

describe('--f16-weights', () => {
  const ADAPTER = new URL('../fixtures/export/tiny-llama-adapter', import.meta.url).pathname;
  const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;
  it('eval converts the f32 weights to f16 as they load: log-probs within f16 rounding of the f32 run, not equal to it', { timeout: 180_000 }, async () => {
    const run = async (extra: string[], out: string) => {
      const r = await runCli(['eval', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--data', PAIRS, '--method', 'dpo', '--out', join(root, out), ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return { stderr: r.stderr, m: JSON.parse(readFileSync(join(root, out), 'utf8')) as Record<string, number> };
    };
    const f32 = await run([], 'f32.json');
    const f16 = await run(['--f16-weights'], 'f16.json');
    expect(f16.stderr).toContain('linear weights converted to f16 on load');
    expect(f32.stderr).not.toContain('converted to f16');
    for (const k of ['logps/chosen', 'logps/rejected']) {
      const a = f32.m[k]!;
      const b = f16.m[k]!;
      expect(b, k).not.toBe(a);
      expect(Math.abs(b - a), k).toBeLessThan(1e-2 * Math.abs(a));
    }
  });
});
