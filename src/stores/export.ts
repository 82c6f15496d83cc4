// The Export page's state: the model folder and PEFT adapter picked, whether they fit together,
// and the last download's outcome. Actions call services/export.ts.
import { create } from 'zustand';
import type { TrainingConfig } from '../engine/training/config.js';
import type { FileLike } from '../engine/model/source.js';
import * as exportService from '../services/export.js';
import type { AdapterData, LoadedModel } from '../services/export.js';

export type ExportKind = 'peft' | 'merged' | 'gguf' | 'trl';

interface ExportState {
  model: LoadedModel | null;
  modelLabel: string;
  adapter: AdapterData | null;
  adapterLabel: string;
  runConfig: TrainingConfig | null;
  /** Modules of the adapter found in the model, when both are picked and agree. */
  modules: number | null;
  busy: ExportKind | 'model' | 'adapter' | null;
  error: string | null;
  message: string | null;
  pickModel(files: readonly FileLike[]): Promise<void>;
  pickAdapter(files: readonly FileLike[]): Promise<void>;
  download(kind: ExportKind, options?: { ggufType?: 'f32' | 'f16'; dataset?: File; method?: string; baseModel?: string }): Promise<void>;
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
  return {
    model: null,
    modelLabel: '',
    adapter: null,
    adapterLabel: '',
    runConfig: null,
    modules: null,
    busy: null,
    error: null,
    message: null,

    async pickModel(files) {
      set({ busy: 'model', error: null, message: null });
      try {
        const model = await exportService.openModel(files);
        set({ model, modelLabel: model.source.label });
        recheck();
      } catch (e) {
        set({ error: describe(e) });
      } finally {
        set({ busy: null });
      }
    },

    async pickAdapter(files) {
      set({ busy: 'adapter', error: null, message: null });
      try {
        const adapter = await exportService.openAdapter(files);
        set({ adapter, adapterLabel: files.length === 1 ? files[0]!.name : `${files.length} files`, runConfig: await exportService.openRunConfig(files) });
        recheck();
      } catch (e) {
        set({ error: describe(e) });
      } finally {
        set({ busy: null });
      }
    },

    async download(kind, options = {}) {
      const { model, adapter, runConfig } = get();
      if (!model || !adapter) return;
      set({ busy: kind, error: null, message: null });
      try {
        if (kind === 'peft') exportService.downloadPeftZip(model, adapter);
        else if (kind === 'gguf') exportService.downloadGguf(model, adapter, options.ggufType);
        else if (kind === 'merged') {
          const { files } = exportService.downloadMerged(model, adapter);
          set({ message: files === 2 ? 'Two files: keep the .onnx and its .data side by side.' : null });
        } else {
          if (!options.dataset) throw new Error('pick the dataset to hand off');
          const config = runConfig ?? (options.method ? (await import('../engine/training/config.js')).parseTrainingConfig({ method: options.method, lora: adapter.lora }) : null);
          if (!config) throw new Error('pick a method (no training_config.json came with the adapter)');
          const r = await exportService.downloadTrl(adapter, config, options.dataset, options.baseModel ?? '');
          set({ message: `${r.rows} rows exported${r.skipped ? `, ${r.skipped} records left out` : ''}.` });
        }
      } catch (e) {
        set({ error: describe(e) });
      } finally {
        set({ busy: null });
      }
    },
  };
});
