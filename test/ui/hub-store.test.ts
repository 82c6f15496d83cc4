// The pages' Hub flows through their stores, against the local Hub (test/hub/hub-server.ts) and a
// fake-indexeddb workspace: the Data page lists a dataset repository's files by split and imports
// one through the ordinary import flow (a test split preset as held out); the Export page pushes
// the chosen adapter with its model card and the hand-off's dataset, each in one commit; a
// missing repository is one message; the token is used and kept nowhere but in memory.
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { openWorkspace, type PrefDb } from '../../src/db/index.js';
import { createDataApi } from '../../src/worker/import-api.js';
import * as dataServices from '../../src/services/data.js';
import { useHubEndpoint } from '../../src/services/hub.js';
import { useDataStore } from '../../src/stores/data.js';
import { useExportStore } from '../../src/stores/export.js';
import { useHubStore } from '../../src/stores/hub.js';
import { adapterModules } from '../../src/engine/export/modules.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TINY_LLAMA } from '../model/helpers.js';
import { randomAdapter } from '../export/helpers.js';
import { startHubServer, type HubServer } from '../hub/hub-server.js';

const TOKEN = 'hf_store_test_token';
let hub: HubServer;
let db: PrefDb;

beforeAll(async () => {
  hub = await startHubServer();
  hub.tokens.add(TOKEN);
  const parquet = (n: number) =>
    new Uint8Array(parquetWriteBuffer({ columnData: ['prompt', 'chosen', 'rejected'].map((name) => ({ name, data: Array.from({ length: n }, (_, i) => `${name} ${i}`), type: 'STRING' as const })) }));
  hub.addRepo('dataset', 'org/prefs', { 'data/train-00000-of-00001.parquet': parquet(6), 'data/test-00000-of-00001.parquet': parquet(2), 'README.md': '#' });
  useHubEndpoint(hub.url);
});
afterAll(async () => {
  useHubEndpoint(undefined);
  await hub.close();
  db?.close();
});
beforeEach(async () => {
  db?.close();
  db = await openWorkspace(`hub-store-${Math.random()}`);
  dataServices.useDataServices({ db, backend: createDataApi(async () => db) });
  useHubStore.setState({ token: '', keep: false, splits: null, error: null, message: null, busy: null });
});

const hubStore = () => useHubStore.getState();

describe('Data page: a dataset from the Hub', () => {
  it('lists the files by split and imports the test split through the import flow, as held out', async () => {
    hubStore().setDatasetRepo('org/prefs', 'main');
    await hubStore().listDataset();
    expect(hubStore().error).toBeNull();
    expect(hubStore().splits!.map((s) => [s.split, s.files.map((f) => f.path)])).toEqual([
      ['train', ['data/train-00000-of-00001.parquet']],
      ['test', ['data/test-00000-of-00001.parquet']],
    ]);
    await hubStore().fetchDatasetFile('data/test-00000-of-00001.parquet', 'test');
    const flow = useDataStore.getState().flow;
    expect(flow.phase).toBe('preview');
    if (flow.phase !== 'preview') return;
    expect(flow.fileName).toBe('test-00000-of-00001.parquet');
    expect(flow.split).toBe('test');
    expect(flow.preview.length).toBe(2);
  });

  it('a repository that is not there: one message, no files', async () => {
    hubStore().setDatasetRepo('org/nope', 'main');
    await hubStore().listDataset();
    expect(hubStore().error).toMatch(/^listing dataset org\/nope: not found on the Hub \(404\)\./);
    expect(hubStore().splits).toBeNull();
  });
});

describe('Export page: push', () => {
  it('the chosen adapter with its model card, and the hand-off dataset, each in one commit; the token only in memory', async () => {
    const model = await loadModel(nodeDirSource(TINY_LLAMA));
    const adapter = randomAdapter(model, { r: 2, lora_alpha: 4, target_modules: ['q_proj'] });
    const jsonl = ['{"prompt":"a","chosen":" b","rejected":" c"}', '{"prompt":"d","chosen":" e","rejected":" f","split":"test"}'].join('\n');
    useExportStore.setState({ model, adapter, modules: adapterModules(model, adapter).length, runConfig: null, adapterOrigin: { kind: 'files' }, handoffData: { kind: 'file', file: new File([jsonl], 'prefs.jsonl') } });

    await hubStore().pushAdapter('me/adapter', { private: true, baseModel: 'org/tiny-llama' });
    expect(hubStore().error).toMatch(/paste an access token with write access first/);

    hubStore().setToken(TOKEN);
    await hubStore().pushAdapter('me/adapter', { private: true, baseModel: 'org/tiny-llama' });
    expect(hubStore().error).toBeNull();
    expect(hubStore().message).toMatch(/^Pushed the adapter to me\/adapter in one commit/);
    const files = hub.files('model', 'me/adapter')!;
    expect([...files.keys()].sort()).toEqual(['.gitattributes', 'README.md', 'adapter_config.json', 'adapter_model.safetensors']);
    expect(new TextDecoder().decode(files.get('README.md'))).toContain('base_model: "org/tiny-llama"');

    await hubStore().pushDataset('me/prefs', { private: false });
    expect(hubStore().message).toMatch(/^Pushed 2 rows to the dataset me\/prefs/);
    const data = hub.files('dataset', 'me/prefs')!;
    expect(new TextDecoder().decode(data.get('data/train.jsonl'))).toBe('{"prompt":"a","chosen":" b","rejected":" c"}\n');
    expect(data.has('data/test.jsonl')).toBe(true);
    for (const [, bytes] of [...files, ...data]) expect(new TextDecoder().decode(bytes)).not.toContain(TOKEN);
    expect(globalThis.localStorage?.getItem('prefstudio.hubToken') ?? null).toBeNull();
  });
});
