// The Label page: a queue of tasks from a dataset, shown blind (random sides), decided from the
// keyboard. Every decision is written at once (label + record in one transaction) before the next
// task shows; actions run one after another, so fast key presses are neither lost nor reordered.
import { create } from 'zustand';
import type { DatasetRow, LabelDecision } from '../db/index.js';
import type { AgreementReport } from '../services/label-agreement.js';
import { buildTask, editableText, outcomeRecord, shuffledSides, stepLabelGap, taskKey, type LabelTask } from '../services/label-tasks.js';
import { stepDpoGap } from '../engine/training/tokenize.js';
import {
  agreementReport,
  generateCandidates,
  generateStep,
  labelSources,
  loadQueue,
  loadRecord,
  readLabelSettings,
  recordLabel,
  undoLatest,
  writeLabelSettings,
} from '../services/label.js';
import { onDatasetsChanged } from '../services/data.js';

/** What a key or button asks for, in terms of what is on screen. */
export type LabelAction =
  | { type: 'left' }
  | { type: 'right' }
  | { type: 'tie' }
  | { type: 'bothBad' }
  | { type: 'skip' }
  | { type: 'thumb'; up: boolean }
  /** Best first, as shown positions. */
  | { type: 'rank'; order: number[] }
  | { type: 'steps'; firstWrong: number | null; correction?: string };

export interface CurrentTask {
  task: LabelTask;
  /** shown[position] = canonical candidate index (left first). */
  shown: number[];
  /** Canonical index -> edited text. */
  edits: Record<number, string>;
}

/** What a step label (marked on screen, or just saved) lacks for step_dpo: stepDpoGap's message. */
export interface StepNote {
  gap: string;
  /** The step marked as the first wrong one (0-based), null when every step was marked right. */
  firstWrong: number | null;
  /** true: the label was saved as it is; false: the marked step waits for a correction or Enter. */
  saved: boolean;
}

interface LabelState {
  sources: DatasetRow[];
  sourceId: string | null;
  annotator: string;
  guidelines: string;
  status: 'idle' | 'loading' | 'ready' | 'finished' | 'error';
  error: string | null;
  queue: number[];
  total: number;
  labelled: number;
  skipped: number;
  current: CurrentTask | null;
  rationale: string;
  /** A short note of the last action ("Saved: right preferred", "Undone"). */
  lastAction: string | null;
  agreement: AgreementReport | null;
  generating: boolean;
  /** Step mode: the first wrong step marked and not saved yet (it waits for its correction). */
  markedStep: number | null;
  /** Step mode: the correction for the first wrong step, typed or generated (editable). */
  correction: string;
  /** Step mode: the model's step the correction started from, when it was generated. */
  generatedCorrection: string | null;
  stepNote: StepNote | null;

  init(): Promise<void>;
  selectSource(id: string): Promise<void>;
  setAnnotator(name: string): Promise<void>;
  setGuidelines(text: string): void;
  setRationale(text: string): void;
  editCandidate(canonical: number, text: string | null): void;
  act(action: LabelAction): Promise<void>;
  /** Leaves the current task for later without saving anything. */
  next(): Promise<void>;
  undo(): Promise<void>;
  /** Replaces the current task's candidates with two samples from the current model. */
  generate(): Promise<void>;
  setCorrection(text: string): void;
  /**
   * Step mode: step `k` (0-based) is the first wrong one. Saved at once when a correction is
   * there (or when `k` was already marked); otherwise marked, with what step_dpo lacks shown.
   */
  markStep(k: number): Promise<void>;
  /** Step mode: saves the marked step with the correction as it is (none: saved without one). */
  saveStep(): Promise<void>;
  /** Step mode: fills the correction with the current model's continuation of the accepted steps. */
  generateStep(): Promise<void>;
  refreshAgreement(): Promise<void>;
}

/** A step label not yet begun: nothing marked, no correction. */
const NO_STEP_DRAFT = { markedStep: null, correction: '', generatedCorrection: null } as const;

let random: () => number = Math.random;
/** Tests: a seeded source for the blind sides. */
export function setLabelRandom(r: () => number): void {
  random = r;
}

/** One action at a time, in order. */
let chain: Promise<unknown> = Promise.resolve();
function serial<T>(run: () => Promise<T>): Promise<T> {
  const next = chain.then(run, run);
  chain = next.catch(() => {});
  return next;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Whether the Label page has been opened (only then does its dataset list need to follow). */
let pageOpened = false;

export const useLabelStore = create<LabelState>()((set, get) => {
  /** Records the annotator skipped (their latest label is a skip). */
  let skippedIds = new Set<number>();
  /**
   * Shows the first task of the queue (or says the queue is done), with `shown`'s sides when given
   * (undo) or when it is the task `sameAs` (a reload that finds the task on screen still first).
   */
  const showHead = async (shown?: number[], sameAs?: string) => {
    for (;;) {
      const id = get().queue[0];
      if (id === undefined) {
        set({ current: null, status: 'finished' });
        return;
      }
      const record = await loadRecord(id);
      if (!record) {
        // Deleted in the browser meanwhile: drop it from the queue.
        set({ queue: get().queue.slice(1) });
        continue;
      }
      const task = buildTask(record);
      const n = task.mode === 'steps' ? 0 : task.candidates.length;
      const keep = shown && shown.length === n && (sameAs === undefined || sameAs === task.key);
      set({ current: { task, shown: keep ? shown : shuffledSides(n, random), edits: {} }, rationale: '', status: 'ready', ...NO_STEP_DRAFT });
      return;
    }
  };

  const reload = async () => {
    const { sourceId, annotator } = get();
    if (!sourceId || !annotator.trim()) {
      set({ current: null, queue: [], status: 'idle' });
      return;
    }
    set({ status: 'loading', error: null, stepNote: null });
    const q = await loadQueue(sourceId, annotator.trim());
    skippedIds = new Set(q.skippedIds);
    set({ queue: q.queue, total: q.total, labelled: q.labelled, skipped: skippedIds.size });
    // The same task still first (a name typed, the page opened again): its sides do not swap under the person.
    const onScreen = get().current;
    await showHead(onScreen?.shown, onScreen?.task.key ?? '');
  };

  const decisionFor = (c: CurrentTask, a: LabelAction): LabelDecision => {
    switch (a.type) {
      case 'left':
        return { type: 'prefer', winner: c.shown[0]! };
      case 'right':
        return { type: 'prefer', winner: c.shown[1]! };
      case 'tie':
      case 'bothBad':
      case 'skip':
        return { type: a.type };
      case 'thumb':
        return { type: 'thumb', up: a.up };
      case 'rank': {
        const ranks = new Array<number>(c.shown.length);
        a.order.forEach((position, place) => (ranks[c.shown[position]!] = place + 1));
        return { type: 'rank', ranks };
      }
      case 'steps':
        return { type: 'steps', firstWrong: a.firstWrong };
    }
  };

  const fits = (c: CurrentTask, a: LabelAction): boolean => {
    const mode = c.task.mode;
    if (a.type === 'skip') return true;
    if (a.type === 'left' || a.type === 'right' || a.type === 'tie' || a.type === 'bothBad') return mode === 'pair';
    if (a.type === 'thumb') return mode === 'single';
    if (a.type === 'rank') return mode === 'rank' && a.order.length === c.shown.length;
    return mode === 'steps';
  };

  const DESCRIBE: Record<LabelAction['type'], string> = {
    left: 'left preferred',
    right: 'right preferred',
    tie: 'tie',
    bothBad: 'both bad',
    skip: 'skipped',
    thumb: 'rated',
    rank: 'ranked',
    steps: 'steps marked',
  };

  /** Saves a decision on the current task (call inside serial). */
  const save = async (action: LabelAction): Promise<void> => {
    const { current: c, sourceId, annotator } = get();
    if (!c || !sourceId || !annotator || !fits(c, action)) return;
    const decision = decisionFor(c, action);
    const now = Date.now();
    const rationale = get().rationale;
    let record: ReturnType<typeof outcomeRecord> = null;
    try {
      const generated = get().generatedCorrection;
      record = outcomeRecord(c.task, decision, {
        annotator,
        now,
        rationale,
        edits: c.edits,
        ...(action.type === 'steps' && action.correction ? { correction: action.correction, ...(generated !== null ? { generatedCorrection: generated } : {}) } : {}),
      });
      const edited = Object.keys(c.edits).map(Number);
      await recordLabel(
        {
          taskKey: c.task.key,
          sourceDatasetId: sourceId,
          sourceRecordId: c.task.sourceRecordId,
          annotator,
          createdAt: now,
          decision,
          ...(c.shown.length ? { shown: c.shown } : {}),
          ...(edited.length ? { edited } : {}),
          ...(rationale.trim() ? { rationale: rationale.trim() } : {}),
        },
        record,
      );
    } catch (e) {
      set({ error: `Not saved: ${message(e)}` });
      return;
    }
    const rest = get().queue.slice(1);
    const id = c.task.sourceRecordId;
    const skip = action.type === 'skip';
    if (skip) skippedIds.add(id);
    else skippedIds.delete(id);
    // A step label says at once what it lacks for step_dpo (the record is saved as it is).
    const gap = record?.kind === 'stepwise' ? stepDpoGap(record) : null;
    set({
      stepNote: gap ? { gap, saved: true, firstWrong: action.type === 'steps' ? action.firstWrong : null } : null,
      // A skipped task comes back after the fresh ones.
      queue: skip ? [...rest, id] : rest,
      labelled: get().labelled + (skip ? 0 : 1),
      skipped: skippedIds.size,
      lastAction: `Saved: ${DESCRIBE[action.type]}`,
      error: null,
    });
    await showHead();
  };

  return {
    sources: [],
    sourceId: null,
    annotator: '',
    guidelines: '',
    status: 'idle',
    error: null,
    queue: [],
    total: 0,
    labelled: 0,
    skipped: 0,
    current: null,
    rationale: '',
    lastAction: null,
    agreement: null,
    generating: false,
    ...NO_STEP_DRAFT,
    stepNote: null,

    init: () =>
      serial(async () => {
        pageOpened = true;
        const settings = readLabelSettings();
        const sources = await labelSources();
        // Label a dataset of data, not the labels made from one, unless that is all there is.
        const wanted = get().sourceId ?? settings.sourceId;
        const keep = wanted && sources.some((d) => d.id === wanted) ? wanted : null;
        const first = keep ?? (sources.find((d) => !d.labelsOf) ?? sources[0])?.id ?? null;
        set({ sources, sourceId: first, annotator: settings.annotator, guidelines: settings.guidelines });
        try {
          await reload();
        } catch (e) {
          set({ status: 'error', error: message(e) });
        }
        void get().refreshAgreement();
      }),

    selectSource: (id) =>
      serial(async () => {
        set({ sourceId: id, lastAction: null });
        writeLabelSettings({ sourceId: id });
        await reload().catch((e) => set({ status: 'error', error: message(e) }));
      }),

    setAnnotator: (name) =>
      serial(async () => {
        writeLabelSettings({ annotator: name.trim() });
        set({ annotator: name.trim(), lastAction: null });
        await reload().catch((e) => set({ status: 'error', error: message(e) }));
      }),

    setGuidelines(text) {
      writeLabelSettings({ guidelines: text });
      set({ guidelines: text });
    },

    setRationale(text) {
      set({ rationale: text });
    },

    editCandidate(canonical, text) {
      const c = get().current;
      if (!c) return;
      const edits = { ...c.edits };
      if (text === null || text === editableText(c.task.candidates[canonical]!)) delete edits[canonical];
      else edits[canonical] = text;
      set({ current: { ...c, edits } });
    },

    act: (action) => serial(() => save(action)),

    next: () =>
      serial(async () => {
        const q = get().queue;
        if (q.length < 2) return;
        set({ queue: [...q.slice(1), q[0]!], lastAction: 'Moved on (nothing saved)', stepNote: null });
        await showHead();
      }),

    undo: () =>
      serial(async () => {
        const { sourceId, annotator } = get();
        if (!sourceId || !annotator) return;
        const undone = await undoLatest(sourceId, annotator);
        set({ stepNote: null });
        if (!undone) {
          set({ lastAction: 'Nothing to undo' });
          return;
        }
        const id = undone.sourceRecordId;
        const wasSkip = undone.decision.type === 'skip';
        // What the annotator said before the undone label decides whether the task counts as skipped.
        const before = (await loadQueue(sourceId, annotator)).skippedIds.includes(id);
        if (before) skippedIds.add(id);
        else skippedIds.delete(id);
        set({
          queue: [id, ...get().queue.filter((q) => q !== id)],
          labelled: get().labelled - (wasSkip ? 0 : 1),
          skipped: skippedIds.size,
          lastAction: 'Undone',
          error: null,
        });
        await showHead(undone.shown);
        if (undone.rationale) set({ rationale: undone.rationale });
      }),

    generate: () =>
      serial(async () => {
        const c = get().current;
        if (!c || c.task.mode === 'steps') return;
        set({ generating: true, error: null });
        try {
          const g = await generateCandidates({ prompt: c.task.prompt, ...(c.task.system !== undefined ? { system: c.task.system } : {}) }, 2);
          const key = (t: unknown) => JSON.stringify(t);
          const candidates = [...g.candidates].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
          const task: LabelTask = { ...c.task, mode: 'pair', candidates, source: g.source, key: taskKey('pair', c.task.prompt, c.task.system, candidates) };
          set({ current: { task, shown: shuffledSides(2, random), edits: {} }, lastAction: 'Generated two candidates with the current model' });
        } catch (e) {
          set({ error: message(e) });
        } finally {
          set({ generating: false });
        }
      }),

    setCorrection(text) {
      const { current: c, markedStep } = get();
      const gap = c && markedStep !== null ? stepLabelGap(c.task, markedStep, text) : null;
      set({ correction: text, stepNote: gap ? { gap, saved: false, firstWrong: markedStep } : null });
    },

    markStep: (k) =>
      serial(async () => {
        const { current: c, correction, markedStep } = get();
        if (!c || c.task.mode !== 'steps' || k < 0 || k >= c.task.steps.length) return;
        if (correction.trim() || markedStep === k) return save({ type: 'steps', firstWrong: k, correction });
        const gap = stepLabelGap(c.task, k, correction);
        set({ markedStep: k, stepNote: gap ? { gap, saved: false, firstWrong: k } : null });
      }),

    saveStep: () =>
      serial(async () => {
        const { markedStep, correction } = get();
        if (markedStep === null) return;
        return save({ type: 'steps', firstWrong: markedStep, correction });
      }),

    generateStep: () =>
      serial(async () => {
        const c = get().current;
        const k = get().markedStep;
        if (!c || c.task.mode !== 'steps') return;
        if (k === null) {
          set({ error: 'Mark the first wrong step first: the model writes the step that should replace it' });
          return;
        }
        set({ generating: true, error: null });
        try {
          const seed = Math.floor(random() * 2 ** 31);
          const g = await generateStep(
            { prompt: c.task.prompt, ...(c.task.system !== undefined ? { system: c.task.system } : {}), steps: c.task.steps.slice(0, k) },
            { temperature: 0.7, topK: 0, topP: 0.95, maxNewTokens: 128, seed },
          );
          // The person may have moved on meanwhile: the step belongs to the task it was asked for.
          if (get().current?.task.key !== c.task.key || get().markedStep !== k) return;
          set({ correction: g.text, generatedCorrection: g.text, stepNote: null, lastAction: `Generated a correct step ${k + 1} with ${g.model}: edit it if needed, then save` });
        } catch (e) {
          set({ error: message(e) });
        } finally {
          set({ generating: false });
        }
      }),

    async refreshAgreement() {
      set({ agreement: await agreementReport() });
    },
  };
});

// A dataset imported elsewhere (the demo on first run, the Data page) shows up in the picker.
onDatasetsChanged(() => {
  if (pageOpened) void useLabelStore.getState().init();
});
