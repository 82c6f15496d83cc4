// The Export page's store: pick a model folder and a PEFT adapter (zip or folder files), the
// adapter is checked against the model, and each download hands the right bytes to saveBlob.
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileLike } from '../../src/engine/model/source.js';
import { readPeftZip } from '../../src/engine/export/peft.js';
import { folderFiles, TINY_GPT2, TINY_LLAMA } from '../model/helpers.js';

const saved: { name: string; blob: Blob }[] = [];
vi.mock('../../src/services/data.js', () => ({ saveBlob: (blob: Blob, name: string) => saved.push({ name, blob }) }));
const { useExportStore } = await import('../../src/stores/export.js');

const FIXTURES = new URL('../fixtures/export/', import.meta.url).pathname;

function fileLike(path: string, bytes: Uint8Array): FileLike & File {
  const name = path.split('/').pop()!;
  return Object.assign(new File([bytes as BlobPart], name), { webkitRelativePath: path }) as unknown as FileLike & File;
}
const folder = (dir: string, top: string) => Object.entries(folderFiles(dir)).map(([p, b]) => fileLike(`${top}/${p}`, b));

beforeEach(() => {
  saved.length = 0;
  useExportStore.setState({ model: null, adapter: null, runConfig: null, modules: null, error: null, message: null });
});

describe('export store', () => {
  it('picks a model and an adapter folder, then downloads a PEFT zip, merged ONNX and GGUF', async () => {
    const s = useExportStore.getState();
    await s.pickModel(folder(TINY_LLAMA, 'tiny-llama'));
    await s.pickAdapter(folder(join(FIXTURES, 'tiny-llama-adapter'), 'run'));
    expect(useExportStore.getState().error).toBeNull();
    expect(useExportStore.getState().modules).toBe(8);
    await s.download('peft');
    await s.download('merged');
    await s.download('gguf', { ggufType: 'f16' });
    // The whole tuned model as GGUF: q8_0 with the rows llama.cpp cannot quantize (48 wide) in f16.
    await s.download('gguf-merged', { ggufModelType: 'q8_0' });
    expect(useExportStore.getState().error).toBeNull();
    expect(useExportStore.getState().message).toBe('2 weights kept in f16 (rows not a multiple of 32 cannot be q8_0).');
    expect(saved.map((x) => x.name)).toEqual(['adapter.zip', 'model-merged.onnx', 'adapter-f16.gguf', 'model-merged-q8_0.gguf']);
    expect(new TextDecoder().decode(await saved[3]!.blob.slice(0, 4).arrayBuffer())).toBe('GGUF');
    const zip = new Uint8Array(await saved[0]!.blob.arrayBuffer());
    expect(readPeftZip(zip).tensors.size).toBe(16);
    // The zip imports back through the same picker.
    await s.pickAdapter([fileLike('adapter.zip', zip)]);
    expect(useExportStore.getState().modules).toBe(8);
  }, 30_000);

  it('says why an adapter does not fit the model', async () => {
    const s = useExportStore.getState();
    await s.pickModel(folder(TINY_LLAMA, 'tiny-llama'));
    await s.pickAdapter(folder(join(FIXTURES, 'tiny-gpt2-adapter'), 'gpt2-run'));
    expect(useExportStore.getState().modules).toBeNull();
    expect(useExportStore.getState().error).toMatch(/c_attn\.lora_A\.weight is not a LoRA tensor of a linear layer of this llama model/);
    await s.pickModel(folder(TINY_GPT2, 'tiny-gpt2'));
    expect(useExportStore.getState().modules).toBe(4);
  }, 30_000);
});
