// Labelling tasks, framework-free: what a stored record asks of an annotator (compare two, rate
// one, rank several, find the first wrong step), the content key that lets labels of the same task
// meet across datasets and workspaces, and the record a decision makes.
import type { Message, PrefRecord, RecordSource, Turns } from '../data/records.js';
import type { LabelDecision, StoredRecord } from '../db/index.js';
import { stepDpoGap } from '../engine/training/tokenize.js';

export type TaskMode = 'pair' | 'single' | 'rank' | 'steps';

export interface LabelTask {
  key: string;
  mode: TaskMode;
  sourceRecordId: number;
  prompt: Turns;
  system?: string;
  /** Candidates in canonical order (sorted by content): decisions name these indexes. */
  candidates: Turns[];
  /** mode 'steps': the reasoning chain shown, in order. */
  steps: string[];
  source: RecordSource;
  split: PrefRecord['split'];
  tags: string[];
}

/** Candidates a record offers, in its own order. */
function offered(r: PrefRecord): { mode: TaskMode; candidates: Turns[]; steps: string[] } {
  switch (r.kind) {
    case 'pair':
      return { mode: 'pair', candidates: [r.chosen, r.rejected], steps: [] };
    case 'unpaired':
      return { mode: 'single', candidates: [r.completion], steps: [] };
    case 'ranking':
    case 'candidates':
      return { mode: r.responses.length === 2 ? 'pair' : 'rank', candidates: r.responses, steps: [] };
    case 'prompt':
      // Nothing to compare yet: the page generates two candidates from the loaded model (G).
      return { mode: 'pair', candidates: [], steps: [] };
    case 'stepwise': {
      const next = r.rejectedStep ?? r.chosenStep;
      const steps = [...r.steps, ...(next !== null ? [next] : []), ...(r.laterSteps ?? []).map((s) => s.step)];
      return { mode: 'steps', candidates: [], steps };
    }
  }
}

export function buildTask(record: StoredRecord & { id: number }): LabelTask {
  const { mode, candidates, steps } = offered(record);
  const canonical = [...candidates].sort((a, b) => compare(JSON.stringify(a), JSON.stringify(b)));
  return {
    key: taskKey(mode, record.prompt, record.system, mode === 'steps' ? steps : canonical),
    mode,
    sourceRecordId: record.id,
    prompt: record.prompt,
    ...(record.system !== undefined ? { system: record.system } : {}),
    candidates: canonical,
    steps,
    source: record.source,
    split: record.split,
    tags: record.tags,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A content key: same prompt, system and candidates (in any order) give the same key. */
export function taskKey(mode: TaskMode, prompt: Turns, system: string | undefined, items: unknown[]): string {
  return `${mode}:${hash64(JSON.stringify([prompt, system ?? null, items]))}`;
}

/** cyrb53-style 64-bit string hash as 16 hex digits (not cryptographic: a content key). */
export function hash64(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, '0') + (h1 >>> 0).toString(16).padStart(8, '0');
}

/** A random blind order of the candidates: shown[side] is a canonical index. */
export function shuffledSides(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** The text a person edits for a candidate: text as is, a conversation's last message. */
export function editableText(t: Turns): string {
  return typeof t === 'string' ? t : (t.at(-1)?.content ?? '');
}

/** A candidate with its edited text put back (a conversation's last message is replaced). */
export function withEditedText(t: Turns, text: string): Turns {
  if (typeof t === 'string') return text;
  const last = t.at(-1);
  return last ? [...t.slice(0, -1), { ...last, content: text } as Message] : [{ role: 'assistant', content: text }];
}

export interface OutcomeContext {
  annotator: string;
  now: number;
  rationale?: string;
  /** Canonical candidate index -> edited text. */
  edits?: Record<number, string>;
  /** mode 'steps': a corrected step for the first wrong one. */
  correction?: string;
  /** mode 'steps': the step the model generated, when the correction started from it (tagged). */
  generatedCorrection?: string;
}

/** The record a decision makes, or null (a skip). */
export function outcomeRecord(task: LabelTask, decision: LabelDecision, ctx: OutcomeContext): PrefRecord | null {
  if (decision.type === 'skip') return null;
  const edits = ctx.edits ?? {};
  const cand = (i: number): Turns => {
    const t = task.candidates[i];
    if (t === undefined) throw new Error(`no candidate ${i} in this task`);
    return edits[i] !== undefined ? withEditedText(t, edits[i]) : t;
  };
  const edited = Object.keys(edits).length > 0;
  const base = {
    prompt: task.prompt,
    ...(task.system !== undefined ? { system: task.system } : {}),
    source: task.source,
    annotator: ctx.annotator,
    annotatedAt: ctx.now,
    createdAt: ctx.now,
    split: task.split,
    tags: [...new Set([...task.tags, 'labelled', ...(edited ? ['edited'] : [])])],
    ...(ctx.rationale?.trim() ? { rationale: ctx.rationale.trim() } : {}),
  };
  switch (decision.type) {
    case 'prefer': {
      if (task.mode !== 'pair') throw new Error(`a preference needs a pair task, not ${task.mode}`);
      return { kind: 'pair', ...base, chosen: cand(decision.winner), rejected: cand(1 - decision.winner) };
    }
    case 'tie':
    case 'bothBad':
      if (task.mode !== 'pair') throw new Error(`${decision.type} needs a pair task, not ${task.mode}`);
      return { kind: 'pair', ...base, chosen: cand(0), rejected: cand(1), ...(decision.type === 'tie' ? { tie: true } : { bothBad: true }) };
    case 'thumb':
      if (task.mode !== 'single') throw new Error(`thumbs need a single response, not ${task.mode}`);
      return { kind: 'unpaired', ...base, completion: cand(0), label: decision.up };
    case 'rank':
      if (decision.ranks.length !== task.candidates.length) throw new Error('a rank is needed for every response');
      return { kind: 'ranking', ...base, responses: task.candidates.map((_, i) => cand(i)), ranks: decision.ranks };
    case 'steps': {
      if (task.mode !== 'steps' || task.steps.length === 0) throw new Error('marking a step needs a step-wise task');
      const k = decision.firstWrong;
      if (k === null) return { kind: 'stepwise', ...base, steps: task.steps.slice(0, -1), chosenStep: task.steps.at(-1)!, rejectedStep: null };
      if (k < 0 || k >= task.steps.length) throw new Error(`no step ${k + 1}`);
      const fix = ctx.correction?.trim();
      const generated = ctx.generatedCorrection?.trim();
      // A generated correction is tagged as such (and as edited when the person changed it).
      const tags = fix && generated ? [...new Set([...base.tags, 'generated-step', ...(fix !== generated ? ['edited'] : [])])] : base.tags;
      return { kind: 'stepwise', ...base, tags, steps: task.steps.slice(0, k), chosenStep: fix ? fix : null, rejectedStep: task.steps[k]! };
    }
  }
}

/**
 * What a step label lacks for step_dpo (training/tokenize.ts stepDpoGap on the record the label
 * makes), or null: every step marked right, or a first wrong step without a correction.
 */
export function stepLabelGap(task: LabelTask, firstWrong: number | null, correction?: string): string | null {
  const r = outcomeRecord(task, { type: 'steps', firstWrong }, { annotator: '', now: 0, ...(correction !== undefined ? { correction } : {}) });
  return r?.kind === 'stepwise' ? stepDpoGap(r) : null;
}

/** The category a decision falls in, for agreement ("same answer"). */
export function decisionCategory(d: LabelDecision): string | null {
  switch (d.type) {
    case 'prefer':
      return `prefer ${d.winner}`;
    case 'tie':
      return 'tie';
    case 'bothBad':
      return 'both bad';
    case 'thumb':
      return d.up ? 'up' : 'down';
    case 'rank':
      return `rank ${d.ranks.join(',')}`;
    case 'steps':
      return d.firstWrong === null ? 'all right' : `wrong from ${d.firstWrong}`;
    case 'skip':
      return null;
  }
}

/** Ranks from an order (best first): order[i] is a canonical index; tied groups not supported. */
export function ranksFromOrder(order: number[]): number[] {
  const ranks = new Array<number>(order.length);
  order.forEach((c, position) => (ranks[c] = position + 1));
  return ranks;
}
