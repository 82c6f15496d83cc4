// The Hub on the pages: the access token (in memory; kept on this device only when the person
// ticks "keep"), the Data page's import from a dataset repository (its files by split, one
// fetched into the ordinary import flow), and the Export page's pushes (the chosen adapter with
// its model card; the hand-off's dataset). Actions call services/hub.ts.
import { create } from 'zustand';
import type { DatasetSplitFiles } from '../hub/client.js';
import * as hub from '../services/hub.js';
import { handoffRecords } from '../services/export.js';
import { getRun } from '../services/train.js';
import { useDataStore } from './data.js';
import { handoffBaseModel, useExportStore } from './export.js';

interface HubState {
  token: string;
  keep: boolean;
  /** The Data page's dataset repository, its revision and its files by split (after listing). */
  datasetRepo: string;
  revision: string;
  splits: DatasetSplitFiles[] | null;
  busy: 'list' | 'fetch' | 'push-adapter' | 'push-dataset' | null;
  error: string | null;
  message: string | null;
  setToken(token: string): void;
  setKeep(keep: boolean): void;
  setDatasetRepo(repo: string, revision: string): void;
  listDataset(): Promise<void>;
  /** Fetches one file of the listed dataset into the Data page's import flow (its split preset). */
  fetchDatasetFile(path: string, split: string): Promise<void>;
  pushAdapter(repo: string, options: { private: boolean; baseModel?: string }): Promise<void>;
  pushDataset(repo: string, options: { private: boolean }): Promise<void>;
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const useHubStore = create<HubState>()((set, get) => {
  const kept = hub.keptToken();
  const run = async <K extends NonNullable<HubState['busy']>>(busy: K, work: () => Promise<string | null>) => {
    set({ busy, error: null, message: null });
    try {
      set({ message: await work() });
    } catch (e) {
      set({ error: describe(e) });
    } finally {
      set({ busy: null });
    }
  };
  return {
    token: kept ?? '',
    keep: kept !== null,
    datasetRepo: '',
    revision: 'main',
    splits: null,
    busy: null,
    error: null,
    message: null,

    setToken(token) {
      set({ token });
      if (get().keep) hub.keepToken(token || null);
    },
    setKeep(keep) {
      set({ keep });
      hub.keepToken(keep ? get().token || null : null);
    },
    setDatasetRepo(datasetRepo, revision) {
      set({ datasetRepo, revision, splits: null });
    },
    listDataset: () =>
      run('list', async () => {
        const { datasetRepo, revision, token } = get();
        const splits = await hub.hubDatasetSplits(datasetRepo.trim(), revision.trim() || 'main', token);
        set({ splits });
        return null;
      }),
    fetchDatasetFile: (path, split) =>
      run('fetch', async () => {
        const { datasetRepo, revision, token } = get();
        const { blob, fileName } = await hub.hubDatasetFile(datasetRepo.trim(), path, revision.trim() || 'main', token);
        const data = useDataStore.getState();
        await data.pickFile(blob, fileName);
        if (split === 'test' || split === 'validation') useDataStore.getState().setImportSplit('test');
        return null;
      }),
    pushAdapter: (repo, options) =>
      run('push-adapter', async () => {
        const s = useExportStore.getState();
        if (!s.model || !s.adapter) throw new Error('choose a base model and an adapter first');
        const runRow = s.adapterOrigin?.kind === 'run' ? await getRun(s.adapterOrigin.runId) : undefined;
        const base = handoffBaseModel(s, options.baseModel ?? '');
        const data = s.handoffData?.kind === 'studio' ? s.datasets.find((d) => d.id === (s.handoffData as { datasetId: string }).datasetId) : undefined;
        const r = await hub.pushAdapter({
          repo: repo.trim(),
          token: get().token,
          private: options.private,
          model: s.model,
          adapter: s.adapter,
          config: s.runConfig,
          baseModel: base?.ok ? base.id : undefined,
          data: data ? { name: data.name, records: data.counts.total } : undefined,
          metrics: runRow?.metrics.at(-1) ? Object.fromEntries(Object.entries(runRow.metrics.at(-1)!).filter(([k, v]) => k !== 'step' && typeof v === 'number')) as Record<string, number> : undefined,
          steps: runRow?.step,
        });
        return `Pushed the adapter to ${repo.trim()} in one commit (${r.commit.slice(0, 8)}).`;
      }),
    pushDataset: (repo, options) =>
      run('push-dataset', async () => {
        const s = useExportStore.getState();
        if (!s.handoffData) throw new Error('choose the dataset to push (the TRL hand-off card)');
        const name = s.handoffData.kind === 'file' ? s.handoffData.file.name : (s.datasets.find((d) => d.id === (s.handoffData as { datasetId: string }).datasetId)?.name ?? 'dataset');
        const r = await hub.pushDataset({ repo: repo.trim(), token: get().token, private: options.private, name, records: await handoffRecords(s.handoffData) });
        return `Pushed ${r.rows} rows to the dataset ${repo.trim()} in one commit (${r.commit.slice(0, 8)}).`;
      }),
  };
});
