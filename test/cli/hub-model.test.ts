// --model <org/name> (src/cli/hub-model.ts) against the local Hub (test/hub/hub-server.ts): one
// variant of a transformers.js-layout repo fetched into the cache (the preferred one, or --dtype's),
// loaded, not fetched again; an id that does not exist and a repo with no ONNX file are one
// error each and leave nothing in the cache; offline, a variant downloaded whole before is used;
// a local folder is used as it is. Then the commands
// (inspect, logprobs, export) with a Hub id: fetched once, the cache reused, the same results as
// the local folder, no output inside (or replacing) the cache folder, --onnx's file fetched, and a
// bad id one line naming it (gpu --tune --model too).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { hubCacheDir, modelFolder, openModel } from '../../src/cli/hub-model.js';
import { main } from '../../src/cli/main.js';
import { mergeOnnx } from '../../src/engine/export/merge.js';
import { readPeftFiles } from '../../src/engine/export/peft.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { variantGpuBytes } from '../../src/engine/model/variant-choice.js';
import { startHubServer, type HubServer } from '../hub/hub-server.js';
import { TINY_LLAMA } from '../model/helpers.js';
import { quantizeOnnx } from '../support/quantize-onnx.js';

let hub: HubServer;
const cache = mkdtempSync(join(tmpdir(), 'prefstudio-hub-cache-'));
const saved = { cache: process.env.PREFSTUDIO_CACHE, hub: process.env.PREFSTUDIO_HUB_URL };
const ID = 'onnx-community/tiny-llama-variants';
/** The same repo again, for the commands: its own cache folder, its own downloads. */
const CLI_ID = 'onnx-community/tiny-llama-cli';
/** Again, for the choice by GPU memory budget. */
const BUDGET_ID = 'onnx-community/tiny-llama-budget';
let q4Bytes = 0;

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
  hub.addRepo('model', CLI_ID, files);
  hub.addRepo('model', BUDGET_ID, files);
  q4Bytes = files['onnx/model_q4.onnx'].length;
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

const resolves = (id = ID) => hub.requests.filter((q) => q.path.startsWith(`/${id}/resolve/`)).map((q) => q.path.replace(/^.*\/resolve\/[^/]+\//, ''));

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

  it('offline: a variant downloaded whole before is used, saying so; one never downloaded is the network error', async () => {
    await modelFolder(ID, undefined, () => {}); // online: fp32 and (above) q4 downloaded whole
    process.env.PREFSTUDIO_HUB_URL = 'http://127.0.0.1:9'; // nothing listens on the discard port
    try {
      const log: string[] = [];
      expect(await modelFolder(ID, 'q4', (l) => log.push(l))).toBe(hubCacheDir(ID));
      expect(log).toEqual([expect.stringMatching(new RegExp(`^${ID}: the Hub cannot be reached \\(.*\\); using onnx/model_q4.onnx downloaded before into `))]);
      expect(await modelFolder(ID, undefined, () => {})).toBe(hubCacheDir(ID));
      // With a budget and nothing forced, the choice among the downloaded variants is openModel's, said once.
      const said: string[] = [];
      const large = async () => ({ bytes: 2 ** 30, source: 'a large test budget' });
      expect((await openModel(ID, { readWeights: false, budget: large }, (l) => said.push(l))).model.layout.onnx).toBe('onnx/model.onnx');
      expect(said).toEqual([
        expect.stringMatching(new RegExp(`^${ID}: the Hub cannot be reached \\(.*\\); using the 2 variants downloaded before into `)),
        expect.stringMatching(new RegExp(`^${ID}: onnx/model\\.onnx recommended \\(of 2 variants\\)`)),
      ]);
      await expect(modelFolder(ID, 'fp16', () => {})).rejects.toThrow(/cannot load --model .* could not reach the Hub/);
      await expect(modelFolder(CLI_ID, undefined, () => {})).rejects.toThrow(/could not reach the Hub/);
    } finally {
      process.env.PREFSTUDIO_HUB_URL = hub.url;
    }
  });

  it('without --dtype or --onnx, a budget picks the variant the Models page recommends from the listed sizes: only that one is fetched, and loaded', async () => {
    // The q4 variant's own estimate as the budget: it fits, fp32 (larger) does not.
    const q4Gpu = variantGpuBytes({ dtype: 'q4', bytes: q4Bytes })!;
    const small = async () => ({ bytes: q4Gpu, source: 'a test budget' });
    const large = async () => ({ bytes: 2 ** 30, source: 'a large test budget' });
    const log: string[] = [];
    const dir = await modelFolder(BUDGET_ID, undefined, (l) => log.push(l), undefined, small);
    expect(log[0]).toMatch(new RegExp(`^${BUDGET_ID}: onnx/model_q4\\.onnx recommended \\(of 2 variants\\): onnx/model_q4\\.onnx \\(q4\\): the better ones do not fit the [\\d.]+ KiB GPU memory budget \\(fp32 needs about [\\d.]+ KiB\\); the budget is a test budget$`));
    expect(resolves(BUDGET_ID)).toContain('onnx/model_q4.onnx');
    expect(resolves(BUDGET_ID)).not.toContain('onnx/model.onnx');
    expect(readdirSync(join(dir, 'onnx'))).toEqual(['model_q4.onnx']);
    // A large budget: the preferred one.
    const big: string[] = [];
    await modelFolder(BUDGET_ID, undefined, (l) => big.push(l), undefined, large);
    expect(big[0]).toMatch(new RegExp(`^${BUDGET_ID}: onnx/model\\.onnx recommended \\(of 2 variants\\): fp32, the preferred variant, fits the 1(\\.0+)? GiB budget; the budget is a large test budget$`));
    // Both are in the cache now: openModel loads the one the small budget picks among them, said once; --dtype forces.
    const said: string[] = [];
    expect((await openModel(BUDGET_ID, { readWeights: false, budget: small }, (l) => said.push(l))).model.layout.onnx).toBe('onnx/model_q4.onnx');
    expect(said.filter((l) => l.includes('recommended'))).toHaveLength(1);
    expect((await openModel(BUDGET_ID, { readWeights: false, budget: large }, () => {})).model.layout.onnx).toBe('onnx/model.onnx');
    const forced: string[] = [];
    expect((await openModel(BUDGET_ID, { readWeights: false, budget: small, dtype: 'fp32' }, (l) => forced.push(l))).model.layout.onnx).toBe('onnx/model.onnx');
    expect(forced.join('\n')).not.toContain('recommended');
  });

  it('a local folder is used as it is, even when it looks like an id', async () => {
    const rel = 'test/fixtures'; // exists relative to the repo root, shaped like org/name
    expect(await modelFolder(rel, undefined, () => {})).toBe(rel);
    expect(await modelFolder(TINY_LLAMA, undefined, () => {})).toBe(TINY_LLAMA);
  });
});

const ADAPTER = new URL('../fixtures/export/tiny-llama-adapter', import.meta.url).pathname;
const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;

/** `prefstudio <args>` in-process: exit code, stdout, stderr. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(args), out, err };
  } finally {
    vi.restoreAllMocks();
  }
}

describe("every command's --model by Hub id", () => {
  afterEach(() => vi.restoreAllMocks());
  const dir = () => hubCacheDir(CLI_ID);

  it('inspect, logprobs and export fetch the model once, then reuse the cache; no output goes into it', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'prefstudio-hub-cli-'));
    try {
      // Before anything is fetched: an output that would be the cache folder is refused (exit 2), nothing fetched.
      mkdirSync(dirname(dir()), { recursive: true });
      let r = await cli('export', '--model', CLI_ID, '--adapter', ADAPTER, '--merged', dir());
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(`--merged ${dir()} is the input --model ${dir()}`);
      r = await cli('export', '--model', CLI_ID, '--adapter', ADAPTER, '--merged', dirname(dir()), '--force');
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(`holds the input --model ${dir()}`);
      expect(resolves(CLI_ID)).toEqual([]);
      expect(existsSync(dir())).toBe(false);

      // inspect: fetches the preferred variant, reports it as the local folder's.
      r = await cli('inspect', CLI_ID, '--json');
      expect(r.code, r.err).toBe(0);
      expect(r.err).toContain(`inspect: ${CLI_ID}: onnx/model.onnx (of 2 variants)`);
      const report = JSON.parse(r.out) as { ok: boolean; model: string; onnx: string; parameters: number; arch: string };
      const local = await loadModel(nodeDirSource(TINY_LLAMA), { readWeights: false });
      expect(report).toMatchObject({ ok: true, model: CLI_ID, onnx: 'onnx/model.onnx', arch: local.arch, parameters: local.parameterCount });
      const fetched = resolves(CLI_ID);
      expect(fetched).toContain('onnx/model.onnx');
      expect(fetched).not.toContain('onnx/model_q4.onnx');

      // logprobs: --out inside the cache folder is refused; elsewhere, the local folder's numbers.
      r = await cli('logprobs', '--model', CLI_ID, '--data', PAIRS, '--out', join(dir(), 'logps.jsonl'));
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(`--out ${join(dir(), 'logps.jsonl')} is inside the input --model ${dir()}`);
      r = await cli('logprobs', '--model', CLI_ID, '--data', PAIRS, '--out', join(tmp, 'hub.jsonl'));
      expect(r.code, r.err).toBe(0);
      r = await cli('logprobs', '--model', TINY_LLAMA, '--data', PAIRS, '--out', join(tmp, 'local.jsonl'));
      expect(r.code, r.err).toBe(0);
      const hubRows = readFileSync(join(tmp, 'hub.jsonl'), 'utf8');
      expect(hubRows.trim().split('\n').length).toBe(readFileSync(PAIRS, 'utf8').trim().split('\n').length);
      expect(hubRows).toBe(readFileSync(join(tmp, 'local.jsonl'), 'utf8'));

      // export: --merged inside the cache folder is refused; a merged folder elsewhere is the local merge.
      r = await cli('export', '--model', CLI_ID, '--adapter', ADAPTER, '--merged', join(dir(), 'merged'));
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(`is inside the input --model ${dir()}`);
      r = await cli('export', '--model', CLI_ID, '--adapter', ADAPTER, '--merged', join(tmp, 'merged'));
      expect(r.code, r.err).toBe(0);
      const adapter = readPeftFiles({ 'adapter_config.json': readFileSync(join(ADAPTER, 'adapter_config.json')), 'adapter_model.safetensors': readFileSync(join(ADAPTER, 'adapter_model.safetensors')) });
      const merged = mergeOnnx(await loadModel(nodeDirSource(TINY_LLAMA)), adapter).onnx;
      expect(new Uint8Array(readFileSync(join(tmp, 'merged', 'onnx', 'model.onnx')))).toEqual(new Uint8Array(merged));
      expect(readFileSync(join(tmp, 'merged', 'tokenizer.json'))).toEqual(readFileSync(join(TINY_LLAMA, 'tokenizer.json')));
      expect((await loadModel(nodeDirSource(join(tmp, 'merged')))).tokenizer).not.toBeNull();
      expect(readdirSync(join(dir(), 'onnx'))).toEqual(['model.onnx']); // the cache as fetched

      expect(resolves(CLI_ID)).toEqual(fetched); // fetched once: nothing downloaded again
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it("--onnx's file is the one fetched; a file the repo lacks is named", async () => {
    let r = await cli('inspect', CLI_ID, '--onnx', 'onnx/model_q4.onnx', '--json');
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { onnx: string }).onnx).toBe('onnx/model_q4.onnx');
    expect(r.err).toContain(`inspect: ${CLI_ID}: onnx/model_q4.onnx, as asked`);
    const q4 = () => resolves(CLI_ID).filter((f) => f === 'onnx/model_q4.onnx').length;
    const once = q4();
    expect(once).toBeGreaterThan(0);
    expect(existsSync(join(dir(), 'onnx/model_q4.onnx'))).toBe(true);
    expect((await cli('inspect', CLI_ID, '--onnx', 'onnx/model_q4.onnx')).code).toBe(0);
    expect(q4()).toBe(once); // cached
    r = await cli('inspect', CLI_ID, '--onnx', 'onnx/model_fp16.onnx');
    expect(r.code).toBe(1);
    expect(r.err).toBe(`cannot load ${CLI_ID} from the Hugging Face Hub: --onnx onnx/model_fp16.onnx: no such file in ${CLI_ID}: it has onnx/model.onnx (fp32), onnx/model_q4.onnx (q4)\n`);
  });

  it('a Hub id that does not exist: one line naming it, from each command; nothing cached, nothing written', async () => {
    const bad = 'org/no-such-model';
    const tmp = mkdtempSync(join(tmpdir(), 'prefstudio-hub-cli-'));
    try {
      const runs = {
        inspect: await cli('inspect', bad),
        logprobs: await cli('logprobs', '--model', bad, '--data', PAIRS, '--out', join(tmp, 'l.jsonl')),
        export: await cli('export', '--model', bad, '--adapter', ADAPTER, '--peft', join(tmp, 'a.zip')),
        gpu: await cli('gpu', '--tune', '--model', bad),
      };
      for (const [name, r] of Object.entries(runs)) {
        expect(r.code, name).toBe(1);
        const lines = r.err.trim().split('\n');
        expect(lines, name).toHaveLength(1);
        expect(lines[0], name).toMatch(new RegExp(`^(prefstudio ${name}: )?cannot load (--model )?${bad} from the Hugging Face Hub: .*not found.*\\(no such local folder either\\)$`));
      }
      const json = await cli('inspect', bad, '--json');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.out)).toMatchObject({ ok: false, model: bad, error: { code: 'hub-not-found' } });
      expect(existsSync(hubCacheDir(bad))).toBe(false);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
