// The engine Worker's model modules in Node, on the real engine (Dawn) with an in-memory OPFS:
// import from files (stored, manifest, progress, active), generation (streamed, greedy equal to
// the CPU reference, stop strings, cancel, adapter hook), activation of a stored model, and a
// broken model refused with nothing stored. Plus the URL helpers against a fake fetch.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '#test-engine';
import { ModelLoadError } from '../../src/engine/model/errors.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { CpuTransformer } from '../../src/engine/transformer/cpu-reference.js';
import { ModelStore } from '../../src/services/model-store.js';
import type { LoadProgress, ModelFileEntry, GenerateRequest } from '../../src/worker/protocol.js';
import { fakeRoot, type FakeDirectory } from './models-fake-opfs.js';

// The Worker asks the browser for its engine; here it gets the test engine (Dawn).
vi.mock('../../src/engine/browser.js', async () => {
  const { testEngine: engine } = await import('#test-engine');
  return { createBrowserEngine: engine };
});

const { activateModel, describeActive, getActiveModel, importModel, setModelInUseCheck, unloadModel, useModelStore } = await import('../../src/worker/models.js');
const { generateText, setAdapterResolver, streamableText, checkSettings } = await import('../../src/worker/generate.js');
const { meteredFetch, modelUrlCandidates, resolveModelUrl } = await import('../../src/worker/model-url.js');
const { toFailure } = await import('../../src/worker/errors.js');

const FIXTURES = new URL('../fixtures/models/', import.meta.url).pathname;
const LLAMA = join(FIXTURES, 'tiny-llama');
const QWEN2 = join(FIXTURES, 'tiny-qwen2');
const NOT_MODEL = new Set(['reference.json', 'weights.json']);

async function folderFiles(dir: string, top: string, prefix = ''): Promise<ModelFileEntry[]> {
  const out: ModelFileEntry[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await folderFiles(dir, top, rel)));
    else if (!NOT_MODEL.has(e.name)) out.push({ path: `${top}/${rel}`, file: new File([await readFile(join(dir, rel))], e.name) });
  }
  return out;
}

const GREEDY: GenerateRequest = { prompt: 'hello', useChatTemplate: false, temperature: 0, topK: 0, topP: 1, maxNewTokens: 6, stopStrings: [], seed: 0 };

describe('worker models and generation (Node engine, in-memory OPFS)', () => {
  let root: FakeDirectory;
  let store: ModelStore;
  beforeAll(async () => {
    const fake = fakeRoot();
    root = fake.root;
    store = new ModelStore(fake.provider);
    useModelStore(store);
  });
  afterAll(async () => {
    const a = getActiveModel();
    if (a) await unloadModel(a.id);
    (await testEngine()).pool.trim();
  });

  it('imports a dropped folder: stored with its manifest, progress in stage order, active on the GPU', async () => {
    const progress: LoadProgress[] = [];
    const files = await folderFiles(LLAMA, 'tiny-llama');
    const m = await importModel({ kind: 'files', files, label: 'tiny-llama' }, new AbortController().signal, (p) => progress.push(p));
    const ref = await loadModel(nodeDirSource(LLAMA), { readWeights: false });
    expect(m).toMatchObject({ id: 'tiny-llama', name: 'tiny-llama', architecture: 'llama', dtype: 'f32', parameters: ref.parameterCount, gpuMemoryBytes: ref.memory.bytes.f32 });
    expect(m.sizeOnDisk).toBe(files.reduce((a, f) => a + f.file.size, 0));
    expect((root.children.get('models') as FakeDirectory).paths().filter((p) => p.startsWith('tiny-llama/'))).toEqual(
      [...files.map((f) => f.path), 'tiny-llama/manifest.json'].sort(),
    );
    const stages = [...new Set(progress.map((p) => p.stage))];
    expect(stages).toEqual(['reading', 'storing', 'uploading']);
    const stored = progress.filter((p) => p.stage === 'storing').at(-1)!;
    expect(stored.total).toBe(m.sizeOnDisk);
    expect(describeActive()).toEqual({ id: 'tiny-llama', manifest: m });
    expect((await store.list()).map((x) => x.id)).toEqual(['tiny-llama']);
  }, 60_000);

  it('greedy generation streams the text the CPU reference computes', async () => {
    const deltas: string[] = [];
    const summary = await generateText(GREEDY, new AbortController().signal, (e) => deltas.push(e.delta));
    const ref = await loadModel(nodeDirSource(LLAMA));
    const cpu = new CpuTransformer(ref.config, ref.transformerWeights('f32'));
    const tok = ref.tokenizer!;
    const prompt = tok.encode(GREEDY.prompt as string);
    const eos = [...new Set([...ref.config.eosIds, ...tok.eosIds])];
    const ids = cpu.greedy(prompt, GREEDY.maxNewTokens, eos);
    expect(summary).toMatchObject({ promptTokens: prompt.length, tokens: ids.length, text: tok.decode(ids, { skipSpecialTokens: true }) });
    expect(deltas.join('')).toBe(summary.text);
    expect(deltas.length).toBeGreaterThan(1);
  }, 60_000);

  it('a stop string ends the text before it, and streaming never showed it', async () => {
    const full = await generateText({ ...GREEDY, maxNewTokens: 12 }, new AbortController().signal);
    const stop = full.text.slice(Math.floor(full.text.length / 2)).slice(0, 2);
    expect(stop.length).toBe(2);
    const deltas: string[] = [];
    const cut = await generateText({ ...GREEDY, maxNewTokens: 12, stopStrings: [stop] }, new AbortController().signal, (e) => deltas.push(e.delta));
    expect(cut.finishReason).toBe('stop');
    expect(cut.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
    expect(deltas.join('')).toBe(cut.text);
  }, 60_000);

  it('cancel ends generation at the next token', async () => {
    const controller = new AbortController();
    let seen = 0;
    const summary = await generateText({ ...GREEDY, maxNewTokens: 40, stopStrings: [] }, controller.signal, (e) => {
      seen = e.tokens;
      controller.abort();
    });
    expect(summary.finishReason).toBe('abort');
    expect(summary.tokens).toBeLessThanOrEqual(seen + 1);
    expect(summary.tokens).toBeLessThan(40);
  }, 60_000);

  it('adapterId: refused without adapters; with a resolver it is attached for the request and detached after', async () => {
    await expect(generateText({ ...GREEDY, adapterId: 'a1' }, new AbortController().signal)).rejects.toMatchObject({ code: 'no-adapter' });
    const calls: string[] = [];
    setAdapterResolver((id, model, modelId) => {
      expect(model).toBe(getActiveModel()!.model);
      calls.push(`attach ${id} to ${modelId}`);
      return () => calls.push(`detach ${id}`);
    });
    try {
      await generateText({ ...GREEDY, maxNewTokens: 2, adapterId: 'a1' }, new AbortController().signal);
    } finally {
      setAdapterResolver(null);
    }
    expect(calls).toEqual(['attach a1 to tiny-llama', 'detach a1']);
  }, 60_000);

  it('a model with missing external data is refused by name; nothing stored, the active model stays', async () => {
    const before = (root.children.get('models') as FakeDirectory).paths();
    const files = (await folderFiles(QWEN2, 'tiny-qwen2')).filter((f) => !f.path.endsWith('model.onnx_data'));
    const err = await importModel({ kind: 'files', files }, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(toFailure(err)).toMatchObject({ name: 'ModelLoadError', code: 'external-data-missing', message: expect.stringContaining('onnx/model.onnx_data') });
    expect((root.children.get('models') as FakeDirectory).paths()).toEqual(before);
    expect(describeActive()?.id).toBe('tiny-llama');
  }, 60_000);

  it('cancelling an import stores nothing and leaves the active model', async () => {
    const before = (root.children.get('models') as FakeDirectory).paths();
    const controller = new AbortController();
    const files = await folderFiles(QWEN2, 'tiny-qwen2');
    const run = importModel({ kind: 'files', files }, controller.signal, (p) => p.stage === 'storing' && controller.abort());
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect((root.children.get('models') as FakeDirectory).paths()).toEqual(before);
    expect(describeActive()?.id).toBe('tiny-llama');
  }, 60_000);

  it('imports a second model (transformers.js layout, external data), then activates the first from storage', async () => {
    const q = await importModel({ kind: 'files', files: await folderFiles(QWEN2, 'tiny-qwen2') }, new AbortController().signal);
    expect(q).toMatchObject({ id: 'tiny-qwen2', architecture: 'qwen2', onnxFile: 'onnx/model.onnx' });
    expect(q.files.map((f) => f.path)).toContain('onnx/model.onnx_data');
    expect(describeActive()?.id).toBe('tiny-qwen2');

    const progress: LoadProgress[] = [];
    const m = await activateModel('tiny-llama', new AbortController().signal, (p) => progress.push(p));
    expect(m.id).toBe('tiny-llama');
    expect(describeActive()?.id).toBe('tiny-llama');
    expect(progress.some((p) => p.stage === 'storing')).toBe(false);
    const again = await generateText(GREEDY, new AbortController().signal);
    expect(again.tokens).toBeGreaterThan(0);
    await expect(activateModel('nope', new AbortController().signal)).rejects.toMatchObject({ code: 'not-found' });
  }, 60_000);

  it('a second activation of the model being loaded waits for that load; another model meanwhile is refused as busy', async () => {
    const first = activateModel('tiny-qwen2', new AbortController().signal);
    const joined = activateModel('tiny-qwen2', new AbortController().signal);
    await expect(activateModel('tiny-llama', new AbortController().signal)).rejects.toMatchObject({ code: 'busy' });
    expect(joined).toBe(first);
    expect((await joined).id).toBe('tiny-qwen2');
    const slot = getActiveModel();
    expect(slot?.id).toBe('tiny-qwen2');
    expect((await activateModel('tiny-qwen2', new AbortController().signal)).id).toBe('tiny-qwen2');
    expect(getActiveModel()).toBe(slot); // already active: not loaded again
    expect((await activateModel('tiny-llama', new AbortController().signal)).id).toBe('tiny-llama');
  }, 60_000);

  it('while a training run holds the model, switching, importing and unloading are refused and the model stays', async () => {
    const before = getActiveModel();
    expect(before?.id).toBe('tiny-llama');
    setModelInUseCheck(() => 'a training run (run-1) is using the current model: pause or stop it before loading or removing a model');
    try {
      const refused = { code: 'busy', message: expect.stringContaining('pause or stop it') };
      await expect(activateModel('tiny-qwen2', new AbortController().signal)).rejects.toMatchObject(refused);
      await expect(importModel({ kind: 'files', files: await folderFiles(QWEN2, 'tiny-qwen2') }, new AbortController().signal)).rejects.toMatchObject(refused);
      await expect(unloadModel('tiny-llama')).rejects.toMatchObject(refused);
      expect(getActiveModel()).toBe(before);
      expect((await generateText(GREEDY, new AbortController().signal)).tokens).toBeGreaterThan(0); // still on the GPU
    } finally {
      setModelInUseCheck(() => null);
    }
  }, 60_000);

  it('without an active model generation says to load one', async () => {
    await unloadModel('tiny-llama');
    expect(describeActive()).toBeNull();
    await expect(generateText(GREEDY, new AbortController().signal)).rejects.toMatchObject({ code: 'no-model' });
  });

  it('f16Weights converts the f32 linear weights to f16 on the GPU, at half their memory, again when activated from storage', async () => {
    const files = await folderFiles(LLAMA, 'tiny-llama-f16');
    const m = await importModel({ kind: 'files', files, label: 'tiny-llama-f16', f16Weights: true }, new AbortController().signal);
    const ref = await loadModel(nodeDirSource(LLAMA), { readWeights: false });
    expect(m).toMatchObject({ id: 'tiny-llama-f16', dtype: 'f32', f16Weights: true, gpuMemoryBytes: ref.memory.bytes.f16 });
    expect(ref.memory.bytes.f16).toBeLessThan(ref.memory.bytes.f32);
    expect(m.sizeOnDisk).toBe(files.reduce((a, f) => a + f.file.size, 0)); // the files as they were
    const dtypes = () => {
      const w = getActiveModel()!.model.weights;
      return [(w.tokenEmbedding as { dtype: string }).dtype, (w.layers[0]!.q.weight as { dtype: string }).dtype, w.layers[0]!.ln1!.weight.dtype];
    };
    expect(dtypes()).toEqual(['f16', 'f16', 'f32']); // norms stay f32
    expect((await generateText(GREEDY, new AbortController().signal)).tokens).toBeGreaterThan(0);
    await activateModel('tiny-llama', new AbortController().signal);
    expect(dtypes()).toEqual(['f32', 'f32', 'f32']);
    expect((await activateModel('tiny-llama-f16', new AbortController().signal)).f16Weights).toBe(true);
    expect(dtypes()).toEqual(['f16', 'f16', 'f32']);
    await unloadModel('tiny-llama-f16');
  }, 60_000);
});

describe('generation settings and streamed text', () => {
  it('checkSettings names the bad field', () => {
    expect(() => checkSettings({ ...GREEDY, temperature: -1 })).toThrow(/^temperature: -1/);
    expect(() => checkSettings({ ...GREEDY, topP: 0 })).toThrow(/^top-p/);
    expect(() => checkSettings({ ...GREEDY, topK: 1.5 })).toThrow(/^top-k/);
    expect(() => checkSettings({ ...GREEDY, maxNewTokens: 0 })).toThrow(/^max new tokens/);
    expect(() => checkSettings({ ...GREEDY, maxNewTokens: Number.NaN })).toThrow(/^max new tokens/);
    expect(() => checkSettings(GREEDY)).not.toThrow();
  });

  it('streamableText holds back a broken character and a possible stop-string start', () => {
    expect(streamableText('abc', [])).toBe('abc');
    expect(streamableText('ab\uFFFD', [])).toBe('ab');
    expect(streamableText('hello wo', ['world'])).toBe('hello ');
    expect(streamableText('hello world!', ['world'])).toBe('hello ');
    expect(streamableText('a\n', ['\n\n'])).toBe('a');
    expect(streamableText('a\nb', ['\n\n'])).toBe('a\nb');
  });
});

describe('model URLs', () => {
  it('Hub page URLs become resolve URLs; other servers try the Hub layout then the plain folder', () => {
    expect(modelUrlCandidates('https://huggingface.co/org/repo')).toEqual([{ base: 'https://huggingface.co/org/repo/resolve/main/', name: 'org/repo' }]);
    expect(modelUrlCandidates('https://huggingface.co/org/repo/tree/v1.0')).toEqual([{ base: 'https://huggingface.co/org/repo/resolve/v1.0/', name: 'org/repo' }]);
    expect(modelUrlCandidates('https://huggingface.co/org/repo/blob/main/config.json')[0]!.base).toBe('https://huggingface.co/org/repo/resolve/main/');
    expect(modelUrlCandidates('https://hf.co/org/repo/resolve/main/onnx/')[0]!.base).toBe('https://hf.co/org/repo/resolve/main/onnx/');
    expect(modelUrlCandidates('http://127.0.0.1:8000/models/tiny/?x=1#y')).toEqual([
      { base: 'http://127.0.0.1:8000/models/tiny/resolve/main/', name: 'models/tiny' },
      { base: 'http://127.0.0.1:8000/models/tiny/', name: 'tiny' },
    ]);
    expect(() => modelUrlCandidates('not a url')).toThrow(/is not a URL/);
    // A Hub repository id is that repository on huggingface.co.
    expect(modelUrlCandidates(' HuggingFaceTB/SmolLM2-135M-Instruct ')).toEqual([{ base: 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/', name: 'HuggingFaceTB/SmolLM2-135M-Instruct' }]);
    expect(() => modelUrlCandidates('org/../x')).toThrow(/is not a URL/);
    expect(() => modelUrlCandidates('file:///etc/passwd')).toThrow(/file: URLs are not supported/);
  });

  it('refuses hosts the security policy does not reach, saying which and what to do instead', () => {
    for (const url of ['https://example.com/org/model', 'https://huggingface.co.evil.test/m', 'http://huggingface.co/org/repo', 'http://10.0.0.2/m']) {
      expect(() => modelUrlCandidates(url), url).toThrow(/fetches models only from the Hugging Face Hub .* or a server on this machine .*open it from disk/);
    }
    expect(modelUrlCandidates('https://cdn-lfs.huggingface.co/org/repo')[0]!.base).toMatch(/^https:\/\/cdn-lfs\.huggingface\.co\//);
    expect(modelUrlCandidates('http://localhost:5173/models/demo/')[1]!.base).toBe('http://localhost:5173/models/demo/');
  });

  const server = (files: Record<string, { status?: number; type?: string; body?: string }>) =>
    (async (input: RequestInfo | URL) => {
      const f = files[String(input)];
      if (!f) return new Response(null, { status: 404 });
      return new Response(f.body ?? '', { status: f.status ?? 200, headers: { 'content-type': f.type ?? 'application/json' } });
    }) as typeof fetch;

  it('resolveModelUrl finds the layout by a marker file; an SPA fallback page counts as missing', async () => {
    const plain = meteredFetch({ fetch: server({ 'http://localhost/m/config.json': {}, 'http://localhost/m/resolve/main/config.json': { type: 'text/html; charset=utf-8' } }) });
    expect(await resolveModelUrl('http://localhost/m', plain)).toEqual({ base: 'http://localhost/m/', name: 'm' });
    const hub = meteredFetch({ fetch: server({ 'http://localhost/o/m/resolve/main/onnx/model.onnx': { type: 'application/octet-stream' } }) });
    expect(await resolveModelUrl('http://localhost/o/m', hub)).toEqual({ base: 'http://localhost/o/m/resolve/main/', name: 'o/m' });
    await expect(resolveModelUrl('http://localhost/empty', meteredFetch({ fetch: server({}) }))).rejects.toMatchObject({ code: 'no-model-file', message: expect.stringContaining('http://localhost/empty/resolve/main/ or http://localhost/empty/') });
  });

  it('meteredFetch: gated repos, unreachable servers and bytes counted', async () => {
    const gated = meteredFetch({ fetch: server({ 'https://h/x': { status: 401 } }) });
    await expect(gated('https://h/x')).rejects.toMatchObject({ code: 'http', message: expect.stringContaining('gated or private') });
    const down = meteredFetch({ fetch: (async () => Promise.reject(new TypeError('Failed to fetch'))) as typeof fetch });
    await expect(down('https://h/x')).rejects.toMatchObject({ code: 'network', message: expect.stringContaining('Access-Control-Allow-Origin') });
    let bytes = 0;
    const counted = meteredFetch({ fetch: server({ 'https://h/x': { body: 'abcdef', type: 'application/octet-stream' } }), onBytes: (n) => (bytes += n) });
    expect(await (await counted('https://h/x')).text()).toBe('abcdef');
    expect(bytes).toBe(6);
    const controller = new AbortController();
    controller.abort();
    const aborted = meteredFetch({ signal: controller.signal, fetch: ((_: unknown, init?: RequestInit) => Promise.reject(init?.signal?.reason ?? new Error('aborted'))) as typeof fetch });
    await expect(aborted('https://h/x')).rejects.toMatchObject({ name: 'AbortError' });
  });
});
