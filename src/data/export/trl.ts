// Records to TRL dataset rows (https://huggingface.co/docs/trl/dataset_formats).
//
// - preference: {prompt, chosen, rejected}; ranking records become every pair of responses with
//   different ranks; ties are left out (DPO needs a preferred response).
// - unpaired (KTO): as TRL's unpair_preference_dataset does, each pair gives (prompt, chosen,
//   true) and (prompt, rejected, false) (one after the other; TRL puts a batch's chosen rows first);
//   a both-bad pair gives two false rows; a ranking gives its best responses true and its worst
//   false.
// - stepwise supervision: {prompt, completions, labels}, exactly as imported.
//
// Style: 'standard' writes text and turns a one-question conversation into text; 'conversational'
// writes messages, turning text into a user message and an assistant message, with the system
// prompt as the first message. Records that a target cannot hold are skipped with the reason.
import type { Message, PrefRecord, Turns } from '../records.js';

export type ExportShape = 'preference' | 'unpaired' | 'stepwise' | 'records';
export type ExportStyle = 'standard' | 'conversational';

export interface ExportOptions {
  /** 'preference' and 'stepwise' rows come out of their own kinds; 'records': whole records
   *  (lossless, PrefStudio's own JSONL). */
  shape: ExportShape | 'trl';
  /** Defaults to the style of the first record exported. */
  style?: ExportStyle;
}

export interface SkippedRecord {
  /** Position of the record among those given to the exporter. */
  index: number;
  reason: string;
}

export type TrlRow = Record<string, unknown>;

const MAX_SKIPPED = 1000;

export class TrlExporter {
  style: ExportStyle | undefined;
  /** Rows written, and records skipped (the first 1000 listed, all counted). */
  rows = 0;
  records = 0;
  skipped: SkippedRecord[] = [];
  skippedCount = 0;
  private index = 0;

  constructor(readonly options: ExportOptions) {
    this.style = options.style;
  }

  /** The rows for one record (none when it is skipped). */
  convert(record: PrefRecord): TrlRow[] {
    const index = this.index++;
    try {
      const rows = this.rowsOf(record);
      this.rows += rows.length;
      if (rows.length) this.records++;
      return rows;
    } catch (e) {
      if (!(e instanceof SkipError)) throw e;
      this.skippedCount++;
      if (this.skipped.length < MAX_SKIPPED) this.skipped.push({ index, reason: e.message });
      return [];
    }
  }

  private rowsOf(r: PrefRecord): TrlRow[] {
    const shape = this.options.shape;
    if (shape === 'records') {
      // Records read from the store carry their row id and dataset: not part of the record.
      const { id: _id, datasetId: _d, ...record } = r as PrefRecord & { id?: unknown; datasetId?: unknown };
      return [record];
    }
    if (shape === 'unpaired') return this.unpaired(r);
    if (r.kind === 'stepwise') {
      if (shape === 'preference') skip('a stepwise record is not a preference pair: export it as stepwise');
      return this.stepwise(r);
    }
    if (shape === 'stepwise') skip(`a ${r.kind} record has no steps`);
    if (r.kind === 'unpaired') {
      if (shape === 'preference') skip('an unpaired record has no rejected response: export as unpaired (KTO)');
      return [this.row(r, { prompt: r.prompt, completion: r.completion }, { label: r.label })];
    }
    if (r.kind === 'pair') {
      if (r.tie) skip('a tie has no preferred response');
      return [this.row(r, { prompt: r.prompt, chosen: r.chosen, rejected: r.rejected })];
    }
    const rows: TrlRow[] = [];
    r.ranks.forEach((ri, i) =>
      r.ranks.forEach((rj, j) => {
        if (ri < rj) rows.push(this.row(r, { prompt: r.prompt, chosen: r.responses[i]!, rejected: r.responses[j]! }));
      }),
    );
    if (rows.length === 0) skip('every response has the same rank');
    return rows;
  }

  private unpaired(r: PrefRecord): TrlRow[] {
    switch (r.kind) {
      case 'unpaired':
        return [this.row(r, { prompt: r.prompt, completion: r.completion }, { label: r.label })];
      case 'pair':
        if (r.tie) skip('a tie says nothing about either response alone');
        return [
          this.row(r, { prompt: r.prompt, completion: r.chosen }, { label: !r.bothBad }),
          this.row(r, { prompt: r.prompt, completion: r.rejected }, { label: false }),
        ];
      case 'ranking': {
        const best = Math.min(...r.ranks);
        const worst = Math.max(...r.ranks);
        if (best === worst) skip('every response has the same rank');
        return r.responses.flatMap((resp, i) =>
          r.ranks[i] === best || r.ranks[i] === worst ? [this.row(r, { prompt: r.prompt, completion: resp }, { label: r.ranks[i] === best })] : [],
        );
      }
      case 'stepwise':
        return skip('a stepwise record has no completion to label');
    }
  }

  private stepwise(r: Extract<PrefRecord, { kind: 'stepwise' }>): TrlRow[] {
    if (typeof r.prompt !== 'string' || r.system !== undefined) skip('TRL stepwise supervision is text only');
    const later = r.laterSteps ?? [];
    const rows: TrlRow[] = [];
    if (r.chosenStep !== null) {
      const tail = r.rejectedStep === null ? later : [];
      rows.push({ prompt: r.prompt, completions: [...r.steps, r.chosenStep, ...tail.map((s) => s.step)], labels: [...r.steps.map(() => true), true, ...tail.map((s) => s.good)] });
    }
    if (r.rejectedStep !== null) {
      rows.push({ prompt: r.prompt, completions: [...r.steps, r.rejectedStep, ...later.map((s) => s.step)], labels: [...r.steps.map(() => true), false, ...later.map((s) => s.good)] });
    }
    return rows;
  }

  /** A row with its turn fields in the export style. */
  private row(r: PrefRecord, turns: Record<string, Turns>, extra: TrlRow = {}): TrlRow {
    const conversational = typeof r.prompt !== 'string';
    this.style ??= conversational ? 'conversational' : 'standard';
    const out: TrlRow = {};
    if (this.style === 'conversational') {
      for (const [k, t] of Object.entries(turns)) out[k] = k === 'prompt' ? promptMessages(t, r.system) : responseMessages(t);
    } else {
      if (r.system !== undefined) skip('a system prompt needs the conversational format');
      for (const [k, t] of Object.entries(turns)) out[k] = asStandard(t, k);
    }
    return { ...out, ...extra };
  }
}

class SkipError extends Error {}

function skip(reason: string): never {
  throw new SkipError(reason);
}

function promptMessages(t: Turns, system: string | undefined): Message[] {
  const messages = typeof t === 'string' ? [{ role: 'user' as const, content: t }] : t;
  return system !== undefined ? [{ role: 'system', content: system }, ...messages] : messages;
}

function responseMessages(t: Turns): Message[] {
  return typeof t === 'string' ? [{ role: 'assistant', content: t }] : t;
}

/** Text as is; a conversation only when it is one user question or one assistant answer. */
function asStandard(t: Turns, field: string): string {
  if (typeof t === 'string') return t;
  const want = field === 'prompt' ? 'user' : 'assistant';
  if (t.length === 1 && t[0]!.role === want) return t[0]!.content;
  return skip(`a multi-turn ${field} needs the conversational format`);
}
