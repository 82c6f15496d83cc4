// The model library and the playground: stored models (OPFS), which one is active on the GPU, the
// load in progress (with progress and cancel), the last problem, and the sampling playground.
// `init` runs once at start: it lists the library, then (when WebGPU is there) loads the active
// model, or on the very first run the bundled demo model through the same path as any URL.
import { create } from 'zustand';
import { probeGpu } from '../services/gpu.js';
import * as models from '../services/models.js';
import type {
  GenerationSettings,
  GenerationSummary,
  LoadProgress,
  ModelImportSource,
  ModelManifest,
  WorkerFailure,
} from '../worker/protocol.js';
import type { OnnxVariant } from '../services/models.js';

export type LibraryStatus = 'idle' | 'listing' | 'ready' | 'error';

export interface ModelTask {
  kind: 'import' | 'activate';
  taskId: string;
  /** What is being loaded, for the UI ("demo-fortunes", "my-model", a URL). */
  label: string;
  progress: LoadProgress | null;
  cancel(): void;
}

export interface ModelProblem {
  /** What was being done ("Could not load my-model"). */
  title: string;
  failure: WorkerFailure;
}

export type GenerationStatus = 'idle' | 'running' | 'done' | 'stopped' | 'error';

export interface PlaygroundState {
  prompt: string;
  /** Rendered first by the chat template; sent only with the template on and when not blank. */
  system: string;
  /** On by default when the loaded model's tokenizer has a chat template. */
  useChatTemplate: boolean;
  settings: GenerationSettings;
  status: GenerationStatus;
  /** Streamed text so far; the whole completion once done. */
  output: string;
  summary: GenerationSummary | null;
  error: WorkerFailure | null;
  taskId: string | null;
}

export const DEFAULT_SETTINGS: GenerationSettings = {
  temperature: 0.8,
  topK: 40,
  topP: 1,
  maxNewTokens: 60,
  stopStrings: [],
  seed: 0,
};

interface ModelsState {
  status: LibraryStatus;
  models: ModelManifest[];
  /** The model chosen in the library (kept in OPFS library.json). */
  activeId: string | null;
  /** The model on the GPU in the engine Worker. */
  loadedId: string | null;
  task: ModelTask | null;
  problem: ModelProblem | null;
  /** Set when WebGPU is missing: models can be listed and deleted, not loaded. */
  gpuProblem: string | null;
  playground: PlaygroundState;

  /** Lists the library and loads the active model (or the demo on first run). Once. */
  init(): Promise<void>;
  /** Loads a model from files or a URL, stores it, makes it active. Resolves true on success. */
  importFrom(source: ModelImportSource, label: string): Promise<boolean>;
  /** The .onnx variants at a URL or Hub id with their sizes, or null when they cannot be listed (the import then says why). */
  variantsAt(url: string): Promise<OnnxVariant[] | null>;
  /** Makes a stored model active (loads it from storage). */
  activate(id: string): Promise<boolean>;
  /** Adds the bundled demo model (again). */
  addDemo(): Promise<boolean>;
  cancelTask(): void;
  remove(id: string): Promise<void>;
  dismissProblem(): void;
  setPrompt(prompt: string): void;
  setSystem(system: string): void;
  setUseChatTemplate(on: boolean): void;
  setSettings(patch: Partial<GenerationSettings>): void;
  generate(): Promise<void>;
  stopGeneration(): void;
}

const INITIAL_PLAYGROUND: PlaygroundState = {
  prompt: 'Life is',
  system: '',
  useChatTemplate: false,
  settings: DEFAULT_SETTINGS,
  status: 'idle',
  output: '',
  summary: null,
  error: null,
  taskId: null,
};

let initStarted = false;

/** Forgets that init ran (tests). */
export function resetModelsInit(): void {
  initStarted = false;
}

export const useModelsStore = create<ModelsState>()((set, get) => {
  /** Runs a load task; on success the model is active and remembered as such. */
  async function runLoad(kind: ModelTask['kind'], label: string, start: (onProgress: (p: LoadProgress) => void) => models.RunningTask<ModelManifest>): Promise<ModelManifest | null> {
    if (get().task) return null;
    const task = start((progress) => {
      const current = get().task;
      if (current?.taskId === task.taskId) set({ task: { ...current, progress } });
    });
    set({ task: { kind, taskId: task.taskId, label, progress: null, cancel: task.cancel }, problem: null });
    const result = await task.result;
    set({ task: null });
    if (!result.ok) {
      if (result.error.code !== 'aborted') set({ problem: { title: `Could not load ${label}`, failure: result.error } });
      return null;
    }
    const manifest = result.value;
    const others = get().models.filter((m) => m.id !== manifest.id);
    const playground = { ...get().playground, settings: { ...DEFAULT_SETTINGS, ...manifest.generationDefaults }, useChatTemplate: manifest.hasChatTemplate };
    set({ models: [...others, manifest], activeId: manifest.id, loadedId: manifest.id, playground });
    await models.updateLibrary({ activeId: manifest.id }).catch(() => {});
    return manifest;
  }

  return {
    status: 'idle',
    models: [],
    activeId: null,
    loadedId: null,
    task: null,
    problem: null,
    gpuProblem: null,
    playground: INITIAL_PLAYGROUND,

    async init() {
      if (initStarted) return;
      initStarted = true;
      set({ status: 'listing' });
      let library: models.LibraryState;
      try {
        const [list, lib] = await Promise.all([models.listModels(), models.readLibrary()]);
        library = lib;
        set({ status: 'ready', models: list, activeId: lib.activeId });
      } catch (e) {
        set({ status: 'error', problem: { title: 'Could not read the stored models', failure: { name: 'Error', code: 'storage', message: (e as Error).message } } });
        return;
      }
      const gpu = await probeGpu();
      if (gpu.kind !== 'ready') {
        set({ gpuProblem: gpu.reason });
        return;
      }
      const loaded = await models.activeModel().catch(() => null);
      if (loaded) {
        set({ loadedId: loaded.id, activeId: loaded.id, playground: { ...get().playground, useChatTemplate: loaded.manifest.hasChatTemplate } });
        return;
      }
      const { models: list, activeId } = get();
      const chosen = list.find((m) => m.id === activeId) ?? list.at(-1);
      if (chosen) await get().activate(chosen.id);
      else if (!library.demoOffered) await get().addDemo();
    },

    async variantsAt(url) {
      const r = await models.urlVariants(url).result;
      return r.ok ? r.value : null;
    },

    async importFrom(source, label) {
      return (await runLoad('import', label, (onProgress) => models.importModel(source, onProgress))) !== null;
    },

    async activate(id) {
      if (get().loadedId === id) {
        set({ activeId: id });
        return true;
      }
      const name = get().models.find((m) => m.id === id)?.name ?? id;
      return (await runLoad('activate', name, (onProgress) => models.activateModel(id, onProgress))) !== null;
    },

    async addDemo() {
      const ok = await get().importFrom({ kind: 'url', url: models.demoModelUrl(), name: models.DEMO_MODEL.name }, 'the demo model');
      if (ok) await models.updateLibrary({ demoOffered: true }).catch(() => {});
      return ok;
    },

    cancelTask() {
      get().task?.cancel();
    },

    async remove(id) {
      try {
        await models.deleteModel(id);
      } catch (e) {
        set({ problem: { title: 'Could not delete the model', failure: { name: 'Error', code: 'storage', message: (e as Error).message } } });
        return;
      }
      const { activeId, loadedId } = get();
      set({
        models: get().models.filter((m) => m.id !== id),
        activeId: activeId === id ? null : activeId,
        loadedId: loadedId === id ? null : loadedId,
      });
      if (activeId === id) await models.updateLibrary({ activeId: null }).catch(() => {});
    },

    dismissProblem() {
      set({ problem: null });
    },

    setPrompt(prompt) {
      set({ playground: { ...get().playground, prompt } });
    },

    setSystem(system) {
      set({ playground: { ...get().playground, system } });
    },

    setUseChatTemplate(on) {
      set({ playground: { ...get().playground, useChatTemplate: on } });
    },

    setSettings(patch) {
      const p = get().playground;
      set({ playground: { ...p, settings: { ...p.settings, ...patch } } });
    },

    async generate() {
      const p = get().playground;
      if (p.status === 'running') return;
      // The system prompt goes through the chat template only; a blank one is none.
      const system = p.useChatTemplate && p.system.trim() ? { system: p.system } : {};
      const task = models.generate({ ...p.settings, prompt: p.prompt, ...system, useChatTemplate: p.useChatTemplate }, (event) => {
        const now = get().playground;
        if (now.taskId === task.taskId) set({ playground: { ...now, output: now.output + event.delta } });
      });
      set({ playground: { ...p, status: 'running', output: '', summary: null, error: null, taskId: task.taskId } });
      const result = await task.result;
      const now = get().playground;
      if (now.taskId !== task.taskId) return;
      if (result.ok) {
        const status = result.value.finishReason === 'abort' ? 'stopped' : 'done';
        set({ playground: { ...now, status, output: result.value.text, summary: result.value, taskId: null } });
      } else {
        set({ playground: { ...now, status: result.error.code === 'aborted' ? 'stopped' : 'error', error: result.error.code === 'aborted' ? null : result.error, taskId: null } });
      }
    },

    stopGeneration() {
      const id = get().playground.taskId;
      if (id) models.cancelTask(id);
    },
  };
});
