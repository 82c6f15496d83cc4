// The Hub both ways (src/hub), through @huggingface/hub against a local server that implements
// the endpoints it calls (test/hub/hub-server.ts): import a preference dataset by repo id
// (Parquet and JSON lines, a split, a revision), download a model's files (and resume), push an
// adapter with its model card and a labelled dataset in one commit; a 401 and a 404 each give one
// clear message that never holds the token; a push cut off halfway leaves the repository as it
// was and a retry succeeds; a dataset repo with no supported files lists what it found; nothing
// goes to a host outside the network policy.
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { downloadModelFiles, HubError, listRepoFiles, pushFiles, splitOfPath } from '../../src/hub/client.js';
import { importHubDataset } from '../../src/hub/dataset.js';
import { adapterModelCard } from '../../src/hub/model-card.js';
import { peftFiles } from '../../src/engine/export/peft.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { METHODS } from '../../src/engine/methods/registry.js';
import { TINY_LLAMA } from '../model/helpers.js';
import { randomAdapter } from '../export/helpers.js';
import { startHubServer, type HubServer } from './hub-server.js';

const TOKEN = 'hf_prefstudio_test_write_token';
let hub: HubServer;

const pairsParquet = (n: number, tag: string) =>
  new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'prompt', data: Array.from({ length: n }, (_, i) => `${tag} question ${i}?`), type: 'STRING' },
        { name: 'chosen', data: Array.from({ length: n }, (_, i) => ` good answer ${i}`), type: 'STRING' },
        { name: 'rejected', data: Array.from({ length: n }, (_, i) => ` bad answer ${i}`), type: 'STRING' },
      ],
    }),
  );
const pairsJsonl = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `${tag} q${i}`, chosen: ' yes', rejected: ' no' })).join('\n') + '\n';

beforeAll(async () => {
  hub = await startHubServer();
  hub.tokens.add(TOKEN);
  hub.addRepo('dataset', 'org/prefs', {
    'README.md': '# prefs',
    '.gitattributes': '*.parquet filter=lfs',
    'data/train-00000-of-00001.parquet': pairsParquet(5, 'main'),
    'data/test-00000-of-00001.parquet': pairsParquet(2, 'held'),
  }, { refs: { v1: { 'train.jsonl': pairsJsonl(3, 'v1'), 'test.jsonl': pairsJsonl(1, 'v1') } } });
  hub.addRepo('dataset', 'org/private-prefs', { 'train.jsonl': pairsJsonl(2, 'p') }, { private: true });
  hub.addRepo('dataset', 'org/pictures', { 'README.md': '# cats', 'images/cat.png': 'png', 'data.csv': 'a,b\n' });
  const model: Record<string, Uint8Array> = {};
  for (const f of readdirSync(TINY_LLAMA)) if (statSync(join(TINY_LLAMA, f)).isFile()) model[f] = new Uint8Array(readFileSync(join(TINY_LLAMA, f)));
  hub.addRepo('model', 'org/tiny-llama', model);
});

afterAll(() => hub.close());

const o = () => ({ hubUrl: hub.url });

describe('import a preference dataset by repo id', () => {
  it('reads the train split (Parquet) through the importer; the test split is marked held out', async () => {
    const train = await importHubDataset('org/prefs', o());
    expect(train.split).toBe('train');
    expect(train.files).toEqual(['data/train-00000-of-00001.parquet']);
    expect(train.records.map((r) => (r as { prompt: unknown }).prompt)).toEqual([0, 1, 2, 3, 4].map((i) => `main question ${i}?`));
    const test = await importHubDataset('org/prefs', { ...o(), split: 'test' });
    expect(test.records.length).toBe(2);
    expect(test.records.every((r) => r.split === 'test')).toBe(true);
  });

  it('at a revision (JSON lines there), and a private one with a token', async () => {
    const v1 = await importHubDataset('org/prefs', { ...o(), revision: 'v1' });
    expect(v1.files).toEqual(['train.jsonl']);
    expect(v1.records.length).toBe(3);
    const priv = await importHubDataset('org/private-prefs', { ...o(), accessToken: TOKEN });
    expect(priv.records.length).toBe(2);
  });

  it('a repository with no Parquet or JSON lines file lists what it holds', async () => {
    await expect(importHubDataset('org/pictures', o())).rejects.toThrow('dataset org/pictures has no Parquet or JSON lines file to import; it holds 3 files: README.md, images/cat.png, data.csv');
    await expect(importHubDataset('org/prefs', { ...o(), split: 'validation' })).rejects.toThrow('dataset org/prefs has no split "validation" (it has train, test)');
  });

  it('splits by the Hub naming conventions', () => {
    expect(['data/train-00000-of-00002.parquet', 'test.jsonl', 'validation/part.parquet', 'dev.jsonl', 'data.jsonl', 'eval_pairs.json'].map(splitOfPath)).toEqual(['train', 'test', 'validation', 'validation', 'train', 'test']);
  });
});

describe('errors: one clear message each, never the token', () => {
  it('404: no such repository (or a private one without a token)', async () => {
    for (const id of ['org/nope', 'org/private-prefs']) {
      const e = await listRepoFiles(id, 'dataset', o()).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HubError);
      expect((e as HubError).kind).toBe('not-found');
      expect((e as HubError).message).toBe(`listing dataset ${id}: not found on the Hub (404). Check the repository id, the revision and the file; a private repository also answers 404 without a token that can read it`);
    }
  });

  it('401: a token the Hub refuses, for a read and for a push; the token is in no message', async () => {
    const bad = 'hf_not_a_valid_token_123';
    const read = (await listRepoFiles('org/prefs', 'dataset', { ...o(), accessToken: bad }).catch((x: unknown) => x)) as HubError;
    expect(read.kind).toBe('auth');
    expect(read.message).toBe('listing dataset org/prefs: the Hub refused the access token (401). Paste a valid token (hf_..., with write access to push), or none for a public repository');
    const push = (await pushFiles('me/x', 'model', { 'a.txt': 'a' }, { ...o(), accessToken: bad, title: 't' }).catch((x: unknown) => x)) as HubError;
    expect(push.kind).toBe('auth');
    expect(push.message).not.toContain(bad);
    expect(hub.repos.has('model:me/x')).toBe(false);
    const notToken = (await listRepoFiles('org/prefs', 'dataset', { ...o(), accessToken: 'ghp_secret' }).catch((x: unknown) => x)) as HubError;
    expect(notToken.kind).toBe('auth');
    expect(notToken.message).toBe('listing dataset org/prefs: that is not a Hugging Face access token (they start with hf_); copy one from huggingface.co → Settings → Access Tokens');
  });

  it('hosts outside the network policy are refused before any request', async () => {
    const fetchSpy = vi.fn();
    await expect(listRepoFiles('org/prefs', 'dataset', { hubUrl: 'https://hub.example.com', fetch: fetchSpy })).rejects.toThrow(/hub\.example\.com: PrefStudio talks only to the Hugging Face Hub/);
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('push an adapter and a labelled dataset', () => {
  it('one commit with the PEFT files and a model card naming the base model, the method, the data and the metrics', async () => {
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const files: Record<string, Uint8Array | string> = { ...peftFiles(model, randomAdapter(model, { r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] })) };
    files['README.md'] = adapterModelCard({ baseModel: 'org/tiny-llama', method: 'dpo', lora: { r: 2, lora_alpha: 4, use_rslora: false, target_modules: ['q_proj', 'v_proj'] }, data: { name: 'prefs', records: 5, hubId: 'org/prefs' }, metrics: { loss: 0.61, 'rewards/accuracies': 0.8 }, steps: 10 });
    const before = hub.requests.length;
    const r = await pushFiles('me/tuned', 'model', files, { ...o(), accessToken: TOKEN, title: 'PrefStudio: DPO adapter' });
    expect(r.created).toBe(true);
    const repo = hub.repos.get('model:me/tuned')!;
    expect(repo.private).toBe(true);
    expect(repo.commits.map((c) => c.title)).toEqual(['initial commit', 'PrefStudio: DPO adapter']);
    const stored = hub.files('model', 'me/tuned')!;
    for (const [name, content] of Object.entries(files)) expect(stored.get(name), name).toEqual(typeof content === 'string' ? new TextEncoder().encode(content) : content);
    // The weights went to LFS storage, the rest inline; every request carried the token.
    const ours = hub.requests.slice(before);
    expect(ours.some((q) => q.method === 'PUT' && q.path.startsWith('/lfs-upload/'))).toBe(true);
    expect(ours.filter((q) => !q.path.startsWith('/lfs-upload/')).every((q) => q.auth)).toBe(true);
    const card = new TextDecoder().decode(stored.get('README.md'));
    expect(card).toMatch(/^---\nbase_model: "org\/tiny-llama"\nlibrary_name: peft\n/);
    expect(card).toContain(`**DPO** (TRL's DPOTrainer): ${METHODS.dpo.summary}`);
    expect(card).toContain('datasets:\n- "org/prefs"');
    expect(card).toContain('| rewards/accuracies | 0.8000 |');
    expect(card).not.toContain(TOKEN);

    // Pushing again to the existing repository adds one commit.
    await pushFiles('me/tuned', 'model', { 'README.md': 'v2' }, { ...o(), accessToken: TOKEN, title: 'again' });
    expect(repo.commits.length).toBe(3);
  });

  it('a labelled dataset to a dataset repository', async () => {
    await pushFiles('me/labels', 'dataset', { 'data/train.jsonl': pairsJsonl(4, 'l'), 'README.md': '# labels' }, { ...o(), accessToken: TOKEN, title: 'labels' });
    const back = await importHubDataset('me/labels', { ...o(), accessToken: TOKEN });
    expect(back.records.length).toBe(4);
  });

  it.each([
    ['the LFS upload', 'PUT', /^\/lfs-upload\//],
    ['the commit request', 'POST', /\/commit\/main$/],
  ])('a push cut off during %s leaves no half-written adapter; retrying succeeds', async (_, method, path) => {
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const files = peftFiles(model, randomAdapter(model, { r: 2, lora_alpha: 4, target_modules: ['q_proj'] }));
    const id = `me/cut-${method.toLowerCase()}`;
    await pushFiles(id, 'model', { 'README.md': 'first' }, { ...o(), accessToken: TOKEN, title: 'first' });
    const repo = hub.repos.get(`model:${id}`)!;
    const commits = repo.commits.length;
    hub.interrupt(method, path);
    const e = (await pushFiles(id, 'model', files, { ...o(), accessToken: TOKEN, title: 'adapter' }).catch((x: unknown) => x)) as HubError;
    expect(e).toBeInstanceOf(HubError);
    expect(e.message).toMatch(/^pushing to me\/cut-(put|post) \(nothing was committed\): could not reach the Hub/);
    expect(repo.commits.length).toBe(commits);
    expect([...hub.files('model', id)!.keys()].sort()).toEqual(['.gitattributes', 'README.md']);
    await pushFiles(id, 'model', files, { ...o(), accessToken: TOKEN, title: 'adapter' });
    expect(repo.commits.length).toBe(commits + 1);
    expect([...hub.files('model', id)!.keys()].sort()).toEqual(['.gitattributes', 'README.md', 'adapter_config.json', 'adapter_model.safetensors']);
  });
});

describe('load a model by repo id', () => {
  it('downloads its files (then loads), and a second run resumes: files already stored are not fetched again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prefstudio-hub-model-'));
    const save = async (path: string, blob: Blob) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), new Uint8Array(await blob.arrayBuffer()));
    };
    const have = (path: string, size: number) => {
      try {
        return statSync(join(dir, path)).size === size;
      } catch {
        return false;
      }
    };
    // First run: cut after config.json (as a reload would).
    let n = 0;
    const progress: number[] = [];
    await expect(downloadModelFiles('org/tiny-llama', { ...o(), have, save: async (p, b) => {
      if (n++ === 1) throw new Error('tab closed');
      await save(p, b);
    } })).rejects.toThrow('tab closed');
    const before = hub.requests.length;
    const r = await downloadModelFiles('org/tiny-llama', { ...o(), have, save, onProgress: (p) => progress.push(p.loaded) });
    expect(r.skipped.length).toBe(1);
    expect(r.files).toContain('model.onnx');
    expect(r.files).not.toContain('weights.json'); // not a model file
    expect(hub.requests.slice(before).filter((q) => q.path.includes('/resolve/') && q.path.endsWith(`/${r.skipped[0]!}`))).toEqual([]);
    expect(progress.at(-1)).toBe(r.bytes);
    const model = await loadModel(nodeDirSource(dir));
    expect(model.family).toBe('llama');
  });

  it('a model repository without an ONNX file says so', async () => {
    await expect(downloadModelFiles('org/prefs', { ...o(), save: async () => {} })).rejects.toThrow(/not found on the Hub \(404\)/);
    hub.addRepo('model', 'org/pytorch-only', { 'config.json': '{}', 'model.safetensors': 'x' });
    await expect(downloadModelFiles('org/pytorch-only', { ...o(), save: async () => {} })).rejects.toThrow('model org/pytorch-only has no .onnx file');
  });
});
