// --model <org/name> (src/cli/hub-model.ts) against the local Hub (test/hub/hub-server.ts): one
// variant of a transformers.js-layout repo fetched into the cache (the preferred one, or --dtype's),
// loaded, not fetched again; an id that does not exist and a repo with no ONNX file are one
// error each and leave nothing in the cache; a local folder is used as it is.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubCacheDir, modelFolder } from '../../src/cli/hub-model.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { startHubServer, type HubServer } from '../hub/hub-server.js';
import { TINY_LLAMA } from '../model/helpers.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';

let hub: HubServer;
const cache = mkdtempSync(join(tmpdir(), 'prefstudio-hub-cache-'));
const saved = { cache: process.env.PREFSTUDIO_CACHE, hub: process.env.PREFSTUDIO_HUB_URL };
const ID = 'onnx-community/tiny-llama-variants';

beforeAll(async () => {
  hub = await startHubServer();
  process.env.PREFSTUDIO_CACHE = cache;
  process.env.PREFSTUDIO_HUB_URL = hub.url;
  const files: Record<string, Uint8Array> = {};
  for (const f of readdirSync(TINY_LLAMA)) if (statSync(join(TINY_LLAMA, f)).isFile() && f !== 'model.onnx') files[f] = new Uint8Array(readFileSync(join(TINY_LLAMA, f)));
  const f32 = new Uint8Array(readFileSync(join(TINY_LLAMA, 'model.onnx')));
  files['onnx/model.onnx'] = f32;
  files['onnx/model_q4.onnx'] = quantizeOnnx(f32, { bits: 4, blockSize: 16, zeroPoints: true }).bytes;
  hub.addRepo('model', ID, files);
  hub.addRepo('model', 'org/pytorch-only', { 'config.json': '{}', 'model.safetensors': 'x' });
});

afterAll(() => {
  hub?.close();
  rmSync(cache, { recursive: true, force: true });
  for (const [k, v] of [['PREFSTUDIO_CACHE', saved.cache], ['PREFSTUDIO_HUB_URL', saved.hub]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const resolves = () => hub.requests.filter((q) => q.path.includes('/resolve/')).map((q) => q.path.replace(/^.*\/resolve\/[^/]+\//, ''));

describe('--model by Hub id', () => {
  it('fetches the preferred variant once into the cache and loads it', async () => {
    const log: string[] = [];
    const dir = await modelFolder(ID, undefined, (l) => log.push(l));
    expect(dir).toBe(hubCacheDir(ID));
    expect(dir.startsWith(cache)).toBe(true);
    expect(existsSync(join(dir, 'onnx/model.onnx'))).toBe(true);
    expect(existsSync(join(dir, 'onnx/model_q4.onnx'))).toBe(false); // only the chosen variant
    expect(resolves()).not.toContain('onnx/model_q4.onnx');
    expect(log[0]).toBe(`${ID}: onnx/model.onnx (of 2 variants)`);
    expect(log.at(-1)).toMatch(/\(100% of /);
    expect((await loadModel(nodeDirSource(dir))).family).toBe('llama');
    const before = resolves().length;
    expect(await modelFolder(ID, undefined, () => {})).toBe(dir);
    expect(resolves().length).toBe(before); // cached: nothing downloaded again
  });

  it("--dtype's variant", async () => {
    const dir = await modelFolder(ID, 'q4', () => {});
    expect(existsSync(join(dir, 'onnx/model_q4.onnx'))).toBe(true);
    expect((await loadModel(nodeDirSource(dir), { dtype: 'q4' })).layout.onnx).toBe('onnx/model_q4.onnx');
    await expect(modelFolder(ID, 'fp16', () => {})).rejects.toThrow(`cannot load --model ${ID} from the Hugging Face Hub: no fp16 variant in ${ID}: it has onnx/model.onnx (fp32), onnx/model_q4.onnx (q4)`);
  });

  it('an id that does not exist, or a repo with no ONNX file: one error, nothing cached', async () => {
    await expect(modelFolder('org/no-such-model', undefined, () => {})).rejects.toThrow(/^cannot load --model org\/no-such-model from the Hugging Face Hub: .*not found.*\(404\).*\(no such local folder either\)$/);
    expect(existsSync(hubCacheDir('org/no-such-model'))).toBe(false);
    await expect(modelFolder('org/pytorch-only', undefined, () => {})).rejects.toThrow('cannot load --model org/pytorch-only from the Hugging Face Hub: model org/pytorch-only has no .onnx file');
    expect(existsSync(hubCacheDir('org/pytorch-only'))).toBe(false);
  });

  it('a local folder is used as it is, even when it looks like an id', async () => {
    const rel = 'test/fixtures'; // exists relative to the repo root, shaped like org/name
    expect(await modelFolder(rel, undefined, () => {})).toBe(rel);
    expect(await modelFolder(TINY_LLAMA, undefined, () => {})).toBe(TINY_LLAMA);
  });
});
