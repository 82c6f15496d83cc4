// `prefstudio export`: every output from one adapter folder (merged model folder, GGUF, PEFT zip,
// TRL hand-off with the run's training_config.json, flags overriding it), and usage errors.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { mergeOnnx } from '../../src/engine/export/merge.js';
import { concatChunks } from '../../src/engine/export/gguf-file.js';
import { ggufModel } from '../../src/engine/export/gguf-model.js';
import { peftFiles, readPeftFiles, readPeftZip } from '../../src/engine/export/peft.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TINY_LLAMA, TINY_QWEN2 } from '../model/helpers.js';
import { maxAbsDiff, randomAdapter } from './helpers.js';

const FIXTURES = new URL('../fixtures/export/', import.meta.url).pathname;
const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;

function captureStderr(): { text: () => string } {
  let text = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((text += String(s)), true));
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((text += String(s)), true));
  return { text: () => text };
}

afterEach(() => vi.restoreAllMocks());

describe('prefstudio export', () => {
  it('writes a merged model folder, a GGUF, a PEFT zip and a TRL hand-off from one adapter', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-export-'));
    const adapterDir = join(out, 'run');
    cpSync(join(FIXTURES, 'tiny-llama-adapter'), adapterDir, { recursive: true });
    // As prefstudio train leaves it next to the adapter.
    writeFileSync(join(adapterDir, 'training_config.json'), JSON.stringify({ method: 'dpo', beta: 0.25, learning_rate: 5e-5, per_device_train_batch_size: 2, gradient_accumulation_steps: 4, seed: 7, lora: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] } }));
    const log = captureStderr();
    const code = await main(['export', '--model', TINY_LLAMA, '--adapter', adapterDir,
      '--merged', join(out, 'merged'), '--gguf', join(out, 'a.gguf'), '--peft', join(out, 'a.zip'),
      '--trl', join(out, 'trl'), '--data', PAIRS, '--beta', '0.5', '--base-model', 'my-org/tiny-llama']);
    vi.restoreAllMocks();
    expect(code, log.text()).toBe(0);

    // Merged: a model folder that loads, with the bytes mergeOnnx gives in-process.
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const adapter = readPeftFiles({ 'adapter_config.json': readFileSync(join(adapterDir, 'adapter_config.json')), 'adapter_model.safetensors': readFileSync(join(adapterDir, 'adapter_model.safetensors')) });
    expect(new Uint8Array(readFileSync(join(out, 'merged', 'model.onnx')))).toEqual(new Uint8Array(mergeOnnx(model, adapter).onnx));
    const merged = await loadModel(nodeDirSource(join(out, 'merged')));
    expect(merged.tokenizer).not.toBeNull();
    const q = 'model.layers.0.self_attn.q_proj.weight';
    expect(maxAbsDiff(merged.weight(q, 'f32').data, model.weight(q, 'f32').data)).toBeGreaterThan(1e-3);

    expect(readFileSync(join(out, 'a.gguf')).subarray(0, 4).toString()).toBe('GGUF');
    expect(readPeftZip(new Uint8Array(readFileSync(join(out, 'a.zip')))).tensors).toEqual(adapter.tensors);

    // TRL: the run's settings, --beta overriding, the adapter's LoRA; data in TRL's format.
    const recipe = JSON.parse(readFileSync(join(out, 'trl', 'recipe.json'), 'utf8')) as { trainer: string; model_name_or_path: string; args: Record<string, unknown>; lora: Record<string, unknown> };
    expect(recipe.trainer).toBe('DPO');
    expect(recipe.model_name_or_path).toBe('my-org/tiny-llama');
    expect(recipe.args).toMatchObject({ beta: 0.5, learning_rate: 5e-5, per_device_train_batch_size: 2, gradient_accumulation_steps: 4, seed: 7, loss_type: ['sigmoid'], max_length: 1024, precompute_ref_log_probs: true });
    expect(recipe.lora).toMatchObject({ r: 4, lora_alpha: 8, lora_dropout: 0.05, use_rslora: false, target_modules: ['down_proj', 'o_proj', 'q_proj', 'v_proj'], task_type: 'CAUSAL_LM' });
    const rows = readFileSync(join(out, 'trl', 'data', 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows[0]).toEqual({ prompt: 'Cold or warm?', chosen: ' Warm, by far.', rejected: ' Cold; brr.' });
    expect(rows.length).toBe(4);
    for (const f of ['train.py', 'README.md', 'accelerate/deepspeed_zero2.yaml', 'accelerate/multi_gpu.yaml']) expect(existsSync(join(out, 'trl', f)), f).toBe(true);
    expect(readFileSync(join(out, 'trl', 'README.md'), 'utf8')).toMatch(/accelerate launch --config_file accelerate\/deepspeed_zero2\.yaml --num_processes 8 train\.py/);
    // The script is valid Python (trl itself is not installed here).
    execFileSync('/usr/bin/python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', join(out, 'trl', 'train.py')]);
  }, 60_000);

  it('merged ONNX of a model with external data keeps it external; --external-data off embeds it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-export-'));
    const adapterDir = join(out, 'adapter');
    const model = await loadModel(nodeDirSource(TINY_QWEN2));
    mkdirSync(adapterDir);
    for (const [k, v] of Object.entries(peftFiles(model, randomAdapter(model, { target_modules: ['k_proj', 'up_proj'] })))) writeFileSync(join(adapterDir, k), v);
    captureStderr();
    expect(await main(['export', '--model', TINY_QWEN2, '--adapter', adapterDir, '--merged', join(out, 'ext.onnx')])).toBe(0);
    expect(await main(['export', '--model', TINY_QWEN2, '--adapter', adapterDir, '--merged', join(out, 'emb.onnx'), '--external-data', 'off'])).toBe(0);
    vi.restoreAllMocks();
    expect(existsSync(join(out, 'ext.onnx.data'))).toBe(true);
    expect(existsSync(join(out, 'emb.onnx.data'))).toBe(false);
    expect(readFileSync(join(out, 'emb.onnx')).byteLength).toBeGreaterThan(readFileSync(join(out, 'ext.onnx')).byteLength + 100_000);
  }, 60_000);

  it('--gguf-merged writes the whole tuned model (q8_0 here) and --gguf-base the base model, as the exporter gives them in-process', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-export-gguf-'));
    const adapterDir = join(FIXTURES, 'tiny-llama-adapter');
    const log = captureStderr();
    const code = await main(['export', '--model', TINY_LLAMA, '--adapter', adapterDir, '--gguf-merged', join(out, 'tuned.gguf'), '--gguf-merged-type', 'q8_0', '--gguf-base', join(out, 'base.gguf')]);
    vi.restoreAllMocks();
    expect(code, log.text()).toBe(0);
    expect(log.text()).toMatch(/GGUF model with the adapter merged \(\d+ weights\) .*tuned\.gguf .*q8_0/);
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const adapter = readPeftFiles({ 'adapter_config.json': readFileSync(join(adapterDir, 'adapter_config.json')), 'adapter_model.safetensors': readFileSync(join(adapterDir, 'adapter_model.safetensors')) });
    expect(new Uint8Array(readFileSync(join(out, 'tuned.gguf')))).toEqual(concatChunks(ggufModel(model, adapter, { type: 'q8_0', name: 'tuned' })));
    expect(new Uint8Array(readFileSync(join(out, 'base.gguf')))).toEqual(concatChunks(ggufModel(model, null, { type: 'f32', name: 'base' })));
  }, 60_000);

  it('a GGUF llama.cpp could not run is refused naming why, before any output is written', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-export-refuse-'));
    const model = await loadModel(nodeDirSource(TINY_QWEN2));
    mkdirSync(join(out, 'adapter'));
    for (const [name, bytes] of Object.entries(peftFiles(model, randomAdapter(model)))) writeFileSync(join(out, 'adapter', name), bytes);
    const log = captureStderr();
    const code = await main(['export', '--model', TINY_QWEN2, '--adapter', join(out, 'adapter'), '--peft', join(out, 'a.zip'), '--gguf-merged', join(out, 'm.gguf')]);
    vi.restoreAllMocks();
    expect(code).toBe(1);
    expect(log.text()).toMatch(/llama\.cpp's qwen2 needs heads × head_dim = hidden size, and this qwen2 model has 4 × 16 ≠ 32/);
    expect(existsSync(join(out, 'm.gguf'))).toBe(false);
    expect(existsSync(join(out, 'a.zip'))).toBe(false);
  }, 60_000);

  it('usage errors say what is wrong', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'prefstudio-export-usage-'));
    const log = captureStderr();
    const adapter = join(FIXTURES, 'tiny-llama-adapter');
    expect(await main(['export', '--model', TINY_LLAMA, '--adapter', adapter])).toBe(2);
    expect(log.text()).toMatch(/give at least one of --merged, --gguf, --gguf-merged, --gguf-base, --peft, --trl/);
    expect(await main(['export', '--model', TINY_LLAMA, '--adapter', adapter, '--gguf-merged', join(fresh, 'x.gguf'), '--gguf-merged-type', 'q4_0'])).toBe(2);
    expect(log.text()).toMatch(/--gguf-merged-type is f32, f16, q8_0, got "q4_0"/);
    expect(await main(['export', '--model', TINY_LLAMA, '--adapter', adapter, '--trl', tmpdir()])).toBe(2);
    expect(log.text()).toMatch(/--trl needs --data <file>/);
    expect(await main(['export', '--model', TINY_LLAMA, '--adapter', adapter, '--trl', join(fresh, 'x'), '--data', PAIRS, '--base-model', 'my-org/tiny-llama'])).toBe(2);
    expect(log.text()).toMatch(/--trl needs --method \(no training_config\.json in/);
    expect(await main(['export', '--model', TINY_LLAMA, '--adapter', adapter, '--trl', join(fresh, 'x'), '--data', PAIRS, '--method', 'listwise', '--base-model', 'my-org/tiny-llama'])).toBe(1);
    expect(log.text()).toMatch(/listwise \(Plackett-Luce\) has no TRL trainer/);
    expect(await main(['export', '--model', TINY_LLAMA, '--adapter', join(FIXTURES, 'tiny-gpt2-adapter'), '--gguf', join(fresh, 'x.gguf')])).toBe(1);
    expect(log.text()).toMatch(/adapter tensor base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight is not a LoRA tensor of a linear layer of this llama model/);
    expect(await main(['export', '--model', TINY_LLAMA, '--adapter', '/nonexistent', '--gguf', join(fresh, 'x.gguf')])).toBe(2);
    expect(log.text()).toMatch(/--adapter \/nonexistent: no such file or folder/);
  }, 60_000);

  it('the TRL hand-off names the base model by its Hub id: a local path is refused, metadata that is an id is taken', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prefstudio-export-'));
    const adapterDir = join(out, 'run');
    cpSync(join(FIXTURES, 'tiny-llama-adapter'), adapterDir, { recursive: true });
    const trl = join(out, 'trl');
    const handoff = (...extra: string[]) => main(['export', '--model', TINY_LLAMA, '--adapter', adapterDir, '--trl', trl, '--data', PAIRS, '--method', 'dpo', ...extra]);
    const log = captureStderr();
    // Given: a local path, an absolute path, a URL are refused before anything is written.
    for (const bad of ['./models/tiny', TINY_LLAMA, '../tiny', 'https://huggingface.co/my-org/tiny', 'my-org/tiny/onnx', 'my-org/tiny--x']) {
      expect(await handoff('--base-model', bad), bad).toBe(2);
    }
    expect(log.text()).toContain(`--base-model "./models/tiny" is a local path, not a Hugging Face Hub repo id (namespace/name). TRL downloads the base model from the Hugging Face Hub: pass its Hub id, e.g. --base-model HuggingFaceTB/SmolLM2-135M-Instruct`);
    expect(log.text()).toContain('--base-model "https://huggingface.co/my-org/tiny" is a URL');
    expect(existsSync(trl)).toBe(false);
    // None given: the adapter says "tiny" (a bare name, as likely a folder) and config.json nothing.
    expect(await handoff()).toBe(2);
    expect(log.text()).toMatch(/no Hub id for the base model: the adapter's base_model_name_or_path is "tiny" \(a bare name, as likely a local folder as a Hub model\)\. TRL downloads .* e\.g\. --base-model HuggingFaceTB\/SmolLM2-135M-Instruct/);
    // An adapter whose base_model_name_or_path is a local path (as prefstudio train writes it): refused too.
    const config = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(adapterDir, 'adapter_config.json'), JSON.stringify({ ...config, base_model_name_or_path: TINY_LLAMA }));
    expect(await handoff()).toBe(2);
    expect(log.text()).toContain(`the adapter's base_model_name_or_path is "${TINY_LLAMA}" (a local path)`);
    expect(existsSync(trl)).toBe(false);
    // A bare canonical name given by hand is an id; a Hub id in the adapter's metadata is taken.
    expect(await handoff('--base-model', 'gpt2')).toBe(0);
    expect(JSON.parse(readFileSync(join(trl, 'recipe.json'), 'utf8')).model_name_or_path).toBe('gpt2');
    writeFileSync(join(adapterDir, 'adapter_config.json'), JSON.stringify({ ...config, base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M-Instruct' }));
    // The first hand-off is there now: replacing it takes --force.
    expect(await handoff()).toBe(2);
    expect(log.text()).toMatch(/--trl \S+ exists; pass --force to replace it/);
    expect(await handoff('--force')).toBe(0);
    vi.restoreAllMocks();
    expect(JSON.parse(readFileSync(join(trl, 'recipe.json'), 'utf8')).model_name_or_path).toBe('HuggingFaceTB/SmolLM2-135M-Instruct');
    const readme = readFileSync(join(trl, 'README.md'), 'utf8');
    expect(readme).toContain("# TRL hand-off: dpo (DPOTrainer) on `HuggingFaceTB/SmolLM2-135M-Instruct`");
    expect(readme).toContain("is the Hugging Face Hub model `HuggingFaceTB/SmolLM2-135M-Instruct` (from the adapter's base_model_name_or_path)");
    expect(log.text()).toMatch(/DPOTrainer on HuggingFaceTB\/SmolLM2-135M-Instruct \(from the adapter's base_model_name_or_path\)/);
  }, 60_000);
});
