// Hugging Face Hub repo ids (src/hub-id.ts): the one rule the CLI, the export service and the
// Export page check the TRL hand-off's base model with, and where a model's own id is found.
import { describe, expect, it } from 'vitest';
import { trlHandoff } from '../../src/engine/export/trl.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { hubRepoIdFromUrl, hubRepoIdProblem, isHubRepoId, resolveHubBaseModel } from '../../src/hub-id.js';

const INPUT = { name: '--base-model', example: '--base-model HuggingFaceTB/SmolLM2-135M-Instruct' };

describe('Hub repo ids', () => {
  it('takes namespace/name and bare canonical names', () => {
    for (const id of ['HuggingFaceTB/SmolLM2-135M-Instruct', 'gpt2', 'Qwen/Qwen2.5-0.5B-Instruct', 'a/b', 'user_1/m.v2', `o/${'x'.repeat(96)}`]) expect(isHubRepoId(id), id).toBe(true);
  });

  it('refuses paths, URLs and what the Hub forbids, saying what the value is', () => {
    expect(hubRepoIdProblem('/home/me/model')).toBe('a local path');
    expect(hubRepoIdProblem('./model')).toBe('a local path');
    expect(hubRepoIdProblem('../model')).toBe('a local path');
    expect(hubRepoIdProblem('..')).toBe('a local path');
    expect(hubRepoIdProblem('models/../x')).toBe('a local path');
    expect(hubRepoIdProblem('~/model')).toBe('a local path');
    expect(hubRepoIdProblem('C:\\models\\x')).toBe('a local path');
    expect(hubRepoIdProblem('https://huggingface.co/org/model')).toBe('a URL');
    expect(hubRepoIdProblem('org/model/onnx')).toMatch(/^a path/);
    expect(hubRepoIdProblem('org/my--model')).toBe('a name with "--"');
    expect(hubRepoIdProblem('org/my..model')).toBe('a name with ".."');
    expect(hubRepoIdProblem('-org/model')).toMatch(/namespace that starts or ends/);
    expect(hubRepoIdProblem('org/model.')).toMatch(/name that starts or ends/);
    expect(hubRepoIdProblem('org/model`; rm -rf ~')).toMatch(/name with "`"/);
    expect(hubRepoIdProblem('org/[x](javascript:1)')).toMatch(/name with "\["/);
    expect(hubRepoIdProblem(`o/${'x'.repeat(97)}`)).toBe('a name of 97 characters (at most 96)');
    expect(hubRepoIdProblem('org/model.git')).toBe('a name ending in ".git"');
    expect(hubRepoIdProblem(' org/model')).toBe('padded with spaces');
    expect(hubRepoIdProblem('')).toBe('empty');
  });

  it('reads the repo id of a Hub URL, not of other hosts', () => {
    expect(hubRepoIdFromUrl('https://huggingface.co/onnx-community/SmolLM2-135M-Instruct-ONNX/resolve/main/')).toBe('onnx-community/SmolLM2-135M-Instruct-ONNX');
    expect(hubRepoIdFromUrl('https://huggingface.co/org/model/resolve/main/onnx/')).toBe('org/model');
    expect(hubRepoIdFromUrl('https://hf.co/org/model')).toBe('org/model');
    expect(hubRepoIdFromUrl('http://localhost:8000/org/model/resolve/main/')).toBeNull();
    expect(hubRepoIdFromUrl('https://huggingface.co/datasets/org/data')).toBeNull();
    expect(hubRepoIdFromUrl('not a url')).toBeNull();
  });

  it('resolves the base model: given first (refused when not an id), then metadata ids', () => {
    expect(resolveHubBaseModel({ given: 'gpt2', adapter: 'org/other' }, INPUT)).toEqual({ ok: true, id: 'gpt2', from: '--base-model' });
    const bad = resolveHubBaseModel({ given: '/models/x', adapter: 'org/other' }, INPUT);
    expect(bad).toMatchObject({ ok: false, message: '--base-model "/models/x" is a local path, not a Hugging Face Hub repo id (namespace/name). TRL downloads the base model from the Hugging Face Hub: pass its Hub id, e.g. --base-model HuggingFaceTB/SmolLM2-135M-Instruct' });
    expect(resolveHubBaseModel({ adapter: '/models/x', config: 'org/model' }, INPUT)).toEqual({ ok: true, id: 'org/model', from: "config.json's _name_or_path" });
    expect(resolveHubBaseModel({ adapter: 'demo', url: 'https://huggingface.co/org/model-ONNX/resolve/main/' }, INPUT)).toEqual({ ok: true, id: 'org/model-ONNX', from: 'the Hub repository the model was loaded from' });
    const none = resolveHubBaseModel({ adapter: 'demo-fortunes', config: './out', url: 'http://localhost:5173/models/demo/' }, INPUT);
    expect(none.ok).toBe(false);
    expect(!none.ok && none.message).toBe(
      `no Hub id for the base model: the adapter's base_model_name_or_path is "demo-fortunes" (a bare name, as likely a local folder as a Hub model); config.json's _name_or_path is "./out" (a local path); the model was loaded from http://localhost:5173/models/demo/, not from the Hugging Face Hub. TRL downloads the base model from the Hugging Face Hub: pass its Hub id, e.g. --base-model HuggingFaceTB/SmolLM2-135M-Instruct`,
    );
  });

  it('the hand-off itself refuses a base model that is not a Hub id', () => {
    const records = [{ kind: 'pair' as const, prompt: 'Q', chosen: ' a', rejected: ' b', source: { type: 'manual' as const }, createdAt: 1, split: 'train' as const, tags: [] }];
    const config = parseTrainingConfig({ method: 'dpo' });
    expect(() => trlHandoff({ config, records, baseModel: '/home/me/models/tiny' })).toThrow('TRL hand-off: the base model "/home/me/models/tiny" is a local path, not a Hugging Face Hub repo id');
    expect(trlHandoff({ config, records, baseModel: 'my-org/tiny' }).files['README.md']).toContain('on `my-org/tiny`');
  });
});
