// Where model files come from (memory, a browser FileList, a URL prefix, a Node folder) and which
// of them a folder's layout picks.
import { describe, expect, it } from 'vitest';
import { detectLayout, onnxVariants, variantDtype } from '../../src/engine/model/layout.js';
import { loadModel } from '../../src/engine/model/load.js';
import { fileListSource, joinPath, memorySource, normalizePath, urlSource, type FileLike } from '../../src/engine/model/source.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TINY_QWEN2, folderFiles } from './helpers.js';

describe('paths', () => {
  it('normalizes inside the folder and refuses ways out', () => {
    expect(normalizePath('./onnx//model.onnx')).toBe('onnx/model.onnx');
    expect(normalizePath('onnx\\model.onnx')).toBe('onnx/model.onnx');
    expect(normalizePath('../x')).toBeNull();
    expect(normalizePath('/etc/passwd')).toBeNull();
    expect(normalizePath('C:/x')).toBeNull();
    expect(joinPath('onnx', 'model.onnx_data')).toBe('onnx/model.onnx_data');
    expect(joinPath('onnx', '../../x')).toBeNull();
  });
});

describe('sources', () => {
  it('memory: read, size, byte ranges (short at the end), missing files', async () => {
    const s = memorySource({ 'a.bin': new Uint8Array([1, 2, 3, 4, 5]), 'b.txt': 'hé' });
    expect(await s.list()).toEqual(['a.bin', 'b.txt']);
    expect(await s.size('b.txt')).toBe(3);
    expect(Array.from((await s.readRange('a.bin', 3, 10))!)).toEqual([4, 5]);
    expect(await s.read('c')).toBeUndefined();
    expect(await s.size('c')).toBeUndefined();
  });

  it('node folder: ranges read from disk; paths cannot leave the folder', async () => {
    const s = nodeDirSource(TINY_QWEN2);
    expect(await s.list()).toContain('onnx/model.onnx_data');
    const size = (await s.size('onnx/model.onnx_data'))!;
    const tail = await s.readRange('onnx/model.onnx_data', size - 8, 100);
    expect(tail!.length).toBe(8);
    expect(Array.from(tail!)).toEqual(Array.from((await s.read('onnx/model.onnx_data'))!.subarray(size - 8)));
    expect(await s.size('nope.json')).toBeUndefined();
    await expect(s.read('../tiny-llama/config.json')).rejects.toThrow(/leaves the model folder/);
  });

  /** File-like objects as a picked folder gives them: webkitRelativePath "<folder>/<path>". */
  function pickedFolder(folder: string, files: Record<string, Uint8Array>): FileLike[] {
    return Object.entries(files).map(([path, bytes]) => {
      const blob = new Blob([new Uint8Array(bytes)]);
      return { name: path.split('/').pop()!, size: blob.size, webkitRelativePath: `${folder}/${path}`, arrayBuffer: () => blob.arrayBuffer(), slice: (a?: number, b?: number) => blob.slice(a, b) };
    });
  }

  it('a picked folder (FileList) loads like the folder on disk', async () => {
    const s = fileListSource(pickedFolder('tiny-qwen2', folderFiles(TINY_QWEN2)));
    expect(s.label).toBe('tiny-qwen2');
    expect(await s.list()).toContain('onnx/model.onnx');
    const m = await loadModel(s);
    const disk = await loadModel(nodeDirSource(TINY_QWEN2));
    expect(m.config).toEqual(disk.config);
    expect(Array.from(m.weight('model.layers.1.mlp.down_proj.weight').data)).toEqual(Array.from(disk.weight('model.layers.1.mlp.down_proj.weight').data));
  });

  /** A static file server: HEAD sizes, Range requests, 404s; `ranges` false ignores Range. */
  function fakeServer(files: Record<string, Uint8Array>, ranges: boolean) {
    const log: string[] = [];
    const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      const path = decodeURIComponent(url.replace('https://host/m/', ''));
      const method = init?.method ?? 'GET';
      const range = new Headers(init?.headers).get('Range');
      log.push(`${method} ${path}${range ? ` ${range}` : ''}`);
      const body = files[path];
      if (!body) return new Response(null, { status: 404, statusText: 'Not Found' });
      if (method === 'HEAD') return new Response(null, { status: 200, headers: { 'content-length': String(body.length) } });
      const m = range && ranges ? /bytes=(\d+)-(\d+)/.exec(range) : null;
      if (m) return new Response(body.slice(Number(m[1]), Number(m[2]) + 1), { status: 206 });
      return new Response(body.slice(), { status: 200 });
    }) as typeof fetch;
    return { fetchFn, log };
  }

  it.each([true, false])('a URL prefix (server honours Range: %s) loads without a file listing', async (ranges) => {
    const { fetchFn, log } = fakeServer(folderFiles(TINY_QWEN2), ranges);
    const s = urlSource('https://host/m', { fetch: fetchFn });
    expect(await s.list()).toBeUndefined();
    const m = await loadModel(s);
    expect(m.layout.onnx).toBe('onnx/model.onnx');
    expect(m.family).toBe('qwen2');
    const disk = await loadModel(nodeDirSource(TINY_QWEN2));
    expect(Array.from(m.weight('model.layers.0.self_attn.q_proj.bias').data)).toEqual(Array.from(disk.weight('model.layers.0.self_attn.q_proj.bias').data));
    // Missing layout candidates were probed with HEAD, the data file sized before it was read.
    expect(log).toContain('HEAD model.onnx');
    expect(log).toContain('HEAD onnx/model.onnx_data');
    expect(log).toContain('GET onnx/model.onnx_data');
    const r = await s.readRange('onnx/model.onnx_data', 4, 8);
    expect(Array.from(r!)).toEqual(Array.from(folderFiles(TINY_QWEN2)['onnx/model.onnx_data']!.subarray(4, 12)));
  });
});

describe('layout', () => {
  const stub = new Uint8Array([0]);
  it('prefers fp16, then fp32, then 4-bit, then the other quantized variants', async () => {
    const all = { 'onnx/model.onnx': stub, 'onnx/model_fp16.onnx': stub, 'onnx/model_quantized.onnx': stub, 'onnx/model_q4.onnx': stub, 'onnx/model_q4f16.onnx': stub, 'onnx/model_int8.onnx': stub, 'onnx/model_uint8.onnx': stub, 'config.json': '{}' };
    const l = await detectLayout(memorySource(all));
    expect(l.onnx).toBe('onnx/model_fp16.onnx');
    expect(l.reason).toMatch(/^fp16, the preferred variant \(also present: onnx\/model\.onnx, /);
    expect(l.onnxCandidates).toEqual(['onnx/model_fp16.onnx', 'onnx/model.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_q4.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx', 'onnx/model_quantized.onnx']);
    expect(l.config).toBe('config.json');
    const { 'onnx/model_fp16.onnx': _fp16, ...noFp16 } = all;
    expect((await detectLayout(memorySource(noFp16))).onnx).toBe('onnx/model.onnx');
    expect((await detectLayout(memorySource({ 'onnx/model_q4.onnx': stub, 'onnx/model_quantized.onnx': stub }))).reason).toMatch(/quantized/);
    expect((await detectLayout(memorySource({ 'weird_name.onnx': stub, 'decoder_model_merged.onnx': stub }))).onnx).toBe('decoder_model_merged.onnx');
    expect((await detectLayout(memorySource({ 'model.onnx': stub }), { onnx: 'model.onnx' })).reason).toBe('chosen by the caller');
    // By precision.
    expect((await detectLayout(memorySource(all), { dtype: 'fp32' })).onnx).toBe('onnx/model.onnx');
    expect((await detectLayout(memorySource(all), { dtype: 'q4' })).onnx).toBe('onnx/model_q4.onnx');
    await expect(detectLayout(memorySource({ 'model.onnx': stub, 'model_fp16.onnx': stub }), { dtype: 'q4' })).rejects.toThrow(/no q4 variant in .*: it has model_fp16\.onnx \(fp16\), model\.onnx \(fp32\)/);
  });

  it('lists the variants with dtype, size (with external data) and whether quantized', () => {
    const sizes = new Map([['onnx/model.onnx', 100], ['onnx/model.onnx_data', 500], ['onnx/model_fp16.onnx', 300], ['onnx/model_q4.onnx', 90]]);
    expect(onnxVariants(['onnx/model_q4.onnx', 'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_fp16.onnx', 'config.json'], sizes)).toEqual([
      { file: 'onnx/model_fp16.onnx', dtype: 'fp16', bytes: 300, quantized: false },
      { file: 'onnx/model.onnx', dtype: 'fp32', bytes: 600, quantized: false },
      { file: 'onnx/model_q4.onnx', dtype: 'q4', bytes: 90, quantized: true },
    ]);
    expect(variantDtype('onnx/model_q4f16.onnx')).toBe('q4f16');
    expect(variantDtype('decoder_model_merged.onnx')).toBe('fp32');
    expect(variantDtype('weird_name.onnx')).toBeNull();
  });

  it('finds the tokenizer, generation and chat template files', async () => {
    const l = await detectLayout(memorySource({ 'model.onnx': stub, 'tokenizer.json': '{}', 'tokenizer_config.json': '{}', 'generation_config.json': '{}', 'special_tokens_map.json': '{}', 'chat_template.jinja': 'x' }));
    expect(l).toMatchObject({ tokenizer: 'tokenizer.json', tokenizerConfig: 'tokenizer_config.json', generationConfig: 'generation_config.json', specialTokensMap: 'special_tokens_map.json', chatTemplate: 'chat_template.jinja' });
  });
});
