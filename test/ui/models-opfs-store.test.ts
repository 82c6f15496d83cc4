// The OPFS model store on an in-memory file system: folders per model, manifest last, unfinished
// imports invisible and cleaned, unique ids, the library settings.
import { describe, expect, it } from 'vitest';
import { ModelStore, slugify } from '../../src/services/model-store.js';
import type { ModelManifest } from '../../src/worker/protocol.js';
import { FakeDirectory, fakeRoot } from './models-fake-opfs.js';

function manifest(id: string, addedAt = '2026-01-01T00:00:00.000Z'): ModelManifest {
  return {
    version: 1,
    id,
    name: id,
    source: { kind: 'files', label: id },
    architecture: 'llama',
    parameters: 1000,
    dtype: 'f32',
    sizeOnDisk: 3,
    gpuMemoryBytes: 4000,
    addedAt,
    files: [{ path: 'onnx/model.onnx', size: 3 }],
    dims: { layers: 1, hidden: 8, heads: 2, kvHeads: 1, vocabSize: 16, contextLength: 32 },
    onnxFile: 'onnx/model.onnx',
    hasTokenizer: true,
    hasChatTemplate: false,
    warnings: [],
    generationDefaults: {},
  };
}

async function* chunks(...parts: number[][]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Uint8Array.from(p);
}

describe('ModelStore (OPFS)', () => {
  it('writes files in their folders, lists the model only once the manifest is committed, reads the files back', async () => {
    const { root, provider } = fakeRoot();
    const store = new ModelStore(provider);
    const w = await store.writer('tiny');
    expect(await w.writeFile('onnx/model.onnx', Uint8Array.from([1, 2, 3]))).toBe(3);
    expect(await w.writeFile('onnx/model.onnx_data', chunks([4, 5], [6]))).toBe(3);
    expect(await w.writeFile('config.json', new TextEncoder().encode('{}'))).toBe(2);
    expect(await store.list()).toEqual([]);
    await w.commit(manifest('tiny'));
    expect((await store.list()).map((m) => m.id)).toEqual(['tiny']);
    expect((root.children.get('models') as FakeDirectory).paths()).toEqual(['tiny/config.json', 'tiny/manifest.json', 'tiny/onnx/model.onnx', 'tiny/onnx/model.onnx_data']);

    const files = await store.files('tiny');
    expect(files.map((f) => f.path)).toEqual(['config.json', 'onnx/model.onnx', 'onnx/model.onnx_data']);
    expect([...new Uint8Array(await files[2]!.file.arrayBuffer())]).toEqual([4, 5, 6]);
    expect(await store.get('tiny')).toMatchObject({ id: 'tiny', architecture: 'llama' });
  });

  it('discard removes a half-written model; removeIncomplete clears folders without a manifest', async () => {
    const { provider } = fakeRoot();
    const store = new ModelStore(provider);
    const kept = await store.writer('kept');
    await kept.writeFile('model.onnx', Uint8Array.from([1]));
    await kept.commit(manifest('kept'));
    const failed = await store.writer('failed');
    await failed.writeFile('model.onnx', Uint8Array.from([1]));
    await failed.discard();
    const crashed = await store.writer('crashed'); // a tab closed mid-import
    await crashed.writeFile('model.onnx', Uint8Array.from([1]));
    expect((await store.list()).map((m) => m.id)).toEqual(['kept']);
    expect(await store.removeIncomplete()).toEqual(['crashed']);
    expect(await store.removeIncomplete()).toEqual([]);
    await expect(store.files('crashed')).rejects.toThrow(/no stored model "crashed"/);
  });

  it('a stream that fails mid-file leaves no partial file content behind', async () => {
    const { provider } = fakeRoot();
    const store = new ModelStore(provider);
    const w = await store.writer('x');
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Uint8Array.from([1, 2]);
      throw new Error('network went away');
    }
    await expect(w.writeFile('model.onnx', broken())).rejects.toThrow('network went away');
    await w.discard();
    expect(await store.list()).toEqual([]);
  });

  it('lists oldest first, skips a corrupt manifest, and ids are unique slugs of the name', async () => {
    const { root, provider } = fakeRoot();
    const store = new ModelStore(provider);
    for (const [id, at] of [['b', '2026-02-01T00:00:00Z'], ['a', '2026-03-01T00:00:00Z']] as const) {
      const w = await store.writer(id);
      await w.commit(manifest(id, at));
    }
    const bad = await (root.children.get('models') as FakeDirectory).getDirectoryHandle('bad', { create: true });
    const f = await bad.getFileHandle('manifest.json', { create: true });
    const wr = await f.createWritable();
    await wr.write('{ not json');
    await wr.close();
    expect((await store.list()).map((m) => m.id)).toEqual(['b', 'a']);
    expect(await store.newId('A')).toBe('a-2');
    expect(await store.newId('TinyLlama/TinyLlama-1.1B')).toBe('tinyllama-tinyllama-1.1b');
    expect(slugify('../../etc')).toBe('etc');
    expect(slugify('...')).toBe('model');
  });

  it('remove deletes the folder; removing twice is fine', async () => {
    const { provider } = fakeRoot();
    const store = new ModelStore(provider);
    const w = await store.writer('gone');
    await w.commit(manifest('gone'));
    await store.remove('gone');
    await store.remove('gone');
    expect(await store.list()).toEqual([]);
    await expect(store.remove('../x')).rejects.toThrow(/not a path inside/);
  });

  it('library settings default, merge and persist', async () => {
    const { provider } = fakeRoot();
    const store = new ModelStore(provider);
    expect(await store.readLibrary()).toEqual({ activeId: null, demoOffered: false });
    await store.updateLibrary({ demoOffered: true });
    await store.updateLibrary({ activeId: 'x' });
    expect(await new ModelStore(provider).readLibrary()).toEqual({ activeId: 'x', demoOffered: true });
  });

  it('says clearly when the browser has no OPFS', async () => {
    const store = new ModelStore();
    await expect(store.list()).rejects.toThrow(/no origin private file system/);
  });
});
