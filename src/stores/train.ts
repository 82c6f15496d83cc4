// The Train page: the settings form, the plan of the run it would make (data per split, steps,
// memory and whether it fits), the run list, and the live run: its metrics as they arrive, pause,
// resume, stop. After a tab reload, runs the gone tab left running are listed as interrupted and
// resume from their last checkpoint, their curve continuing from the checkpoint's metrics.
import { create } from 'zustand';
import type { StepMetrics } from '../engine/training/trainer.js';
import { FINISHED_STATUSES, RESUMABLE_STATUSES, type DatasetRow, type RunRow } from '../db/index.js';
import { DEMO_DATASET, listDatasets, onDatasetsChanged } from '../services/data.js';
import * as train from '../services/train.js';
import type { WorkerFailure } from '../worker/protocol.js';
import { ConfigImportError, importConfig } from '../engine/methods/import-config.js';
import { METHODS } from '../engine/methods/registry.js';
import type { SettingPath } from '../engine/methods/settings.js';
import { parseTrainingConfig } from '../engine/training/config.js';
import { DEFAULT_FORM, formConfig, formValues, type TrainForm } from './train-form.js';

export interface TrainModelRef {
  id: string;
  name: string;
}

interface TrainState {
  loaded: boolean;
  datasets: DatasetRow[];
  runs: RunRow[];
  form: TrainForm;
  plan: train.RunPlan | null;
  planning: boolean;
  /** The plan is for this form (a changed form needs a new plan). */
  planKey: string | null;
  problem: { title: string; message: string } | null;
  /** The run the Worker is stepping from this page. */
  activeRunId: string | null;
  selectedRunId: string | null;
  /** Metrics per run: the stored ones up to the last checkpoint, then each step as it arrives. */
  metrics: Record<string, StepMetrics[]>;
  /** The Worker's last progress line per run (reference log-probs, resume). */
  progress: Record<string, string>;
  /** The run whose adapter the playground and labeling workspace sample with. */
  samplingRunId: string | null;

  init(): Promise<void>;
  refresh(): Promise<void>;
  setForm(patch: Partial<TrainForm>): void;
  /** Sets one setting's text (null: back to its default). */
  setField(path: SettingPath, text: string | null): void;
  /** What the last settings file gave: where it came from and the fields it did not use. */
  settingsNote: string | null;
  /** Fills the form from a settings JSON: a saved run's, training_config.json, or a TRL config. */
  loadSettings(text: string, fileName: string): void;
  /** Fills the form with a run's saved settings (method, data, every value). */
  applyRunSettings(runId: string): void;
  /** Downloads the form's settings as training_config.json (TRL/PEFT names, every default filled in). */
  downloadSettings(): Promise<void>;
  planRun(model: TrainModelRef): Promise<train.RunPlan | null>;
  /** Plans (if needed) and starts a run with the form's settings; resolves with its id when it ends. */
  start(model: TrainModelRef): Promise<string | null>;
  resume(runId: string): Promise<void>;
  pause(runId: string): Promise<void>;
  stop(runId: string): Promise<void>;
  remove(runId: string): Promise<void>;
  select(runId: string | null): void;
  /** Fills the form for a new run that starts from a finished run's adapter. */
  continueFrom(runId: string): void;
  setSamplingRun(runId: string | null): void;
  /** Downloads the run's adapter (last checkpoint) as a PEFT zip. */
  downloadAdapter(runId: string): Promise<void>;
  dismissProblem(): void;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function failureText(f: WorkerFailure): string {
  return f.message;
}

export function planKeyOf(form: TrainForm, modelId: string): string {
  let config: unknown;
  try {
    config = formConfig(form);
  } catch (e) {
    config = message(e);
  }
  return JSON.stringify([modelId, form.datasetId, form.initFromRunId, form.method, config]);
}

/** Steps per second from the recent step times, and the time left. */
export function etaSeconds(metrics: readonly StepMetrics[], totalSteps: number): number | null {
  const last = metrics.at(-1);
  if (!last || totalSteps <= 0) return null;
  const recent = metrics.slice(-10).map((m) => m.step_time_ms ?? 0).filter((t) => t > 0);
  if (recent.length === 0) return null;
  const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
  return ((totalSteps - last.step) * mean) / 1000;
}

/** The plan's gradient_checkpointing in words ("gradient checkpointing: on (automatic: ...)"), as the
 *  CLI says it; a run's configuration as it ran (gradient_checkpointing as its estimate decided). */
export { checkpointingNote, configAsRun } from '../engine/training/memory.js';

export const isResumable = (r: RunRow) => RESUMABLE_STATUSES.includes(r.status);
/** The bundled demo dataset, for which the page offers DEMO_RECIPE. */
export const isDemoDataset = (d: Pick<DatasetRow, 'name'>) => d.name === DEMO_DATASET.name;
export const isFinished = (r: RunRow) => FINISHED_STATUSES.includes(r.status);

export const useTrainStore = create<TrainState>()((set, get) => {
  const upsertRun = (row: RunRow) => set((s) => ({ runs: s.runs.some((r) => r.id === row.id) ? s.runs.map((r) => (r.id === row.id ? row : r)) : [row, ...s.runs] }));

  async function reloadRun(id: string): Promise<void> {
    const row = await train.getRun(id);
    if (row) upsertRun(row);
  }

  /** Steps a stored run in the Worker and follows it until it ends. */
  async function drive(run: RunRow): Promise<void> {
    const id = run.id;
    set((s) => ({ activeRunId: id, selectedRunId: id, metrics: { ...s.metrics, [id]: [...run.metrics] }, problem: null }));
    const result = await train.trainRun(id, (e) => {
      if (e.type === 'metrics') {
        set((s) => {
          const prev = (s.metrics[id] ?? []).filter((m) => m.step < e.metrics.step);
          return { metrics: { ...s.metrics, [id]: [...prev, e.metrics] }, runs: s.runs.map((r) => (r.id === id ? { ...r, step: e.metrics.step, totalSteps: e.totalSteps } : r)) };
        });
      } else if (e.type === 'status') {
        set((s) => ({ runs: s.runs.map((r) => (r.id === id ? { ...r, status: e.status, totalSteps: e.totalSteps, error: e.error } : r)) }));
      } else if (e.type === 'progress') {
        set((s) => ({ progress: { ...s.progress, [id]: e.message } }));
      } else if (e.type === 'checkpoint') {
        void reloadRun(id).then(() => {
          // The row's metrics are the checkpoint's; the live ones run ahead of them.
          set((s) => ({ runs: s.runs.map((r) => (r.id === id ? { ...r, step: Math.max(r.step, s.metrics[id]?.at(-1)?.step ?? 0) } : r)) }));
        });
      }
    });
    set({ activeRunId: null });
    await reloadRun(id);
    if (!result.ok && result.error.code !== 'aborted') set({ problem: { title: `Run "${run.name}" stopped with an error`, message: failureText(result.error) } });
    else if (result.ok && result.value.error) set({ problem: { title: `Run "${run.name}" was interrupted`, message: result.value.error } });
  }

  return {
    loaded: false,
    datasets: [],
    runs: [],
    form: DEFAULT_FORM,
    plan: null,
    planning: false,
    planKey: null,
    problem: null,
    activeRunId: null,
    selectedRunId: null,
    metrics: {},
    progress: {},
    samplingRunId: train.samplingAdapterId(),

    async init() {
      try {
        await train.recoverInterrupted();
      } catch (e) {
        set({ problem: { title: 'Could not read the runs', message: message(e) } });
      }
      await get().refresh();
      set({ loaded: true });
    },

    async refresh() {
      const [datasets, runs] = await Promise.all([listDatasets(), train.listRuns()]);
      const form = get().form;
      const datasetId = form.datasetId && datasets.some((d) => d.id === form.datasetId) ? form.datasetId : (datasets.find((d) => !d.labelsOf)?.id ?? datasets[0]?.id ?? null);
      set((s) => ({
        datasets,
        runs,
        form: { ...s.form, datasetId },
        selectedRunId: s.selectedRunId && runs.some((r) => r.id === s.selectedRunId) ? s.selectedRunId : (runs[0]?.id ?? null),
        metrics: { ...Object.fromEntries(runs.map((r) => [r.id, r.metrics])), ...(s.activeRunId ? { [s.activeRunId]: s.metrics[s.activeRunId] ?? [] } : {}) },
      }));
    },

    setForm(patch) {
      set((s) => ({ form: { ...s.form, ...patch } }));
    },

    setField(path, text) {
      set((s) => {
        const values = { ...s.form.values };
        if (text === null) delete values[path];
        else values[path] = text;
        return { form: { ...s.form, values } };
      });
    },

    settingsNote: null,

    loadSettings(text, fileName) {
      try {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (e) {
          throw new ConfigImportError(`${fileName} is not JSON: ${message(e)}`);
        }
        const r = importConfig(json);
        // The schema checks every value now, so a bad one is named before a run is planned.
        const config = parseTrainingConfig(r.input);
        const ignored = r.ignored.length ? `; not used: ${r.ignored.map((i) => `${i.field} (${i.reason})`).join(', ')}` : '';
        set((s) => ({
          form: { ...s.form, method: config.method, values: formValues(r.input as Parameters<typeof formValues>[0]) },
          settingsNote: `Settings of ${fileName} (${r.from}, method ${METHODS[config.method].label})${ignored}.`,
          problem: null,
        }));
      } catch (e) {
        set({ settingsNote: null, problem: { title: `Could not use the settings of ${fileName}`, message: message(e) } });
      }
    },

    applyRunSettings(runId) {
      const run = get().runs.find((r) => r.id === runId);
      if (!run) return;
      set((s) => ({
        form: { ...s.form, method: run.config.method, values: formValues(run.config), datasetId: s.datasets.some((d) => d.id === run.datasetId) ? run.datasetId : s.form.datasetId, initFromRunId: null },
        settingsNote: `Settings of run "${run.name}".`,
      }));
    },

    async downloadSettings() {
      try {
        await train.downloadSettings(parseTrainingConfig(formConfig(get().form)));
      } catch (e) {
        set({ problem: { title: 'These settings cannot be saved', message: message(e) } });
      }
    },

    async planRun(model) {
      const form = get().form;
      if (!form.datasetId) {
        set({ problem: { title: 'No dataset', message: 'import a dataset on the Data page first' } });
        return null;
      }
      const key = planKeyOf(form, model.id);
      let config;
      try {
        config = formConfig(form);
      } catch (e) {
        set({ plan: null, planKey: null, problem: { title: 'These settings cannot train', message: message(e) } });
        return null;
      }
      set({ planning: true, problem: null });
      const r = await train.planRun({ modelId: model.id, datasetId: form.datasetId, config });
      if (!r.ok) {
        set({ planning: false, plan: null, planKey: null, problem: { title: 'These settings cannot train', message: failureText(r.error) } });
        return null;
      }
      set({ planning: false, plan: r.value, planKey: key });
      return r.value;
    },

    async start(model) {
      if (get().activeRunId) return null;
      const form = get().form;
      const plan = get().planKey === planKeyOf(form, model.id) && get().plan ? get().plan : await get().planRun(model);
      if (!plan) return null;
      if (plan.refusal) {
        set({ problem: { title: 'This run cannot start', message: plan.refusal } });
        return null;
      }
      const dataset = get().datasets.find((d) => d.id === form.datasetId)!;
      const config = train.runConfig(formConfig(form));
      const info = METHODS[form.method];
      const run = await train.createRun({
        name: form.name.trim() || `${info.label} on ${dataset.name}`,
        config,
        datasetId: dataset.id,
        datasetName: dataset.name,
        modelId: model.id,
        modelName: model.name,
        totalSteps: plan.totalSteps,
        examples: plan.examples,
        memory: plan.memory,
        ...(form.initFromRunId ? { initFromRunId: form.initFromRunId } : {}),
      });
      upsertRun(run);
      set({ form: { ...form, name: '', initFromRunId: null } });
      await drive(run);
      return run.id;
    },

    async resume(runId) {
      if (get().activeRunId) return;
      const run = await train.getRun(runId);
      if (!run || !isResumable(run)) return;
      await drive(run);
    },

    async pause(runId) {
      await train.pauseRun(runId);
    },

    async stop(runId) {
      const run = get().runs.find((r) => r.id === runId);
      if (get().activeRunId === runId) await train.stopRun(runId);
      else if (run && isResumable(run)) {
        // A paused or interrupted run ends where its checkpoint is.
        await train.endRun(runId);
        await reloadRun(runId);
      }
    },

    async remove(runId) {
      try {
        await train.deleteRun(runId);
        if (get().samplingRunId === runId) get().setSamplingRun(null);
        await get().refresh();
      } catch (e) {
        set({ problem: { title: 'Could not delete the run', message: message(e) } });
      }
    },

    select(runId) {
      set({ selectedRunId: runId });
    },

    continueFrom(runId) {
      const run = get().runs.find((r) => r.id === runId);
      if (!run) return;
      const c = run.config;
      set((s) => ({
        form: {
          ...s.form,
          initFromRunId: runId,
          datasetId: s.form.datasetId,
          // The adapter's shape carries over: its LoRA settings are the run's.
          values: { ...s.form.values, ...Object.fromEntries(Object.entries(formValues({ lora: c.lora })).filter(([k]) => k.startsWith('lora.'))) },
          name: `${run.name} · round 2`.replace(/ · round (\d+) · round 2$/, (_, n: string) => ` · round ${Number(n) + 1}`),
        },
      }));
    },

    setSamplingRun(runId) {
      train.setSamplingAdapterId(runId);
      set({ samplingRunId: runId });
    },

    async downloadAdapter(runId) {
      try {
        await train.downloadRunAdapter(runId);
      } catch (e) {
        set({ problem: { title: 'Could not export the adapter', message: message(e) } });
      }
    },

    dismissProblem() {
      set({ problem: null });
    },
  };
});

// A dataset imported elsewhere (the demo on first run, the Data page) shows up in the picker.
onDatasetsChanged(() => {
  if (useTrainStore.getState().loaded) void useTrainStore.getState().refresh();
});
