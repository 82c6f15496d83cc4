// The Export page's store with the studio as the source: the runs that have an adapter (workspace
// on fake-indexeddb) and the models the Models page stored (an in-memory OPFS). Choosing a run
// loads its adapter and its base model from the library; the PEFT download is the same adapter the
// Train page downloads and the TRL hand-off carries its settings; the hand-off's dataset can be the
// run's own (a Data page dataset), the same as from the file it came from; a model picked from disk
// is not replaced; a run gone meanwhile is named.
import 'fake-indexeddb/auto';
import { readFile } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { addRecords, createDataset, createRun, deleteRun, encodeCheckpointOf, openWorkspace, saveCheckpoint, type PrefDb } from './studio-support.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { blobSource } from '../../src/data/io/source.js';
import { loraAName, loraBName } from '../../src/engine/export/modules.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { seededRandom } from '../../src/engine/transformer/sampling.js';
import { ModelStore } from '../../src/services/model-store.js';
import type { ModelManifest } from '../../src/worker/protocol.js';
import { folderFiles } from '../model/helpers.js';
import { fakeRoot } from '../ui/models-fake-opfs.js';

const saved: { name: string; blob: Blob }[] = [];
vi.mock('../../src/services/data.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/services/data.js')>()),
  saveBlob: (blob: Blob, name: string) => saved.push({ name, blob }),
}));
const { useDataServices } = await import('../../src/services/data.js');
const { runAdapterZip } = await import('../../src/services/train.js');
const { handoffBaseModel, useExportStore } = await import('../../src/stores/export.js');

const MODEL_DIR = new URL('../../public/models/demo-fortunes/', import.meta.url).pathname;
const MODEL_ID = 'demo-fortunes';
const store = () => useExportStore.getState();
const initial = useExportStore.getState();
const bytesOf = async (b: Blob) => new Uint8Array(await b.arrayBuffer());
const DATASET_FILE = new URL('../../public/datasets/demo-fortunes-positive.jsonl', import.meta.url);
const datasetFile = async () => new File([await readFile(DATASET_FILE)], 'demo.jsonl');
/** The hand-off zip's files as text. */
const unzipText = async (b: Blob) => Object.fromEntries(Object.entries(unzipSync(await bytesOf(b))).map(([k, v]) => [k, new TextDecoder().decode(v)]));

let db: PrefDb;
let runId: string;
let datasetId: string;
let layers: number;
const lora = { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] };

/** The demo model written to the fake OPFS as the Models page stores it (files, then the manifest). */
async function storeDemoModel(modelStore: ModelStore): Promise<void> {
  const files = folderFiles(MODEL_DIR, /^README\.md$/);
  const w = await modelStore.writer(MODEL_ID);
  for (const [path, bytes] of Object.entries(files)) await w.writeFile(path, bytes);
  const manifest: ModelManifest = {
    version: 1, id: MODEL_ID, name: MODEL_ID, source: { kind: 'url', label: 'demo' }, architecture: 'llama', parameters: 0, dtype: 'f32',
    sizeOnDisk: 0, gpuMemoryBytes: 0, addedAt: new Date(0).toISOString(), files: Object.entries(files).map(([path, b]) => ({ path, size: b.byteLength })),
    dims: { layers, hidden: 0, heads: 0, kvHeads: 0, vocabSize: 0, contextLength: 0 }, onnxFile: 'model.onnx', hasTokenizer: true, hasChatTemplate: false, warnings: [], generationDefaults: {},
  };
  await w.commit(manifest);
}

beforeAll(async () => {
  const cfg = JSON.parse(await readFile(`${MODEL_DIR}config.json`, 'utf8')) as Record<string, number>;
  layers = cfg.num_hidden_layers!;
  const { provider } = fakeRoot();
  vi.stubGlobal('navigator', { storage: { getDirectory: provider } });
  await storeDemoModel(new ModelStore(provider));

  db = await openWorkspace(`export-studio-${Math.random()}`);
  useDataServices({ db });
  // A trained-looking adapter (B non-zero) with PEFT's shapes for the demo model, flat as checkpoints keep it.
  const random = seededRandom(5);
  const values = (n: number) => Float32Array.from({ length: n }, () => (2 * random() - 1) * 0.1);
  const adapter: Record<string, Float32Array> = {};
  for (let l = 0; l < layers; l++) {
    const outs = { q_proj: cfg.num_attention_heads! * cfg.head_dim!, v_proj: cfg.num_key_value_heads! * cfg.head_dim! };
    for (const [m, out] of Object.entries(outs)) {
      const path = `model.layers.${l}.self_attn.${m}`;
      adapter[loraAName(path)] = values(lora.r * cfg.hidden_size!);
      adapter[loraBName(path)] = values(out * lora.r);
    }
  }
  // The demo file imported as the Data page stores it: the run's dataset.
  const dataset = await createDataset(db, 'demo');
  datasetId = dataset.id;
  await addRecords(db, datasetId, (await importAll(blobSource(await datasetFile()))).records);
  const config = parseTrainingConfig({ method: 'orpo', lora });
  const common = { config, datasetId, datasetName: 'demo', modelId: MODEL_ID, modelName: MODEL_ID, totalSteps: 2 };
  await createRun(db, { ...common, name: 'never checkpointed' });
  const run = await createRun(db, { ...common, name: 'tuned' });
  runId = run.id;
  await saveCheckpoint(db, runId, 2, encodeCheckpointOf(config, adapter), { status: 'done' });
}, 60_000);

afterAll(() => {
  vi.unstubAllGlobals();
  db?.close();
});

beforeEach(() => {
  saved.length = 0;
  useExportStore.setState(initial, true);
});

describe('export store: adapters and models of the studio', () => {
  it('lists the runs that have an adapter and the stored models', async () => {
    await store().refresh();
    expect(store().runs.map((r) => r.name)).toEqual(['tuned']);
    expect(store().library.map((m) => m.id)).toEqual([MODEL_ID]);
    expect(store().error).toBeNull();
  });

  it('a run: its adapter, settings and base model (from the library); its PEFT download is the Train page’s adapter', async () => {
    await store().refresh();
    await store().pickRun(runId);
    const s = store();
    expect(s.error).toBeNull();
    expect(s.busy).toBeNull();
    expect(s.adapterOrigin).toEqual({ kind: 'run', runId });
    expect(s.modelOrigin).toEqual({ kind: 'library', modelId: MODEL_ID });
    expect(s.model?.arch).toBe('llama');
    expect(s.modules).toBe(2 * layers);
    expect(s.runConfig?.method).toBe('orpo');
    expect(s.adapter?.lora).toMatchObject({ r: lora.r, lora_alpha: lora.lora_alpha });

    await s.download('peft');
    expect(saved.map((x) => x.name)).toEqual(['adapter.zip']);
    // The same files, byte for byte, as the Train page's download of the run.
    const fromExport = unzipSync(await bytesOf(saved[0]!.blob));
    const fromTrain = unzipSync((await runAdapterZip(runId)).bytes);
    expect(Object.keys(fromExport).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(fromExport).toEqual(fromTrain);

    // The TRL hand-off takes the run's settings (no method to pick). The demo model is not on the
    // Hub (its name is a folder's, its config.json has no _name_or_path): the page asks for the id.
    expect(handoffBaseModel(store(), '')).toMatchObject({ ok: false, message: expect.stringMatching(/^no Hub id for the base model: the adapter's base_model_name_or_path is "demo-fortunes" \(a bare name, as likely a local folder as a Hub model\)\. .*pass its Hub id, e\.g\. HuggingFaceTB\/SmolLM2-135M-Instruct$/) });
    expect(handoffBaseModel(store(), '/home/me/demo-fortunes')).toMatchObject({ ok: false, message: expect.stringMatching(/^the base model "\/home\/me\/demo-fortunes" is a local path, not a Hugging Face Hub repo id/) });
    await s.download('trl', { dataset: await datasetFile() });
    expect(store().error).toMatch(/^no Hub id for the base model/);
    expect(saved.at(-1)!.name).toBe('adapter.zip');
    await s.download('trl', { dataset: await datasetFile(), baseModel: 'my-org/demo-fortunes' });
    expect(store().error).toBeNull();
    expect(saved.at(-1)!.name).toBe('trl-handoff.zip');
    const handoff = await unzipText(saved.at(-1)!.blob);
    const recipe = JSON.parse(handoff['trl-handoff/recipe.json']!) as Record<string, unknown>;
    expect(recipe).toMatchObject({ prefstudio_method: 'orpo', model_name_or_path: 'my-org/demo-fortunes', lora: { r: lora.r, lora_alpha: lora.lora_alpha, target_modules: lora.target_modules } });
    expect(handoff['trl-handoff/README.md']).toContain("is the Hugging Face Hub model `my-org/demo-fortunes` (from the Export page's base model field)");
    // A model of the library loaded from the Hub: the repo id of its URL is the default.
    const hub = 'https://huggingface.co/my-org/demo-fortunes-ONNX/resolve/main/';
    useExportStore.setState({ library: store().library.map((m) => ({ ...m, source: { kind: 'url', label: hub, url: hub } })) });
    expect(handoffBaseModel(store(), '')).toEqual({ ok: true, id: 'my-org/demo-fortunes-ONNX', from: 'the Hub repository the model was loaded from' });

    await s.download('merged');
    expect(saved.at(-1)!.name).toBe('model-merged.onnx');
    expect(store().error).toBeNull();
  }, 60_000);

  it('the TRL hand-off from the run’s dataset in the studio equals the one from the file it was imported from', async () => {
    await store().refresh();
    expect(store().datasets.map((d) => d.id)).toEqual([datasetId]);
    await store().pickRun(runId);
    expect(store().error).toBeNull();
    expect(store().handoffData, 'the run’s dataset is preselected').toEqual({ kind: 'studio', datasetId });
    await store().download('trl', { baseModel: 'my-org/demo-fortunes' });
    expect(store().error).toBeNull();
    const fromStudio = await unzipText(saved.at(-1)!.blob);

    await store().download('trl', { dataset: await datasetFile(), baseModel: 'my-org/demo-fortunes' });
    expect(store().error).toBeNull();
    const fromFile = await unzipText(saved.at(-1)!.blob);
    expect(fromStudio).toEqual(fromFile);

    // TRL's preference rows, each in the file of its record's split.
    const rows = (name: string) => fromStudio[`trl-handoff/data/${name}`]!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const source = (await readFile(DATASET_FILE, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; split?: string });
    const tests = source.filter((r) => r.split === 'test').length;
    expect(tests).toBeGreaterThan(0);
    expect(rows('test.jsonl')).toHaveLength(tests);
    expect(rows('train.jsonl')).toHaveLength(source.length - tests);
    expect(Object.keys(rows('train.jsonl')[0]!).sort()).toEqual(expect.arrayContaining(['chosen', 'prompt', 'rejected']));

    // A file picked by hand wins over the run's dataset when another run is chosen.
    const file = await datasetFile();
    store().pickHandoffData({ kind: 'file', file });
    await store().pickRun(runId);
    expect(store().handoffData).toEqual({ kind: 'file', file });
  }, 60_000);

  it('a model picked from disk stays when a run is chosen; a stored model can be chosen by hand', async () => {
    await store().refresh();
    const files = Object.entries(folderFiles(MODEL_DIR)).map(([p, b]) => Object.assign(new File([b as BlobPart], p), { webkitRelativePath: `picked/${p}` }));
    await store().pickModel(files);
    const picked = store().model;
    expect(store().error).toBeNull();
    await store().pickRun(runId);
    expect(store().model === picked, 'the picked model is kept').toBe(true);
    expect(store().modelOrigin).toEqual({ kind: 'files' });
    expect(store().modules).toBe(2 * layers);
    await store().pickStoredModel(MODEL_ID);
    expect(store().modelOrigin).toEqual({ kind: 'library', modelId: MODEL_ID });
    expect(store().model === picked).toBe(false);
    expect(store().modules).toBe(2 * layers);
  }, 60_000);

  it('names a run deleted since the list was read, and a stored model that is gone', async () => {
    const config = parseTrainingConfig({ method: 'dpo', lora });
    const gone = await createRun(db, { config, datasetId: 'd', datasetName: 'demo', modelId: MODEL_ID, modelName: MODEL_ID, totalSteps: 1, name: 'gone' });
    await deleteRun(db, gone.id);
    await store().pickRun(gone.id);
    expect(store().error).toMatch(new RegExp(`run ${gone.id} no longer exists`));
    expect(store().adapter).toBeNull();
    await store().pickStoredModel('nope');
    expect(store().error).toMatch(/no stored model "nope"/);
  });
});
