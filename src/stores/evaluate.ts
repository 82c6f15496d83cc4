// The Evaluate page: which adapters (runs with a saved adapter, imported PEFT adapters) to score
// against the base model on which dataset split; the result (summary per model, pairs sortable);
// generations side by side and blind A/B judging with its win rate; the run history (rename,
// delete, compare curves, report).
import { create } from 'zustand';
import type { DatasetRow, RunRow } from '../db/index.js';
import { listDatasets, onDatasetsChanged } from '../services/data.js';
import * as ev from '../services/evaluate.js';
import { hasAdapter, listRuns } from '../services/train.js';
import type { EvalSplit } from '../worker/evaluate-protocol.js';

export type PairSort = 'index' | 'margin-asc' | 'margin-desc' | 'ref-margin-asc';

export interface EvalSettings {
  datasetId: string | null;
  split: EvalSplit;
  beta: number;
  maxLength: number | null;
  adapterIds: string[];
}

export interface ModelRef {
  id: string;
  name: string;
}

interface EvaluateState {
  loaded: boolean;
  datasets: DatasetRow[];
  runs: RunRow[];
  /** Runs whose adapter is saved (a checkpoint), by id. */
  withAdapter: Record<string, boolean>;
  imported: ev.ImportedAdapterInfo[];
  settings: EvalSettings;
  running: boolean;
  progress: ev.EvaluateProgress | null;
  result: ev.EvaluateResult | null;
  /** The adapter whose scores sort and filter the pairs table. */
  focusId: string | null;
  sort: PairSort;
  wrongOnly: boolean;
  problem: { title: string; message: string } | null;

  // generations and judging
  /** The prompts box: prompts separated by lines of ---. */
  prompts: string;
  /**
   * Prompts last taken from the dataset, whole (every turn, the system prompt): a block of the box
   * that still reads as one of them (promptText) is sampled as that conversation; an edited or
   * typed block as its text.
   */
  picked: ev.EvalPrompt[];
  sides: [ev.Side, ev.Side];
  sampling: ev.SamplingSettings;
  generating: boolean;
  rows: ev.SideBySide[];
  items: ev.BlindItem[];
  judgeIndex: number;
  saved: { datasetId: string; saved: number } | null;

  // history
  compare: [string | null, string | null];
  compareMetric: string;

  init(): Promise<void>;
  refresh(): Promise<void>;
  setSettings(patch: Partial<EvalSettings>): void;
  toggleAdapter(id: string): void;
  importAdapter(files: File[]): Promise<void>;
  run(model: ModelRef): Promise<void>;
  cancel(): void;
  setView(patch: Partial<Pick<EvaluateState, 'focusId' | 'sort' | 'wrongOnly' | 'prompts' | 'sides' | 'sampling' | 'compare' | 'compareMetric'>>): void;
  /** Prompts from the chosen split of the dataset (the first `count`). */
  promptsFromDataset(count: number): Promise<void>;
  generate(): Promise<void>;
  stopGenerating(): void;
  judge(verdict: ev.Verdict): void;
  undoJudge(): void;
  saveJudged(model: ModelRef, target: { datasetId: string } | { newName: string }): Promise<void>;
  rename(runId: string, name: string): Promise<void>;
  remove(runId: string): Promise<void>;
  dismissProblem(): void;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const DEFAULT_SAMPLING: ev.SamplingSettings = { temperature: 0.7, topK: 0, topP: 1, maxNewTokens: 48, seed: 1 };

/** The pairs of a result in the table's order, optionally only those the focused model gets wrong. */
export function sortedPairs(result: ev.EvaluateResult, focusId: string, sort: PairSort, wrongOnly: boolean): ev.EvaluateResult['pairs'] {
  let pairs = result.pairs.filter((p) => p.scores[focusId]);
  if (wrongOnly) pairs = pairs.filter((p) => !p.scores[focusId]!.correct);
  const margin = (p: (typeof pairs)[number]) => p.scores[focusId]!.margin;
  const refMargin = (p: (typeof pairs)[number]) => p.refChosen - p.refRejected;
  const by: Record<PairSort, (a: (typeof pairs)[number], b: (typeof pairs)[number]) => number> = {
    index: (a, b) => a.index - b.index,
    'margin-asc': (a, b) => margin(a) - margin(b),
    'margin-desc': (a, b) => margin(b) - margin(a),
    'ref-margin-asc': (a, b) => refMargin(a) - refMargin(b),
  };
  return [...pairs].sort(by[sort]);
}

let running: ev.RunningEvaluation | null = null;
let generation: AbortController | null = null;

export const useEvaluateStore = create<EvaluateState>()((set, get) => ({
  loaded: false,
  datasets: [],
  runs: [],
  withAdapter: {},
  imported: [],
  settings: { datasetId: null, split: 'test', beta: 0.1, maxLength: 512, adapterIds: [] },
  running: false,
  progress: null,
  result: null,
  focusId: null,
  sort: 'margin-asc',
  wrongOnly: false,
  problem: null,
  prompts: '',
  picked: [],
  sides: [{ adapterId: null, label: 'base' }, { adapterId: null, label: 'base' }],
  sampling: DEFAULT_SAMPLING,
  generating: false,
  rows: [],
  items: [],
  judgeIndex: 0,
  saved: null,
  compare: [null, null],
  compareMetric: 'loss',

  async init() {
    await get().refresh();
    set({ loaded: true });
  },

  async refresh() {
    try {
      const [datasets, runs] = await Promise.all([listDatasets(), listRuns()]);
      const withAdapter = Object.fromEntries(await Promise.all(runs.map(async (r) => [r.id, await hasAdapter(r.id)] as const)));
      set((s) => {
        const datasetId = s.settings.datasetId && datasets.some((d) => d.id === s.settings.datasetId) ? s.settings.datasetId : (datasets.find((d) => !d.labelsOf)?.id ?? null);
        const adapterIds = s.settings.adapterIds.filter((id) => withAdapter[id] || s.imported.some((a) => a.id === id));
        const usable = runs.filter((r) => withAdapter[r.id]);
        // The tuned side of the comparison defaults to the newest run with an adapter.
        const sides: [ev.Side, ev.Side] = s.sides[1].adapterId === null && usable[0] ? [s.sides[0], { adapterId: usable[0].id, label: usable[0].name }] : s.sides;
        const keep = (id: string | null) => (id && runs.some((r) => r.id === id) ? id : null);
        return { datasets, runs, withAdapter, settings: { ...s.settings, datasetId, adapterIds }, sides, compare: [keep(s.compare[0]) ?? runs[0]?.id ?? null, keep(s.compare[1]) ?? runs[1]?.id ?? null] };
      });
    } catch (e) {
      set({ problem: { title: 'Could not read the runs and datasets', message: message(e) } });
    }
  },

  setSettings(patch) {
    set((s) => ({ settings: { ...s.settings, ...patch } }));
  },

  toggleAdapter(id) {
    set((s) => {
      const ids = s.settings.adapterIds.includes(id) ? s.settings.adapterIds.filter((x) => x !== id) : [...s.settings.adapterIds, id];
      // β defaults to the first chosen run's own β.
      const run = s.runs.find((r) => r.id === ids[0]);
      const beta = s.settings.adapterIds.length === 0 && run?.config.beta !== undefined ? run.config.beta : s.settings.beta;
      return { settings: { ...s.settings, adapterIds: ids, beta } };
    });
  },

  async importAdapter(files) {
    try {
      const info = await ev.importAdapter(files);
      set((s) => ({ imported: [...s.imported, info], settings: { ...s.settings, adapterIds: [...s.settings.adapterIds, info.id] } }));
    } catch (e) {
      set({ problem: { title: 'Could not import the adapter', message: message(e) } });
    }
  },

  async run(model) {
    const s = get().settings;
    if (get().running) return;
    if (!s.datasetId) {
      set({ problem: { title: 'No dataset', message: 'import a dataset on the Data page first' } });
      return;
    }
    set({ running: true, progress: null, problem: null });
    running = ev.evaluate({ modelId: model.id, datasetId: s.datasetId, split: s.split, beta: s.beta, adapterIds: s.adapterIds, maxLength: s.maxLength }, (p) => set({ progress: p }));
    const r = await running.result;
    running = null;
    if (!r.ok) {
      set({ running: false, progress: null, ...(r.error.code === 'aborted' ? {} : { problem: { title: 'Evaluation failed', message: r.error.message } }) });
      return;
    }
    const focusId = r.value.models.at(-1)?.id ?? 'base';
    set({ running: false, progress: null, result: r.value, focusId });
  },

  cancel() {
    running?.cancel();
  },

  setView(patch) {
    set(patch);
  },

  async promptsFromDataset(count) {
    const s = get().settings;
    if (!s.datasetId) return;
    try {
      const picked = await ev.datasetPrompts(s.datasetId, s.split, count);
      set({ picked, prompts: picked.map((p) => ev.promptText(p)).join('\n---\n') });
    } catch (e) {
      set({ problem: { title: 'Could not read prompts', message: message(e) } });
    }
  },

  async generate() {
    const picked = get().picked;
    const prompts = splitPrompts(get().prompts).map((text) => picked.find((p) => ev.promptText(p).trim() === text) ?? text);
    if (prompts.length === 0) {
      set({ problem: { title: 'No prompts', message: 'type prompts (separated by a line with ---) or take them from the dataset' } });
      return;
    }
    generation?.abort();
    const controller = new AbortController();
    generation = controller;
    set({ generating: true, rows: [], items: [], judgeIndex: 0, saved: null, problem: null });
    try {
      await ev.generateSideBySide(prompts, get().sides, get().sampling, {
        signal: controller.signal,
        onEach: (row) => set((s) => ({ rows: [...s.rows, row] })),
      });
    } catch (e) {
      if ((e as Error).name !== 'AbortError') set({ problem: { title: 'Generation failed', message: message(e) } });
    } finally {
      if (generation === controller) generation = null;
      set((s) => ({ generating: false, items: ev.blindItems(s.rows) }));
    }
  },

  stopGenerating() {
    generation?.abort();
  },

  judge(verdict) {
    set((s) => {
      if (s.judgeIndex >= s.items.length) return {};
      const items = s.items.map((it, i) => (i === s.judgeIndex ? { ...it, verdict } : it));
      return { items, judgeIndex: s.judgeIndex + 1 };
    });
  },

  undoJudge() {
    set((s) => {
      if (s.judgeIndex === 0) return {};
      const i = s.judgeIndex - 1;
      return { items: s.items.map((it, k) => (k === i ? { ...it, verdict: undefined } : it)), judgeIndex: i };
    });
  },

  async saveJudged(model, target) {
    try {
      const saved = await ev.saveJudgedPairs(get().items, { model: model.name, sides: get().sides, sampling: get().sampling }, target);
      set({ saved });
      await get().refresh();
    } catch (e) {
      set({ problem: { title: 'Could not save the judged pairs', message: message(e) } });
    }
  },

  async rename(runId, name) {
    try {
      await ev.renameRun(runId, name);
      await get().refresh();
    } catch (e) {
      set({ problem: { title: 'Could not rename the run', message: message(e) } });
    }
  },

  async remove(runId) {
    try {
      await ev.deleteRun(runId);
      set((s) => ({ settings: { ...s.settings, adapterIds: s.settings.adapterIds.filter((x) => x !== runId) } }));
      await get().refresh();
    } catch (e) {
      set({ problem: { title: 'Could not delete the run', message: message(e) } });
    }
  },

  dismissProblem() {
    set({ problem: null });
  },
}));

/** Prompts typed in one box, separated by lines of three dashes. */
export function splitPrompts(text: string): string[] {
  return text.split(/^---$/m).map((p) => p.trim()).filter((p) => p.length > 0);
}

// A dataset imported elsewhere (the demo on first run, the Data page) shows up in the picker.
onDatasetsChanged(() => {
  if (useEvaluateStore.getState().loaded) void useEvaluateStore.getState().refresh();
});
