// The Label page: a queue of tasks from a dataset, shown blind (random sides), decided from the
// keyboard. Every decision is written at once (label + record in one transaction) before the next
// task shows; actions run one after another, so fast key presses are neither lost nor reordered.
import { create } from 'zustand';
import type { DatasetRow, LabelDecision } from '../db/index.js';
import type { AgreementReport } from '../services/label-agreement.js';
import { buildTask, editableText, outcomeRecord, shuffledSides, taskKey, type LabelTask } from '../services/label-tasks.js';
import {
  agreementReport,
  generateCandidates,
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
  refreshAgreement(): Promise<void>;
}

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
  /** Shows the first task of the queue (or says the queue is done). */
  const showHead = async (shown?: number[]) => {
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
      set({ current: { task, shown: shown && shown.length === n ? shown : shuffledSides(n, random), edits: {} }, rationale: '', status: 'ready' });
      return;
    }
  };

  const reload = async () => {
    const { sourceId, annotator } = get();
    if (!sourceId || !annotator.trim()) {
      set({ current: null, queue: [], status: 'idle' });
      return;
    }
    set({ status: 'loading', error: null });
    const q = await loadQueue(sourceId, annotator.trim());
    skippedIds = new Set(q.skippedIds);
    set({ queue: q.queue, total: q.total, labelled: q.labelled, skipped: skippedIds.size });
    await showHead();
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

    act: (action) =>
      serial(async () => {
        const { current: c, sourceId, annotator } = get();
        if (!c || !sourceId || !annotator || !fits(c, action)) return;
        const decision = decisionFor(c, action);
        const now = Date.now();
        const rationale = get().rationale;
        try {
          const record = outcomeRecord(c.task, decision, {
            annotator,
            now,
            rationale,
            edits: c.edits,
            ...(action.type === 'steps' && action.correction ? { correction: action.correction } : {}),
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
        set({
          // A skipped task comes back after the fresh ones.
          queue: skip ? [...rest, id] : rest,
          labelled: get().labelled + (skip ? 0 : 1),
          skipped: skippedIds.size,
          lastAction: `Saved: ${DESCRIBE[action.type]}`,
          error: null,
        });
        await showHead();
      }),

    next: () =>
      serial(async () => {
        const q = get().queue;
        if (q.length < 2) return;
        set({ queue: [...q.slice(1), q[0]!], lastAction: 'Moved on (nothing saved)' });
        await showHead();
      }),

    undo: () =>
      serial(async () => {
        const { sourceId, annotator } = get();
        if (!sourceId || !annotator) return;
        const undone = await undoLatest(sourceId, annotator);
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

    async refreshAgreement() {
      set({ agreement: await agreementReport() });
    },
  };
});

// A dataset imported elsewhere (the demo on first run, the Data page) shows up in the picker.
onDatasetsChanged(() => {
  if (pageOpened) void useLabelStore.getState().init();
});
