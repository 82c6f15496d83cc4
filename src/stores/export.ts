// The Export page's state: the base model (a picked folder or a model of the studio's library) and
// the PEFT adapter (picked files or a run of this studio), whether they fit together, the TRL
// hand-off's dataset (a picked file or a dataset of the studio) and the last download's outcome. Actions call services/export.ts.
// The hand-off's base model is a Hugging Face Hub id (src/hub-id.ts): `handoffBaseModel` says which
// one, or why there is none, for the page to show before the download is enabled.
import { create } from 'zustand';
import type { DatasetRow, RunRow } from '../db/index.js';
import type { TrainingConfig } from '../engine/training/config.js';
import type { FileLike } from '../engine/model/source.js';
import * as exportService from '../services/export.js';
import type { AdapterData, HandoffData, LoadedModel } from '../services/export.js';
import type { BaseModelResolution } from '../hub-id.js';
import { GGUF_MODEL_TYPES, type GgufModelType } from '../engine/export/gguf-model.js';

export { GGUF_MODEL_TYPES, type GgufModelType };
import { listDatasets } from '../services/data.js';
import { listModels } from '../services/models.js';
import type { ModelManifest } from '../worker/protocol.js';

export type ExportKind = 'peft' | 'merged' | 'gguf' | 'gguf-merged' | 'trl';

/** Where the model or adapter came from: files picked on disk, or the studio itself. */
export type ModelOrigin = { kind: 'files' } | { kind: 'library'; modelId: string };
export type AdapterOrigin = { kind: 'files' } | { kind: 'run'; runId: string };
export type { HandoffData };

interface ExportState {
  /** The studio's stored models, its runs with a saved adapter and its datasets (refresh reads them). */
  library: ModelManifest[];
  runs: RunRow[];
  datasets: DatasetRow[];
  model: LoadedModel | null;
  modelLabel: string;
  modelOrigin: ModelOrigin | null;
  adapter: AdapterData | null;
  adapterLabel: string;
  adapterOrigin: AdapterOrigin | null;
  runConfig: TrainingConfig | null;
  /** The TRL hand-off's dataset; a run's own dataset when its adapter is chosen (unless a file was picked). */
  handoffData: HandoffData | null;
  /** Modules of the adapter found in the model, when both are picked and agree. */
  modules: number | null;
  busy: ExportKind | 'model' | 'adapter' | null;
  error: string | null;
  message: string | null;
  refresh(): Promise<void>;
  pickModel(files: readonly FileLike[]): Promise<void>;
  pickStoredModel(modelId: string): Promise<void>;
  pickAdapter(files: readonly FileLike[]): Promise<void>;
  /** A run's adapter; its base model too, from the library, unless one was picked from disk. */
  pickRun(runId: string): Promise<void>;
  pickHandoffData(data: HandoffData | null): void;
  /** `dataset`: a file for the TRL hand-off instead of handoffData; `baseModel`: the Hub id typed
   *  on the page (empty: the model's own, see handoffBaseModel). */
  download(kind: ExportKind, options?: { ggufType?: 'f32' | 'f16'; ggufModelType?: GgufModelType; dataset?: File; method?: string; baseModel?: string }): Promise<void>;
}

/** Where the chosen model was loaded from, when it is a model of the library (its manifest's source). */
function loadedFrom(s: Pick<ExportState, 'modelOrigin' | 'library'>): ModelManifest['source'] | undefined {
  const origin = s.modelOrigin;
  return origin?.kind === 'library' ? s.library.find((m) => m.id === origin.modelId)?.source : undefined;
}

/** The TRL hand-off's base model for what the page's field holds (`given`, empty: the model's own
 *  Hub id), or why there is none; null until a model and an adapter are chosen. */
export function handoffBaseModel(s: Pick<ExportState, 'model' | 'adapter' | 'modelOrigin' | 'library'>, given: string): BaseModelResolution | null {
  if (!s.model || !s.adapter) return null;
  return exportService.handoffBaseModel(s.model, s.adapter, given, loadedFrom(s));
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const useExportStore = create<ExportState>()((set, get) => {
  const recheck = () => {
    const { model, adapter } = get();
    if (!model || !adapter) return set({ modules: null });
    try {
      set({ modules: exportService.checkAdapter(model, adapter), error: null });
    } catch (e) {
      set({ modules: null, error: describe(e) });
    }
  };
  // A later pick wins over a slower earlier one (a big model still reading).
  const latest = { model: 0, adapter: 0 };
  const pending = new Set<'model' | 'adapter'>();
  const choose = async <T>(slot: 'model' | 'adapter', open: () => Promise<T>, apply: (value: T) => Partial<ExportState>) => {
    const ticket = ++latest[slot];
    pending.add(slot);
    set({ busy: slot, error: null, message: null });
    try {
      const value = await open();
      if (ticket !== latest[slot]) return;
      set(apply(value));
      recheck();
    } catch (e) {
      if (ticket === latest[slot]) set({ error: describe(e) });
    } finally {
      if (ticket === latest[slot]) {
        pending.delete(slot);
        set({ busy: [...pending][0] ?? null });
      }
    }
  };
  const openStored = (modelId: string) =>
    choose('model', () => exportService.openStoredModel(modelId), (model) => ({ model, modelLabel: model.source.label, modelOrigin: { kind: 'library', modelId } }));

  return {
    library: [],
    runs: [],
    datasets: [],
    model: null,
    modelLabel: '',
    modelOrigin: null,
    adapter: null,
    adapterLabel: '',
    adapterOrigin: null,
    runConfig: null,
    handoffData: null,
    modules: null,
    busy: null,
    error: null,
    message: null,

    async refresh() {
      try {
        const [library, runs, datasets] = await Promise.all([listModels().catch(() => [] as ModelManifest[]), exportService.runsWithAdapter(), listDatasets()]);
        // A studio dataset deleted since it was chosen is no longer offered.
        const { handoffData } = get();
        const gone = handoffData?.kind === 'studio' && !datasets.some((d) => d.id === handoffData.datasetId);
        set({ library, runs, datasets, ...(gone ? { handoffData: null } : {}) });
      } catch (e) {
        set({ error: `could not list the studio's runs: ${describe(e)}` });
      }
    },

    pickModel: (files) => choose('model', () => exportService.openModel(files), (model) => ({ model, modelLabel: model.source.label, modelOrigin: { kind: 'files' } })),

    pickStoredModel: openStored,

    pickAdapter: (files) =>
      choose(
        'adapter',
        async () => ({ adapter: await exportService.openAdapter(files), runConfig: await exportService.openRunConfig(files) }),
        ({ adapter, runConfig }) => ({ adapter, runConfig, adapterLabel: files.length === 1 ? files[0]!.name : `${files.length} files`, adapterOrigin: { kind: 'files' } }),
      ),

    async pickRun(runId) {
      const run = get().runs.find((r) => r.id === runId);
      const { modelOrigin, library } = get();
      const wantModel = run && modelOrigin?.kind !== 'files' && !(modelOrigin?.kind === 'library' && modelOrigin.modelId === run.modelId) && library.some((m) => m.id === run.modelId);
      await Promise.all([
        choose('adapter', () => exportService.openRunAdapter(runId), (r) => ({
          adapter: r.adapter,
          runConfig: r.config,
          adapterLabel: `run “${r.run.name}”`,
          adapterOrigin: { kind: 'run', runId },
          // The run's own dataset for the hand-off, if it is still there and no file was picked.
          ...(get().handoffData?.kind !== 'file' && get().datasets.some((d) => d.id === r.run.datasetId) ? { handoffData: { kind: 'studio', datasetId: r.run.datasetId } as const } : {}),
        })),
        wantModel ? openStored(run.modelId) : null,
      ]);
    },

    pickHandoffData: (handoffData) => set({ handoffData }),

    async download(kind, options = {}) {
      const { model, adapter, runConfig, handoffData } = get();
      if (!model || !adapter) return;
      set({ busy: kind, error: null, message: null });
      try {
        if (kind === 'peft') exportService.downloadPeftZip(model, adapter);
        else if (kind === 'gguf') exportService.downloadGguf(model, adapter, options.ggufType, runConfig?.method);
        else if (kind === 'gguf-merged') {
          const { fallbacks } = exportService.downloadGgufModel(model, adapter, options.ggufModelType, runConfig?.method);
          set({ message: fallbacks.length ? `${fallbacks.length} weights kept in f16 (rows not a multiple of 32 cannot be q8_0).` : null });
        }
        else if (kind === 'merged') {
          const { files } = exportService.downloadMerged(model, adapter);
          set({ message: files === 2 ? 'Two files: keep the .onnx and its .data side by side.' : null });
        } else {
          const data: HandoffData | null = options.dataset ? { kind: 'file', file: options.dataset } : handoffData;
          if (!data) throw new Error('pick the dataset to hand off');
          const config = runConfig ?? (options.method ? exportService.handoffConfig(options.method, adapter) : null);
          if (!config) throw new Error('pick a method (no training_config.json came with the adapter)');
          const r = await exportService.downloadTrl(adapter, config, data, { model, given: options.baseModel ?? '', loadedFrom: loadedFrom(get()) });
          set({ message: `${r.rows} rows exported for ${r.baseModel}${r.skipped ? `, ${r.skipped} records left out` : ''}.` });
        }
      } catch (e) {
        set({ error: describe(e) });
      } finally {
        set({ busy: null });
      }
    },
  };
});
