// `prefstudio inspect`: what the loader recognised, as text and as JSON, or why it could not.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/inspect.js';
import { GPT2_SHARED, LLAMA_FP16, LOCAL, TINY_LLAMA, TINY_QWEN2 } from './helpers.js';

async function capture(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const code = await run(args);
  vi.restoreAllMocks();
  return { code, out, err };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('prefstudio inspect', () => {
  it('prints architecture, dimensions, dtypes, parameters, memory and tokenizer', async () => {
    const { code, out } = await capture([LLAMA_FP16]);
    expect(code).toBe(0);
    expect(out).toMatch(/architecture: +llama/);
    expect(out).toMatch(/vocab 32000, hidden 16, layers 2, heads 1 .*head size 16, intermediate 64/);
    expect(out).toMatch(/parameters: +1,032,272 in 21 tensors \(21 f16\)/);
    expect(out).toMatch(/GPU memory: +3\.94 MiB with f32 weights, 1\.97 MiB with f16/);
    expect(out).toMatch(/tokenizer: +BPE \(LlamaTokenizer\), 32000 tokens/);
    expect(out).toMatch(/external data model\.onnx\.data/);
    expect(out).toMatch(/rope theta 10000 \(graph\)/);
  });

  it('names what a llama-arch variant adds (Gemma 2, OLMo 2); plain Llama has no variant line', async () => {
    const gemma = await capture([`${LOCAL}arch-gemma2`]);
    expect(gemma.code).toBe(0);
    expect(gemma.out).toMatch(/architecture: +llama \(gemma2\)/);
    expect(gemma.out).toMatch(/variant: +sandwich norms, norm weights 1 \+ w, embedding scale 5\.65685\d*, attention scale 0\.0625, attention soft-cap 50, final soft-cap 30, sliding window 4 on 1 of 2 layers/);
    const olmo = await capture([`${LOCAL}arch-olmo2`]);
    expect(olmo.out).toMatch(/variant: +post norms, q\/k norms over the projection\n/);
    expect((await capture([TINY_LLAMA])).out).not.toMatch(/variant:/);
  });

  it('--json gives the canonical weights and the warnings a real load would stop at', async () => {
    const { code, out } = await capture([GPT2_SHARED, '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r).toMatchObject({ ok: true, arch: 'gpt2', onnx: 'past.onnx', parameters: 111968, config: { layers: 5, heads: 4 } });
    expect(r.weights.find((w: { name: string }) => w.name === 'transformer.h.2.attn.v_proj.weight')).toMatchObject({ source: 'transformer.h.2.attn.c_attn.weight', transposed: true, rows: { start: 64, count: 32 } });
    expect(r.warnings.map((w: { code: string }) => w.code)).toContain('tokenizer-vocab-mismatch');
    expect(r.memory.f32Bytes).toBe(111968 * 4);
  });

  it('accepts the .onnx path itself and the transformers.js layout', async () => {
    const a = await capture([`${TINY_LLAMA}/model.onnx`]);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/file: +model\.onnx \(chosen by the caller\)/);
    const b = await capture([TINY_QWEN2]);
    expect(b.out).toMatch(/file: +onnx\/model\.onnx .*external data onnx\/model\.onnx_data/);
    expect(b.out).toMatch(/architecture: +llama \(qwen2\)/);
  });

  it('says why a folder cannot be loaded, with exit code 1', async () => {
    const a = await capture(['/no/such/model']);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/cannot load \/no\/such\/model: .*no such folder \[no-model-file\]/);
    const b = await capture(['/no/such/model', '--json']);
    expect(JSON.parse(b.out)).toMatchObject({ ok: false, error: { code: 'no-model-file' } });
  });

  it('usage errors exit with 2', async () => {
    expect((await capture([])).code).toBe(2);
    expect((await capture([TINY_LLAMA, '--bogus'])).code).toBe(2);
  });
});
