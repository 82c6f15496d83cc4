// Records to TRL dataset rows (https://huggingface.co/docs/trl/dataset_formats).
//
// - preference: {prompt, chosen, rejected}; ranking records become every pair of responses with
//   different ranks; ties and both-bad pairs are left out (DPO needs a preferred response).
// - unpaired (KTO): as TRL's unpair_preference_dataset does, each pair gives (prompt, chosen,
//   true) and (prompt, rejected, false) (one after the other; TRL puts a batch's chosen rows first);
//   a both-bad pair gives two false rows; a ranking gives its best responses true and its worst
//   false.
// - stepwise supervision: {prompt, completions, labels}, exactly as imported.
// - prompt-only: {prompt} of every record (a prompt set for generation: the on-policy loop).
//
// Prompts (awaiting generation) and candidate sets (awaiting judgement) hold no preference: every
// shape but prompt-only and records skips them with the step that is missing.
//
// A pair labelled both bad, a tie, and a ranking whose responses share one rank say which response
// is worse but not which is better: they are never preference rows (DPO would learn a preference
// the label denies). The unpaired (KTO) export keeps a both-bad pair as two undesirable rows.
//
// Style: 'conversational' writes messages, turning text into a user message and an assistant
// message, with the system prompt as the first message. 'standard' writes text; this is the one
// place a conversation becomes text (convert, the TRL hand-off and the studio's downloads all come
// here), and it keeps every turn:
// - a one-question conversation (one user message, each response one assistant message) becomes
//   the question and the answers, as they are;
// - any other conversation, and every record imported from HH-RLHF transcripts, becomes a
//   transcript in the Human/Assistant convention of Anthropic's HH-RLHF data, as TRL's text-format
//   HH data has it (examples/datasets/hh-rlhf-helpful-base.py; trl/data_utils.py
//   maybe_extract_prompt): each turn is "\n\nHuman: <text>" or "\n\nAssistant: <text>" (no space
//   after the colon when the text is empty); the prompt is the transcript up to the reply, ending
//   with the reply's "\n\nAssistant:" marker, each response the text after it, so prompt + chosen
//   is the whole chosen transcript (for HH-RLHF data, the original text byte for byte); system and
//   tool messages inside a conversation have no marker there and skip the record;
// - a system prompt goes first, followed by a blank line ("<system>\n\n<prompt>"; before the first
//   "\n\nHuman:" of a transcript, as Anthropic's text prompts put it).
// Records that a target cannot hold are skipped with the reason.
import type { Message, PrefRecord, Role, Turns } from '../records.js';

export type ExportShape = 'preference' | 'unpaired' | 'stepwise' | 'records' | 'prompt';
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
    if (shape === 'prompt') return [this.row(r, { prompt: r.prompt })];
    if (r.kind === 'prompt') skip(NO_RESPONSES);
    if (r.kind === 'candidates') skip(UNJUDGED);
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
      if (r.bothBad) skip(BOTH_BAD);
      return [this.row(r, { prompt: r.prompt, chosen: r.chosen, rejected: r.rejected })];
    }
    const rows: TrlRow[] = [];
    r.ranks.forEach((ri, i) =>
      r.ranks.forEach((rj, j) => {
        if (ri < rj) rows.push(this.row(r, { prompt: r.prompt, chosen: r.responses[i]!, rejected: r.responses[j]! }));
      }),
    );
    if (rows.length === 0) skip(SAME_RANK);
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
        if (best === worst) skip(SAME_RANK);
        return r.responses.flatMap((resp, i) =>
          r.ranks[i] === best || r.ranks[i] === worst ? [this.row(r, { prompt: r.prompt, completion: resp }, { label: r.ranks[i] === best })] : [],
        );
      }
      case 'stepwise':
        return skip('a stepwise record has no completion to label');
      case 'prompt':
        return skip(NO_RESPONSES);
      case 'candidates':
        return skip(UNJUDGED);
    }
  }

  private stepwise(r: Extract<PrefRecord, { kind: 'stepwise' }>): TrlRow[] {
    if (typeof r.prompt !== 'string') skip('TRL stepwise supervision is text only');
    const prompt = withSystem(r.prompt, r.system);
    const later = r.laterSteps ?? [];
    const rows: TrlRow[] = [];
    if (r.chosenStep !== null) {
      const tail = r.rejectedStep === null ? later : [];
      rows.push({ prompt, completions: [...r.steps, r.chosenStep, ...tail.map((s) => s.step)], labels: [...r.steps.map(() => true), true, ...tail.map((s) => s.good)] });
    }
    if (r.rejectedStep !== null) {
      rows.push({ prompt, completions: [...r.steps, r.rejectedStep, ...later.map((s) => s.step)], labels: [...r.steps.map(() => true), false, ...later.map((s) => s.good)] });
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
      const form: TextForm = typeof r.prompt === 'string' ? { transcript: false } : textForm(r);
      for (const [k, t] of Object.entries(turns)) {
        out[k] = k === 'prompt' ? withSystem(promptText(t, form), r.system) : responseText(t, form);
      }
    }
    return { ...out, ...extra };
  }
}

const NO_RESPONSES = 'a prompt has no responses: generate candidates from it and judge them (Loop page, prefstudio generate and judge), or export as prompt-only';
const UNJUDGED = 'candidates awaiting judgement state no preference: judge them first (Label or Loop page, prefstudio judge)';
const BOTH_BAD = 'both responses are bad: no preference; export as unpaired (KTO) to keep it';
const SAME_RANK = 'every response has the same rank: no preference';

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

/** The turns of a record that answer its prompt. */
function responsesOf(r: PrefRecord): Turns[] {
  switch (r.kind) {
    case 'pair':
      return [r.chosen, r.rejected];
    case 'unpaired':
      return [r.completion];
    case 'ranking':
    case 'candidates':
      return r.responses;
    case 'stepwise':
    case 'prompt':
      return [];
  }
}

/** How a conversational record becomes text: its one question and answers, or a transcript. */
type TextForm = { transcript: false } | { transcript: true; reply: boolean };

/**
 * A transcript always for HH-RLHF data (it was one), and whenever a record is more than one
 * question and its answers. `reply`: every response starts with the assistant's turn, so the
 * prompt ends with that turn's "\n\nAssistant:" marker (as TRL's prompts do) and the responses
 * hold the text after it; else the prompt is the transcript before the responses. Decided per
 * record, so every row of a record has the same prompt.
 */
function textForm(r: PrefRecord): TextForm {
  const responses = responsesOf(r);
  const one = (t: Turns, role: Role) => typeof t !== 'string' && t.length === 1 && t[0]!.role === role;
  const hh = r.source.type === 'import' && r.source.format === 'hh-rlhf';
  if (!hh && one(r.prompt, 'user') && responses.every((t) => one(t, 'assistant'))) return { transcript: false };
  return { transcript: true, reply: responses.every((t) => typeof t !== 'string' && t[0]?.role === 'assistant') };
}

const MARKERS: Partial<Record<Role, string>> = { user: 'Human', assistant: 'Assistant' };
/** The marker of the assistant's turn: what a transcript prompt ends with. */
const ASSISTANT = '\n\nAssistant:';

/** "\n\nHuman: hi\n\nAssistant: hello": the inverse of parseHhTranscript (src/data/import/prompt.ts). */
function transcriptText(messages: Message[]): string {
  let text = '';
  for (const m of messages) {
    const who = MARKERS[m.role];
    if (!who) skip(`a ${m.role} message inside a conversation has no place in a Human/Assistant transcript: export it as conversational`);
    text += `\n\n${who}:${m.content ? ` ${m.content}` : ''}`;
  }
  return text;
}

/** A prompt as text: as is, the one question, or the transcript (up to the assistant's marker). */
function promptText(t: Turns, form: TextForm): string {
  if (typeof t === 'string') return t;
  if (!form.transcript) return t[0]!.content;
  return transcriptText(t) + (form.reply ? ASSISTANT : '');
}

/** A response as text: as is, the one answer, or its transcript (after the assistant's marker). */
function responseText(t: Turns, form: TextForm): string {
  if (typeof t === 'string') return t;
  if (!form.transcript) return t[0]!.content;
  const text = transcriptText(t);
  return form.reply ? text.slice(ASSISTANT.length) : text;
}

/** The system prompt first, then a blank line (a transcript starts with one), then the prompt. */
function withSystem(prompt: string, system: string | undefined): string {
  if (system === undefined) return prompt;
  return prompt.startsWith('\n\n') ? system + prompt : `${system}\n\n${prompt}`;
}
