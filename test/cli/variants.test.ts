// A model folder in the transformers.js layout with several variants (onnx/model.onnx in f32 and
// onnx/model_q4.onnx and onnx/model_q4f16.onnx (a float16 graph, MatMulNBits T = float16) written
// by our quantizer): the CLI's --dtype picks one by precision, the default takes fp32 over 4-bit
// (no fp16 here), and a precision the folder lacks is one clear error listing what it has; inspect
// lists every variant with its estimated GPU memory; --f16-weights converts f32 weights on load.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY_LLAMA, fileBytes } from '../model/helpers.js';
import { runCli } from '../support/cli.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';

const root = mkdtempSync(join(tmpdir(), 'prefstudio-variants-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function variantsFolder(): string {
  const d = join(root, 'model');
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
