// The models service: turning drops, pickers and inputs into model files, the demo URL under the
// app base, and Worker calls (callbacks wrapped as comlink proxies; a dead Worker answered as a
// failure, not a rejection). comlink and the Worker are faked; this runs in Node.
import { describe, expect, it, vi } from 'vitest';
import type { ModelFileEntry } from '../../src/worker/protocol.js';
import { FakeDirectory } from './models-fake-opfs.js';

const worker = vi.hoisted(() => ({
  importModel: vi.fn(),
  generate: vi.fn(),
  cancel: vi.fn(async () => {}),
  unloadModel: vi.fn(async () => {}),
}));
vi.mock('../../src/services/gpu.js', () => ({ engineWorker: () => worker }));
vi.mock('comlink', () => ({ proxy: (fn: object) => Object.assign(fn, { proxied: true }) }));

const svc = await import('../../src/services/models.js');

const file = (name: string, text = name) => new File([text], name);

interface FakeEntry {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  file?: (ok: (f: File) => void) => void;
  createReader?: () => { readEntries(ok: (e: FakeEntry[]) => void): void };
}

/** A FileSystemEntry tree as webkitGetAsEntry gives it; readEntries answers two at a time. */
function entry(name: string, children?: FakeEntry[]): FakeEntry {
  if (!children) return { isFile: true, isDirectory: false, name, file: (ok) => ok(file(name)) };
  return {
    isFile: false,
    isDirectory: true,
    name,
    createReader: () => {
      let at = 0;
      return {
        readEntries: (ok) => {
          ok(children.slice(at, at + 2));
          at += 2;
        },
      };
    },
  };
}

const paths = (entries: ModelFileEntry[]) => entries.map((e) => e.path).sort();

describe('model sources from the page', () => {
  it('a dropped folder is walked (readEntries in batches) with paths under its name', async () => {
    const tree = entry('my-model', [entry('config.json'), entry('tokenizer.json'), entry('onnx', [entry('model.onnx'), entry('model.onnx_data')]), entry('README.md')]);
    const files = await svc.filesFromEntries([tree as never]);
    expect(paths(files)).toEqual(['my-model/README.md', 'my-model/config.json', 'my-model/onnx/model.onnx', 'my-model/onnx/model.onnx_data', 'my-model/tokenizer.json']);
    expect(await files.find((f) => f.path.endsWith('model.onnx'))!.file.text()).toBe('model.onnx');
    expect(svc.commonFolder(files)).toBe('my-model');
  });

  it('dropped loose files keep their names; no common folder', async () => {
    const files = await svc.filesFromEntries([entry('config.json') as never, file('model.onnx')]);
    expect(paths(files)).toEqual(['config.json', 'model.onnx']);
    expect(svc.commonFolder(files)).toBeUndefined();
  });

  it('dropEntries takes entries where the browser gives them, Files otherwise', () => {
    const dir = entry('m', []);
    const loose = file('x.onnx');
    const data = {
      items: [
        { kind: 'file', webkitGetAsEntry: () => dir, getAsFile: () => null },
        { kind: 'file', getAsFile: () => loose },
        { kind: 'string', getAsFile: () => null },
      ],
      files: [],
    } as unknown as DataTransfer;
    expect(svc.dropEntries(data)).toEqual([dir, loose]);
  });

  it('an <input> FileList keeps webkitRelativePath (folder input) or the name', () => {
    const inFolder = Object.defineProperty(file('config.json'), 'webkitRelativePath', { value: 'm/config.json' });
    expect(paths(svc.filesFromFileList([inFolder, file('model.onnx')]))).toEqual(['m/config.json', 'model.onnx']);
  });

  it('a picked directory handle is walked with paths under its name', async () => {
    const dir = new FakeDirectory('picked');
    await (await dir.getFileHandle('config.json', { create: true })).createWritable().then(async (w) => {
      await w.write('{}');
      await w.close();
    });
    await (await dir.getDirectoryHandle('onnx', { create: true })).getFileHandle('model.onnx', { create: true });
    const files = await svc.filesFromDirectoryHandle(dir as never);
    expect(paths(files)).toEqual(['picked/config.json', 'picked/onnx/model.onnx']);
    expect(await files.find((f) => f.path === 'picked/config.json')!.file.text()).toBe('{}');
    expect(svc.canPickDirectory()).toBe(false);
  });

  it('the demo model lives under the app base, as an absolute URL the Worker can fetch', () => {
    expect(svc.demoModelUrl('/', 'http://127.0.0.1:5173/#/models')).toBe('http://127.0.0.1:5173/models/demo-fortunes/');
    expect(svc.demoModelUrl('/studio', 'https://example.org/studio/index.html')).toBe('https://example.org/studio/models/demo-fortunes/');
    expect(svc.demoModelUrl('./', 'https://example.org/app/')).toBe('https://example.org/app/models/demo-fortunes/');
  });
});

describe('Worker calls', () => {
  it('callbacks go as comlink proxies; cancel names the task', async () => {
    worker.importModel.mockResolvedValue({ ok: true, value: { id: 'm' } });
    const onProgress = vi.fn();
    const t = svc.importModel({ kind: 'url', url: 'https://x/m' }, onProgress);
    expect(await t.result).toEqual({ ok: true, value: { id: 'm' } });
    const [taskId, source, callback] = worker.importModel.mock.calls[0]!;
    expect(taskId).toBe(t.taskId);
    expect(source).toEqual({ kind: 'url', url: 'https://x/m' });
    expect((callback as { proxied?: boolean }).proxied).toBe(true);
    t.cancel();
    expect(worker.cancel).toHaveBeenCalledWith(t.taskId);
  });

  it('a Worker that rejects (failed to load, crashed) answers a failure the UI can show', async () => {
    worker.generate.mockRejectedValue(Object.assign(new Error('no adapter'), { name: 'GpuUnavailableError' }));
    const t = svc.generate({} as never);
    expect(await t.result).toEqual({ ok: false, error: { name: 'GpuUnavailableError', code: 'gpu-unavailable', message: 'no adapter' } });
    worker.generate.mockRejectedValue(new Error('worker died'));
    expect(await svc.generate({} as never).result).toMatchObject({ ok: false, error: { code: 'worker', message: 'worker died' } });
  });

  it('each task gets its own id', () => {
    worker.generate.mockResolvedValue({ ok: true, value: {} });
    const a = svc.generate({} as never);
    const b = svc.generate({} as never);
    expect(a.taskId).not.toBe(b.taskId);
  });
});
