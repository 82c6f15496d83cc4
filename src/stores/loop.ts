// The Loop page: the form of a new loop (prompt set, rounds, generation, judge, pairs, training,
// reference), the loops stored in the workspace with their rounds, and the live progress of the
// one running (generation with its ETA, judging, training steps). After a reload, loops and
// generation jobs a gone tab left running are marked interrupted and continue where they stopped.
import { create } from 'zustand';
import toneLexicon from '../../scripts/demo-model/tone-lexicon.json';
import type { DatasetRow, LoopRow } from '../db/index.js';
import { JudgeSpecSchema, LoopSettingsSchema, PairsSpecSchema, RuleSpecSchema, type JudgeSpec, type LoopSettings, type PairRule, type RuleSpec } from '../engine/loop/config.js';
import { wordsRuleFromLexicon, type Lexicon } from '../engine/loop/rules.js';
import { listDatasets, onDatasetsChanged } from '../services/data.js';
import * as loops from '../services/loop.js';

export type JudgeKind = JudgeSpec['type'];
export type RuleKind = RuleSpec['type'] | 'tone';

export interface RuleForm {
  kind: RuleKind;
  /** regex pattern, JavaScript source, or words "good1, good2 | bad1, bad2". */
  text: string;
  min: string;
  max: string;
  timeoutMs: number;
}

export interface LoopForm {
  name: string;
  promptDatasetId: string | null;
  /** null: the prompt set's test split. */
  heldOutDatasetId: string | null;
  rounds: number;
  n: number;
  temperature: number;
  maxNewTokens: number;
  seed: number;
  judge: JudgeKind;
  rule: RuleForm;
  modelMode: 'pointwise' | 'pairwise';
  rubric: string;
  rewardRunId: string | null;
  beta: number;
  pairs: PairRule;
  method: string;
  learningRate: number;
  maxSteps: number;
  batchSize: number;
  reference: 'previous' | 'base';
}

export const DEFAULT_RULE: RuleForm = { kind: 'tone', text: '', min: '', max: '', timeoutMs: 1000 };

export const DEFAULT_LOOP_FORM: LoopForm = {
  name: 'loop',
  promptDatasetId: null,
  heldOutDatasetId: null,
  rounds: 2,
  n: 4,
  temperature: 1,
  maxNewTokens: 24,
  seed: 0,
  judge: 'rule',
  rule: DEFAULT_RULE,
  modelMode: 'pointwise',
  rubric: '',
  rewardRunId: null,
  beta: 0.1,
  pairs: 'best-worst',
  method: 'dpo',
  learningRate: 0.01,
  maxSteps: 10,
  batchSize: 8,
  reference: 'previous',
};

/** The demo's tone lexicon as a words rule (scripts/demo-model/tone-lexicon.json). */
export function toneRule(): RuleSpec {
  return wordsRuleFromLexicon(toneLexicon as unknown as Lexicon);
}

/** A rule from the form; throws with the field's problem. */
export function ruleOf(f: RuleForm): RuleSpec {
  switch (f.kind) {
    case 'tone':
      return toneRule();
    case 'regex':
      return RuleSpecSchema.parse({ type: 'regex', pattern: f.text });
    case 'words': {
      const [good = '', bad = ''] = f.text.split('|');
      const list = (s: string) => s.split(',').map((w) => w.trim()).filter(Boolean);
      return RuleSpecSchema.parse({ type: 'words', good: list(good), bad: list(bad) });
    }
    case 'length':
      return RuleSpecSchema.parse({ type: 'length', ...(f.min ? { min: Number(f.min) } : {}), ...(f.max ? { max: Number(f.max) } : {}) });
    case 'javascript':
      return RuleSpecSchema.parse({ type: 'javascript', source: f.text, timeoutMs: f.timeoutMs });
  }
}

/** The loop's settings from the form (validated by the loop schema and, at creation, the training schema). */
export function settingsOf(f: LoopForm): LoopSettings {
  const judge: JudgeSpec =
    f.judge === 'person'
      ? JudgeSpecSchema.parse({ type: 'person' })
      : f.judge === 'rule'
        ? JudgeSpecSchema.parse({ type: 'rule', rule: ruleOf(f.rule) })
        : f.judge === 'model'
          ? JudgeSpecSchema.parse({ type: 'model', mode: f.modelMode, rubric: f.rubric })
          : JudgeSpecSchema.parse({ type: 'reward', adapter: f.rewardRunId ?? '', beta: f.beta });
  return LoopSettingsSchema.parse({
    rounds: f.rounds,
    generation: { n: f.n, temperature: f.temperature, maxNewTokens: f.maxNewTokens, seed: f.seed },
    judge,
    pairs: PairsSpecSchema.parse({ rule: f.pairs }),
    training: { method: f.method, learning_rate: f.learningRate, max_steps: f.maxSteps, per_device_train_batch_size: f.batchSize, max_length: 64, lora: { r: 8, lora_alpha: 16, target_modules: 'all-linear' } },
    reference: f.reference,
  });
}

export interface LoopModelRef {
  id: string;
  name: string;
}

interface LoopState {
  loaded: boolean;
  datasets: DatasetRow[];
  loops: LoopRow[];
  selectedId: string | null;
  form: LoopForm;
  /** The last progress of each running loop. */
  progress: Record<string, loops.LoopProgress>;
  problem: { title: string; message: string } | null;

  init(): Promise<void>;
  refresh(): Promise<void>;
  setForm(patch: Partial<LoopForm>): void;
  setRule(patch: Partial<RuleForm>): void;
  /** Creates a loop from the form and starts it; resolves when it stops (done, waiting, paused, failed). */
  start(model: LoopModelRef): Promise<string | null>;
  /** Carries a stored loop on (after a pause, a reload, or the person's judgements). */
  resume(id: string): Promise<void>;
  pause(id: string): Promise<void>;
  /** For a round waiting for the person: judges the sets not labelled with the form's rule, then continues. */
  judgeRestWithRule(id: string): Promise<void>;
  /** For a rule judge's loop that waits (its rule stopped): the form's rule replaces it, then the loop continues. */
  retryWithRule(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  select(id: string | null): void;
  dismissProblem(): void;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

let unsubscribe: (() => void) | null = null;

export const useLoopStore = create<LoopState>()((set, get) => {
  const onRow = (row: LoopRow) => set((s) => ({ loops: s.loops.some((l) => l.id === row.id) ? s.loops.map((l) => (l.id === row.id ? row : l)) : [row, ...s.loops] }));
  const onProgress = (p: loops.LoopProgress) => set((s) => ({ progress: { ...s.progress, [p.loopId]: p } }));
  const carry = async (id: string) => {
    try {
      const row = await loops.runLoop(id, { onRow, onProgress });
      onRow(row);
      if (row.status === 'failed') set({ problem: { title: 'The loop stopped', message: row.message ?? 'it failed' } });
    } catch (e) {
      set({ problem: { title: 'The loop could not run', message: message(e) } });
    } finally {
      set((s) => {
        const { [id]: _gone, ...rest } = s.progress;
        return { progress: rest };
      });
      await get().refresh();
    }
  };

  return {
    loaded: false,
    datasets: [],
    loops: [],
    selectedId: null,
    form: DEFAULT_LOOP_FORM,
    progress: {},
    problem: null,

    async init() {
      await loops.recoverInterruptedLoops().catch(() => []);
      await get().refresh();
      unsubscribe ??= onDatasetsChanged(() => void get().refresh());
      set({ loaded: true });
    },

    async refresh() {
      const [datasets, all] = await Promise.all([listDatasets(), loops.listLoops()]);
      const form = get().form;
      const promptDatasetId = form.promptDatasetId && datasets.some((d) => d.id === form.promptDatasetId) ? form.promptDatasetId : (datasets[0]?.id ?? null);
      set({ datasets, loops: all, form: { ...form, promptDatasetId }, selectedId: get().selectedId ?? all[0]?.id ?? null });
    },

    setForm(patch) {
      set({ form: { ...get().form, ...patch } });
    },

    setRule(patch) {
      set({ form: { ...get().form, rule: { ...get().form.rule, ...patch } } });
    },

    async start(model) {
      const f = get().form;
      if (!f.promptDatasetId) {
        set({ problem: { title: 'No prompt set', message: 'import a prompt set on the Data page first (a list of prompts, TRL prompt-only data, or any dataset)' } });
        return null;
      }
      let row: LoopRow;
      try {
        row = await loops.createLoop({
          name: f.name.trim() || 'loop',
          modelId: model.id,
          modelName: model.name,
          promptDatasetId: f.promptDatasetId,
          heldOutDatasetId: f.heldOutDatasetId,
          settings: settingsOf(f),
        });
      } catch (e) {
        set({ problem: { title: 'The loop cannot start', message: message(e) } });
        return null;
      }
      set({ selectedId: row.id });
      onRow(row);
      await carry(row.id);
      return row.id;
    },

    async resume(id) {
      set({ selectedId: id });
      await carry(id);
    },

    async pause(id) {
      await loops.pauseLoop(id);
    },

    async judgeRestWithRule(id) {
      try {
        await loops.judgeRestWithRule(id, ruleOf(get().form.rule));
      } catch (e) {
        set({ problem: { title: 'The rule could not judge', message: message(e) } });
        await get().refresh();
        return;
      }
      await carry(id);
    },

    async retryWithRule(id) {
      try {
        onRow(await loops.setLoopRule(id, ruleOf(get().form.rule)));
      } catch (e) {
        set({ problem: { title: 'The rule cannot be used', message: message(e) } });
        return;
      }
      await carry(id);
    },

    async remove(id) {
      try {
        await loops.deleteLoop(id);
      } catch (e) {
        set({ problem: { title: 'Cannot delete the loop', message: message(e) } });
      }
      await get().refresh();
    },

    select(id) {
      set({ selectedId: id });
    },

    dismissProblem() {
      set({ problem: null });
    },
  };
});
