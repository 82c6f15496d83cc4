// The Models page in the built studio (Vite build + preview, Debian's headless Chromium, as in
// smoke.test.ts): the demo model loads on first run through the URL path and is stored in OPFS,
// the playground streams the same greedy text as our CPU reference, a reload lists the stored
// model without fetching it again, a Hub-layout URL on a local HTTP server loads (external data
// included), bad input and cancel leave the page usable, files load through the file input, and
// delete asks first. One browser context throughout, so OPFS carries from step to step.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { CpuTransformer } from '../../src/engine/transformer/cpu-reference.js';
import { formatBytes } from '../../src/ui/format.js';
import { ROOT, useStudio } from '../support/e2e.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';

const studio = useStudio('models');
const DEMO_DIR = join(ROOT, 'public/models/demo-fortunes');
const QWEN2_DIR = join(ROOT, 'test/fixtures/models/tiny-qwen2');
const LLAMA_DIR = join(ROOT, 'test/fixtures/models/tiny-llama');
/** Files a model folder has; the fixtures' reference files are not part of the model. */
const MODEL_FILES = /^(config|generation_config|special_tokens_map|tokenizer|tokenizer_config)\.json$|^onnx\/|\.onnx$/;
const PROMPT = 'Life is';
const NEW_TOKENS = 10;

let page: Page | null = null;
let errors: string[] = [];
let requests: string[] = [];

// ---- a local server with the Hugging Face Hub layout: /<org>/<repo>/resolve/main/<file> ----

let hub: Server | null = null;
let hubOrigin = '';
const hubLog: string[] = [];
const held: ServerResponse[] = [];

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (MODEL_FILES.test(rel)) out.push(rel);
  }
  return out;
}

/** repo → folder on disk, and files to leave out (a broken upload). */
const REPOS: Record<string, { dir: string; without?: string[]; hang?: string }> = {
  'test-org/tiny-qwen2': { dir: QWEN2_DIR },
  'broken/tiny-qwen2': { dir: QWEN2_DIR, without: ['onnx/model.onnx_data'] },
  // config and tokenizer but no ONNX file (a PyTorch-only repo).
  'pytorch/tiny-qwen2': { dir: QWEN2_DIR, without: ['onnx/model.onnx', 'onnx/model.onnx_data'] },
  // Never answers for the weights: a load to cancel.
  'slow/tiny-qwen2': { dir: QWEN2_DIR, hang: 'onnx/model.onnx_data' },
};

async function serveHub(req: IncomingMessage, res: ServerResponse): Promise<void> {
  hubLog.push(`${req.method} ${req.url}`);
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'Range');
  res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges');
  if (req.method === 'OPTIONS') {
    res.writeHead(204).end();
    return;
  }
  const match = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
  const repo = match ? REPOS[match[1]!] : undefined;
  const file = match?.[2] ?? '';
  if (!repo || !MODEL_FILES.test(file) || file.includes('..') || repo.without?.includes(file)) {
    res.writeHead(404).end();
    return;
  }
  if (repo.hang === file && req.method === 'GET') {
    held.push(res);
    return;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(join(repo.dir, file));
  } catch {
    res.writeHead(404).end();
    return;
  }
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (range) {
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), bytes.length - 1);
    res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${bytes.length}` });
    res.end(req.method === 'HEAD' ? undefined : bytes.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, { 'Content-Length': bytes.length, 'Accept-Ranges': 'bytes' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

// ---- helpers ----

/** tiny-llama laid out as transformers.js does: onnx/model.onnx (f32) and onnx/model_q4.onnx (our MatMulNBits quantizer), config and tokenizer at the top. */
async function variantsFolder(): Promise<{ dir: string; f32: Buffer }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'prefstudio-variants-')), 'tiny-llama-variants');
  cpSync(LLAMA_DIR, dir, { recursive: true, filter: (src) => !src.endsWith('model.onnx') });
  mkdirSync(join(dir, 'onnx'));
  const f32 = await readFile(join(LLAMA_DIR, 'model.onnx'));
  writeFileSync(join(dir, 'onnx', 'model.onnx'), f32);
  writeFileSync(join(dir, 'onnx', 'model_q4.onnx'), quantizeOnnx(new Uint8Array(f32), { bits: 4, blockSize: 16, zeroPoints: true }).bytes);
  return { dir, f32 };
}

const row = (id: string) => page!.getByTestId(`model-row-${id}`);

async function waitLoaded(id: string, timeout = 90_000): Promise<void> {
  await page!.locator(`[data-testid="model-row-${id}"][data-loaded="true"]`).waitFor({ timeout });
}

async function fact(id: string, key: string): Promise<string> {
  return ((await row(id).getByTestId(`model-${key}`).locator('dd').textContent()) ?? '').trim();
}

async function diskSize(dir: string): Promise<number> {
  let total = 0;
  for (const f of await listFiles(dir)) total += (await stat(join(dir, f))).size;
  return total;
}

/** What OPFS holds for a model: its files (paths) and manifest. */
async function stored(id: string): Promise<{ files: string[]; manifest: Record<string, unknown> | null }> {
  return page!.evaluate(async (modelId) => {
    type Dir = FileSystemDirectoryHandle & { values(): AsyncIterable<FileSystemHandle> };
    const root = await navigator.storage.getDirectory();
    let dir: Dir;
    try {
      dir = (await (await root.getDirectoryHandle('models')).getDirectoryHandle(modelId)) as Dir;
    } catch {
      return { files: [], manifest: null };
    }
    const files: string[] = [];
    const walk = async (d: Dir, prefix: string): Promise<void> => {
      for await (const e of d.values()) {
        if (e.kind === 'directory') await walk(e as Dir, `${prefix}${e.name}/`);
        else files.push(prefix + e.name);
      }
    };
    await walk(dir, '');
    const manifest = JSON.parse(await (await (await dir.getFileHandle('manifest.json')).getFile()).text()) as Record<string, unknown>;
    return { files: files.sort(), manifest };
  }, id);
}

async function modelDirs(): Promise<string[]> {
  return page!.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const models = (await root.getDirectoryHandle('models', { create: true })) as FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };
    const names: string[] = [];
    for await (const name of models.keys()) names.push(name);
    return names.sort();
  });
}

async function generateGreedy(tokens: number): Promise<{ text: string; updates: number }> {
  const p = page!;
  await p.getByTestId('playground-prompt').fill(PROMPT);
  await p.getByTestId('playground-temperature').fill('0');
  await p.getByTestId('playground-maxNewTokens').fill(String(tokens));
  // Count the distinct texts the completion shows while it streams.
  await p.evaluate(() => {
    const el = document.querySelector('[data-testid="playground-completion"]')!;
    const seen = new Set<string>();
    (window as unknown as { __seen: Set<string> }).__seen = seen;
    new MutationObserver(() => seen.add(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
  });
  await p.getByTestId('playground-generate').click();
  await p.locator('[data-testid="playground-status"][data-status="done"]').waitFor({ timeout: 60_000 });
  const text = (await p.getByTestId('playground-completion').textContent()) ?? '';
  const updates = await p.evaluate(() => [...(window as unknown as { __seen: Set<string> }).__seen].filter(Boolean).length);
  return { text, updates };
}

beforeAll(async () => {
  hub = createServer((req, res) => void serveHub(req, res).catch(() => res.writeHead(500).end()));
  await new Promise<void>((ok) => hub!.listen(0, '127.0.0.1', ok));
  hubOrigin = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  // One context throughout (OPFS carries from test to test); the first test waits for the demo model.
  ({ page, errors, requests } = await studio.open('#/models', { keep: true, timeout: 30_000 }));
}, 60_000);

afterAll(async () => {
  for (const res of held) res.destroy();
  await new Promise((ok) => (hub ? hub.close(ok) : ok(undefined)));
}, 30_000);

describe('Models page (built app in headless Chromium)', () => {
  it('opens on the demo model: fetched from the app base, stored in OPFS, listed with its facts', async () => {
    await waitLoaded('demo-fortunes');
    expect(await row('demo-fortunes').getAttribute('data-active')).toBe('true');

    const demoFiles = await listFiles(DEMO_DIR);
    expect(requests.filter((u) => u.includes('/models/demo-fortunes/model.onnx')).length).toBeGreaterThan(0);
    const { files, manifest } = await stored('demo-fortunes');
    expect(files).toEqual([...demoFiles, 'manifest.json'].sort());
    expect(manifest).toMatchObject({ id: 'demo-fortunes', architecture: 'llama', dtype: 'f32', source: { kind: 'url' } });

    const reference = await loadModel(nodeDirSource(DEMO_DIR), { readWeights: false });
    expect(manifest!.parameters).toBe(reference.parameterCount);
    expect(await fact('demo-fortunes', 'architecture')).toBe('Llama');
    expect(await fact('demo-fortunes', 'parameters')).toBe('1.05M');
    expect(await fact('demo-fortunes', 'dtype')).toBe('f32');
    expect(await fact('demo-fortunes', 'size')).toBe(formatBytes(await diskSize(DEMO_DIR)));
    expect(await fact('demo-fortunes', 'gpu-memory')).toBe(`≈ ${formatBytes(reference.memory.bytes.f32)}`);
    expect(errors).toEqual([]);
  }, 150_000);

  it('the playground streams the greedy completion our CPU reference computes', async () => {
    const { text, updates } = await generateGreedy(NEW_TOKENS);
    const loaded = await loadModel(nodeDirSource(DEMO_DIR));
    const cpu = new CpuTransformer(loaded.config, loaded.transformerWeights('f32'));
    const tok = loaded.tokenizer!;
    const ids = cpu.greedy(tok.encode(PROMPT), NEW_TOKENS, loaded.config.eosIds);
    expect(text).toBe(tok.decode(ids, { skipSpecialTokens: true }));
    expect(text.trim().length).toBeGreaterThan(0);
    // Streamed: the text grew in several steps, not in one piece at the end.
    expect(updates).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([]);
  }, 120_000);

  it('a reload lists the stored demo model and loads it without fetching it again', async () => {
    requests.length = 0;
    await page!.reload();
    await waitLoaded('demo-fortunes');
    expect(requests.filter((u) => u.includes('/models/demo-fortunes/'))).toEqual([]);
    expect(await page!.getByTestId('models-list').locator('li').count()).toBe(1);
    expect(errors).toEqual([]);
  }, 120_000);

  it('loads a Hub-layout URL from a local server (transformers.js layout, external data) and samples it', async () => {
    hubLog.length = 0;
    await page!.getByTestId('model-url-input').fill(`${hubOrigin}/test-org/tiny-qwen2`);
    await page!.getByTestId('model-url-load').click();
    await waitLoaded('test-org-tiny-qwen2');
    expect(hubLog.some((l) => l.startsWith('GET /test-org/tiny-qwen2/resolve/main/onnx/model.onnx_data'))).toBe(true);
    const { files, manifest } = await stored('test-org-tiny-qwen2');
    expect(files).toEqual([...(await listFiles(QWEN2_DIR)), 'manifest.json'].sort());
    expect(manifest).toMatchObject({ name: 'test-org/tiny-qwen2', architecture: 'qwen2', source: { kind: 'url', url: `${hubOrigin}/test-org/tiny-qwen2/resolve/main/` } });
    expect(await fact('test-org-tiny-qwen2', 'architecture')).toBe('Qwen2');
    expect(await row('demo-fortunes').getAttribute('data-loaded')).toBe('false');
    const { text } = await generateGreedy(4);
    expect(typeof text).toBe('string');
    expect(errors).toEqual([]);
  }, 120_000);

  it('a broken model says what is missing, stores nothing, and leaves the page usable', async () => {
    const before = await modelDirs();
    await page!.getByTestId('model-url-input').fill(`${hubOrigin}/broken/tiny-qwen2`);
    await page!.getByTestId('model-url-load').click();
    const problem = page!.getByTestId('models-problem');
    await problem.waitFor();
    expect(await problem.getAttribute('data-code')).toBe('external-data-missing');
    expect(await problem.textContent()).toContain('onnx/model.onnx_data');
    expect(await modelDirs()).toEqual(before);
    await problem.getByRole('button', { name: 'Dismiss' }).click();
    await problem.waitFor({ state: 'detached' });
    // The previous model is still active and the page still loads models.
    expect(await row('test-org-tiny-qwen2').getAttribute('data-loaded')).toBe('true');

    // A repo id that does not exist, and a repo with no ONNX file: one clear error each, nothing stored.
    for (const [repo, said] of [['no-such-org/no-such-model', /no model found at .*no-such-org\/no-such-model/], ['pytorch/tiny-qwen2', /no \.onnx model in /]] as const) {
      await page!.getByTestId('model-url-input').fill(`${hubOrigin}/${repo}`);
      await page!.getByTestId('model-url-load').click();
      await problem.waitFor();
      expect(await problem.getAttribute('data-code')).toBe('no-model-file');
      expect(await problem.textContent()).toMatch(said);
      expect(await modelDirs()).toEqual(before);
      await problem.getByRole('button', { name: 'Dismiss' }).click();
      await problem.waitFor({ state: 'detached' });
    }

    await page!.getByTestId('model-url-input').fill('ftp://example.com/model');
    await page!.getByTestId('model-url-load').click();
    await problem.waitFor();
    expect(await problem.getAttribute('data-code')).toBe('bad-url');
    await problem.getByRole('button', { name: 'Dismiss' }).click();
    expect(errors).toEqual([]);
  }, 60_000);

  it('cancel stops a load: nothing stored, no error shown', async () => {
    const before = await modelDirs();
    await page!.getByTestId('model-url-input').fill(`${hubOrigin}/slow/tiny-qwen2`);
    await page!.getByTestId('model-url-load').click();
    await page!.getByTestId('model-load-progress').waitFor();
    await expect.poll(() => held.length, { timeout: 20_000 }).toBeGreaterThan(0);
    await page!.getByTestId('model-load-cancel').click();
    await page!.getByTestId('model-load-progress').waitFor({ state: 'detached' });
    expect(await page!.getByTestId('models-problem').count()).toBe(0);
    expect(await modelDirs()).toEqual(before);
    expect(await row('test-org-tiny-qwen2').getAttribute('data-loaded')).toBe('true');
    expect(errors).toEqual([]);
  }, 60_000);

  it('a transformers.js-layout folder with several variants shows the choice and loads the one picked', async () => {
    // tiny-llama laid out as transformers.js does: onnx/model.onnx (f32) and onnx/model_q4.onnx
    // (our MatMulNBits quantizer), config and tokenizer at the top.
    const { dir, f32 } = await variantsFolder();
    const before = await modelDirs();
    await page!.getByTestId('model-folder-input').setInputFiles(dir);
    const choice = page!.getByTestId('model-variants');
    await choice.waitFor();
    // Both listed with their precision and size; the recommended one (fp32: there is no fp16) chosen.
    const fp32 = page!.getByTestId('model-variant-onnx/model.onnx');
    const q4 = page!.getByTestId('model-variant-onnx/model_q4.onnx');
    expect(await fp32.getAttribute('data-dtype')).toBe('fp32');
    expect(await q4.getAttribute('data-dtype')).toBe('q4');
    expect(await fp32.textContent()).toContain(formatBytes(f32.byteLength));
    expect(await fp32.textContent()).toContain('recommended');
    // GPU memory told from the file before anything is read: f32 as stored, 4-bit codes plus an
    // f32 scale and zero point per block (variant-choice.ts), against this adapter's budget.
    expect(await fp32.textContent()).toContain(`about ${formatBytes(f32.byteLength)} of GPU memory`);
    expect(await q4.textContent()).toMatch(/about [\d.]+ [KM]iB of GPU memory/);
    expect(await page!.getByTestId('model-variant-reason').textContent()).toMatch(/^Recommended: fp32, the preferred variant, fits the [\d.]+ GiB budget/);
    expect(await q4.textContent()).toMatch(/4-bit base/);
    expect(await fp32.locator('input').isChecked()).toBe(true);
    expect(await modelDirs()).toEqual(before); // nothing read or stored before the choice
    await q4.locator('input').check();
    await page!.getByTestId('model-variant-import').click();
    await choice.waitFor({ state: 'detached' });
    // The new model: the stored one whose manifest names a variant of this folder.
    const ours = async () => {
      for (const d of await modelDirs()) if (!before.includes(d) && String((await stored(d)).manifest?.onnxFile ?? '').startsWith('onnx/model')) return d;
      return null;
    };
    await expect.poll(ours, { timeout: 60_000 }).not.toBeNull();
    const added = (await ours())!;
    await waitLoaded(added);
    const s = await stored(added);
    expect(s.manifest).toMatchObject({ onnxFile: 'onnx/model_q4.onnx' });
    expect(s.files).toContain('onnx/model_q4.onnx');
    expect(s.files).not.toContain('onnx/model.onnx'); // only the chosen variant is stored
    await row(added).getByTestId('model-delete').click();
    await row(added).getByTestId('model-delete-confirm').click();
    await row(added).waitFor({ state: 'detached' });
    expect(errors).toEqual([]);
  }, 120_000);

  it('a Hub repo with several variants offers the same choice before downloading any; the one picked loads', async () => {
    const { dir, f32 } = await variantsFolder();
    REPOS['test-org/tiny-llama-variants'] = { dir };
    hubLog.length = 0;
    await page!.getByTestId('model-url-input').fill(`${hubOrigin}/test-org/tiny-llama-variants`);
    await page!.getByTestId('model-url-load').click();
    const choice = page!.getByTestId('model-variants');
    await choice.waitFor();
    const fp32 = page!.getByTestId('model-variant-onnx/model.onnx');
    const q4 = page!.getByTestId('model-variant-onnx/model_q4.onnx');
    expect(await fp32.textContent()).toContain(`${formatBytes(f32.byteLength)} on disk`); // sizes from HEAD requests
    expect(await fp32.textContent()).toContain('recommended');
    expect(await fp32.locator('input').isChecked()).toBe(true);
    expect(hubLog.filter((l) => l.startsWith('GET ') && l.includes('.onnx'))).toEqual([]); // nothing downloaded before the choice
    await q4.locator('input').check();
    await page!.getByTestId('model-variant-import').click();
    await choice.waitFor({ state: 'detached' });
    await waitLoaded('test-org-tiny-llama-variants');
    const s = await stored('test-org-tiny-llama-variants');
    expect(s.manifest).toMatchObject({ onnxFile: 'onnx/model_q4.onnx', source: { kind: 'url' } });
    expect(s.files).not.toContain('onnx/model.onnx');
    expect(hubLog.some((l) => l.startsWith('GET /test-org/tiny-llama-variants/resolve/main/onnx/model.onnx'))).toBe(false);
    await row('test-org-tiny-llama-variants').getByTestId('model-delete').click();
    await row('test-org-tiny-llama-variants').getByTestId('model-delete-confirm').click();
    await row('test-org-tiny-llama-variants').waitFor({ state: 'detached' });
    expect(errors).toEqual([]);
  }, 120_000);

  it('loads files chosen with the file input, and deletes a model after confirmation', async () => {
    const files = (await listFiles(LLAMA_DIR)).map((f) => join(LLAMA_DIR, f));
    await page!.getByTestId('model-files-input').setInputFiles(files);
    // Loose files are named by their architecture and size ("llama-0.1M").
    await expect.poll(() => page!.getByTestId('models-list').locator('li').count(), { timeout: 60_000 }).toBe(3);
    const ids = await page!.getByTestId('models-list').locator('li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-testid')!.slice('model-row-'.length)));
    const added = ids.find((id) => id.startsWith('llama-'))!;
    expect(added).toBeDefined();
    await waitLoaded(added);
    expect((await stored(added)).files).toEqual([...(await listFiles(LLAMA_DIR)), 'manifest.json'].sort());

    await row('test-org-tiny-qwen2').getByTestId('model-delete').click();
    expect(await modelDirs()).toContain('test-org-tiny-qwen2'); // nothing yet: it asks first
    await row('test-org-tiny-qwen2').getByTestId('model-delete-confirm').click();
    await row('test-org-tiny-qwen2').waitFor({ state: 'detached' });
    expect(await modelDirs()).not.toContain('test-org-tiny-qwen2');
    await page!.reload();
    await waitLoaded(added);
    expect(await row('test-org-tiny-qwen2').count()).toBe(0);
    expect(errors).toEqual([]);
  }, 90_000);
});
