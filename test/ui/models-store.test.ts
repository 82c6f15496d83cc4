// The models store over a faked models service (the Worker and OPFS are the service's business,
// tested in models-worker.test.ts and models-opfs-store.test.ts): first run loads the demo,
// later runs the active model, no WebGPU loads nothing, failures become problems, cancel does
// not, the playground streams and stops.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { GpuProbe } from '../../src/services/gpu.js';
import type { LibraryState, RunningTask } from '../../src/services/models.js';
import type { GenerateRequest, GenerationEvent, GenerationSummary, LoadProgress, ModelImportSource, ModelManifest, WorkerResult } from '../../src/worker/protocol.js';

/** A task the test settles by hand. */
function task<T>(): RunningTask<T> & { settle(r: WorkerResult<T>): void; cancelled: boolean } {
  let settle!: (r: WorkerResult<T>) => void;
  const result = new Promise<WorkerResult<T>>((ok) => (settle = ok));
  const t = { taskId: `t${Math.random()}`, result, cancelled: false, settle, cancel: () => (t.cancelled = true) };
  return t;
}

const svc = vi.hoisted(() => ({
  library: { activeId: null, demoOffered: false } as LibraryState,
  stored: [] as ModelManifest[],
  imports: [] as { source: ModelImportSource; onProgress?: (p: LoadProgress) => void; task: ReturnType<typeof task<ModelManifest>> }[],
  activations: [] as { id: string; task: ReturnType<typeof task<ModelManifest>> }[],
  generations: [] as { request: GenerateRequest; onEvent?: (e: GenerationEvent) => void; task: ReturnType<typeof task<GenerationSummary>> }[],
  cancelled: [] as string[],
  deleted: [] as string[],
  loaded: null as string | null,
}));

vi.mock('../../src/services/gpu.js', () => ({ probeGpu: vi.fn<() => Promise<GpuProbe>>() }));
vi.mock('../../src/services/models.js', () => ({
  DEMO_MODEL: { path: 'models/demo-fortunes/', name: 'demo-fortunes' },
  demoModelUrl: () => 'http://app/models/demo-fortunes/',
  listModels: async () => svc.stored.slice(),
  readLibrary: async () => ({ ...svc.library }),
  updateLibrary: async (patch: Partial<LibraryState>) => Object.assign(svc.library, patch),
  activeModel: async () => (svc.loaded ? { id: svc.loaded, manifest: svc.stored.find((m) => m.id === svc.loaded) } : null),
  importModel: (source: ModelImportSource, onProgress?: (p: LoadProgress) => void) => {
    const t = task<ModelManifest>();
    svc.imports.push({ source, onProgress, task: t });
    return t;
  },
  activateModel: (id: string) => {
    const t = task<ModelManifest>();
    svc.activations.push({ id, task: t });
    return t;
  },
  generate: (request: GenerateRequest, onEvent?: (e: GenerationEvent) => void) => {
    const t = task<GenerationSummary>();
    svc.generations.push({ request, onEvent, task: t });
    return t;
  },
  cancelTask: (id: string) => svc.cancelled.push(id),
  deleteModel: async (id: string) => {
    svc.deleted.push(id);
  },
}));

const { probeGpu } = await import('../../src/services/gpu.js');
const { useModelsStore, resetModelsInit, DEFAULT_SETTINGS } = await import('../../src/stores/models.js');
const initial = useModelsStore.getState();
const READY: GpuProbe = { kind: 'ready', report: {} as never };

function manifest(id: string, extra: Partial<ModelManifest> = {}): ModelManifest {
  return { id, name: id, generationDefaults: {}, ...extra } as ModelManifest;
}

/** Lets pending promise chains run. */
const tick = () => new Promise((ok) => setTimeout(ok, 0));

describe('useModelsStore', () => {
  beforeEach(() => {
    useModelsStore.setState(initial, true);
    resetModelsInit();
    Object.assign(svc, { library: { activeId: null, demoOffered: false }, stored: [], imports: [], activations: [], generations: [], cancelled: [], deleted: [], loaded: null });
    vi.mocked(probeGpu).mockResolvedValue(READY);
  });

  it('first run: loads the demo through the URL path, remembers it and that it was offered', async () => {
    const done = useModelsStore.getState().init();
    await vi.waitFor(() => expect(svc.imports).toHaveLength(1));
    expect(svc.imports[0]!.source).toEqual({ kind: 'url', url: 'http://app/models/demo-fortunes/', name: 'demo-fortunes' });
    expect(useModelsStore.getState().task).toMatchObject({ kind: 'import', label: 'the demo model', progress: null });
    svc.imports[0]!.onProgress!({ stage: 'reading', loaded: 10, total: 100 });
    expect(useModelsStore.getState().task?.progress).toEqual({ stage: 'reading', loaded: 10, total: 100 });
    const demo = manifest('demo-fortunes', { generationDefaults: { temperature: 0.7, maxNewTokens: 30 } });
    svc.imports[0]!.task.settle({ ok: true, value: demo });
    await done;
    const s = useModelsStore.getState();
    expect(s).toMatchObject({ status: 'ready', models: [demo], activeId: 'demo-fortunes', loadedId: 'demo-fortunes', task: null, problem: null });
    expect(s.playground.settings).toEqual({ ...DEFAULT_SETTINGS, temperature: 0.7, maxNewTokens: 30 });
    expect(svc.library).toEqual({ activeId: 'demo-fortunes', demoOffered: true });
    // init runs once (StrictMode calls effects twice).
    await useModelsStore.getState().init();
    expect(svc.imports).toHaveLength(1);
  });

  it('later runs: activates the remembered model from storage, fetching nothing', async () => {
    svc.stored = [manifest('a'), manifest('b')];
    svc.library = { activeId: 'a', demoOffered: true };
    const done = useModelsStore.getState().init();
    await vi.waitFor(() => expect(svc.activations).toHaveLength(1));
    expect(svc.activations[0]!.id).toBe('a');
    svc.activations[0]!.task.settle({ ok: true, value: svc.stored[0]! });
    await done;
    expect(svc.imports).toHaveLength(0);
    expect(useModelsStore.getState()).toMatchObject({ activeId: 'a', loadedId: 'a' });
  });

  it('a library whose demo was deleted stays empty: no model is loaded on its own', async () => {
    svc.library = { activeId: null, demoOffered: true };
    await useModelsStore.getState().init();
    expect(svc.imports).toHaveLength(0);
    expect(useModelsStore.getState()).toMatchObject({ status: 'ready', models: [], loadedId: null });
  });

  it('without WebGPU the library is listed but nothing is loaded', async () => {
    vi.mocked(probeGpu).mockResolvedValue({ kind: 'unavailable', reason: 'no adapter', secureContext: true });
    svc.stored = [manifest('a')];
    await useModelsStore.getState().init();
    expect(svc.activations).toHaveLength(0);
    expect(svc.imports).toHaveLength(0);
    expect(useModelsStore.getState()).toMatchObject({ models: [svc.stored[0]], gpuProblem: 'no adapter', loadedId: null });
  });

  it('a failed load becomes a problem naming the model and the reason; dismiss clears it; the old model stays', async () => {
    useModelsStore.setState({ models: [manifest('a')], activeId: 'a', loadedId: 'a' });
    const done = useModelsStore.getState().importFrom({ kind: 'url', url: 'https://x/m' }, 'https://x/m');
    const failure = { name: 'ModelLoadError', code: 'external-data-missing', message: 'external data file "model.onnx_data" is missing' };
    svc.imports[0]!.task.settle({ ok: false, error: failure });
    expect(await done).toBe(false);
    expect(useModelsStore.getState()).toMatchObject({ problem: { title: 'Could not load https://x/m', failure }, task: null, loadedId: 'a', models: [manifest('a')] });
    useModelsStore.getState().dismissProblem();
    expect(useModelsStore.getState().problem).toBeNull();
  });

  it('cancel goes to the running task; a cancelled load is no problem; one load at a time', async () => {
    const done = useModelsStore.getState().importFrom({ kind: 'files', files: [] }, 'x');
    expect(await useModelsStore.getState().importFrom({ kind: 'files', files: [] }, 'y')).toBe(false);
    expect(svc.imports).toHaveLength(1);
    useModelsStore.getState().cancelTask();
    expect(svc.imports[0]!.task.cancelled).toBe(true);
    svc.imports[0]!.task.settle({ ok: false, error: { name: 'AbortError', code: 'aborted', message: 'cancelled' } });
    expect(await done).toBe(false);
    expect(useModelsStore.getState()).toMatchObject({ problem: null, task: null });
  });

  it('remove deletes through the service and forgets the active model', async () => {
    useModelsStore.setState({ models: [manifest('a'), manifest('b')], activeId: 'a', loadedId: 'a' });
    svc.library.activeId = 'a';
    await useModelsStore.getState().remove('a');
    expect(svc.deleted).toEqual(['a']);
    expect(useModelsStore.getState()).toMatchObject({ models: [manifest('b')], activeId: null, loadedId: null });
    expect(svc.library.activeId).toBeNull();
  });

  it('the playground streams deltas, then shows the whole completion; stop cancels the task', async () => {
    useModelsStore.getState().setSettings({ temperature: 0, stopStrings: ['\n'] });
    useModelsStore.getState().setPrompt('Life is');
    const done = useModelsStore.getState().generate();
    const g = svc.generations[0]!;
    expect(useModelsStore.getState().playground.status).toBe('running');
    g.onEvent!({ delta: ' a', tokens: 1 });
    g.onEvent!({ delta: ' dream', tokens: 2 });
    expect(useModelsStore.getState().playground.output).toBe(' a dream');
    useModelsStore.getState().stopGeneration();
    expect(svc.cancelled).toEqual([g.task.taskId]);
    g.task.settle({ ok: true, value: { text: ' a dream', finishReason: 'abort', promptTokens: 3, tokens: 2, ms: 5 } });
    await done;
    expect(useModelsStore.getState().playground).toMatchObject({ status: 'stopped', output: ' a dream', taskId: null, summary: { tokens: 2 } });
  });

  it('the playground: the chat template is on when the loaded model has one; the system prompt goes only with it', async () => {
    const s = () => useModelsStore.getState();
    const load = async (m: ModelManifest) => {
      const done = s().importFrom({ kind: 'files', files: [] }, m.name);
      svc.imports.at(-1)!.task.settle({ ok: true, value: m });
      await done;
    };
    await load(manifest('chat', { hasChatTemplate: true }));
    expect(s().playground.useChatTemplate).toBe(true);
    s().setPrompt('Hi');
    s().setSystem('Terse.');
    const on = s().generate();
    expect(svc.generations[0]!.request).toMatchObject({ prompt: 'Hi', system: 'Terse.', useChatTemplate: true });
    svc.generations[0]!.task.settle({ ok: true, value: { text: '!', finishReason: 'eos', promptTokens: 9, tokens: 1, ms: 1 } });
    await on;
    s().setUseChatTemplate(false);
    const off = s().generate();
    expect(svc.generations[1]!.request.useChatTemplate).toBe(false);
    expect(svc.generations[1]!.request).not.toHaveProperty('system');
    svc.generations[1]!.task.settle({ ok: true, value: { text: '!', finishReason: 'eos', promptTokens: 3, tokens: 1, ms: 1 } });
    await off;
    await load(manifest('plain', { hasChatTemplate: false }));
    expect(s().playground.useChatTemplate).toBe(false);
    await load(manifest('chat2', { hasChatTemplate: true }));
    expect(s().playground.useChatTemplate).toBe(true);
  });

  it('a generation error is shown with its message', async () => {
    const done = useModelsStore.getState().generate();
    svc.generations[0]!.task.settle({ ok: false, error: { name: 'WorkerTaskError', code: 'no-model', message: 'no model is loaded' } });
    await done;
    await tick();
    expect(useModelsStore.getState().playground).toMatchObject({ status: 'error', error: { code: 'no-model' } });
  });
});
