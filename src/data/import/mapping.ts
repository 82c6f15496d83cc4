// An import mapping: which source format, which record kind, and for every record field the source
// column it comes from. Detection proposes one; the UI shows it field by field and may change any
// column or option before the import runs. Plain data, so it crosses a Worker boundary.
import type { RecordKind, Turns } from '../records.js';
import {
  asBool,
  asList,
  asNumber,
  asObject,
  asOptionalText,
  asSplit,
  asTags,
  asText,
  asTurns,
  FieldError,
  getPath,
  isMissing,
  splitSystem,
} from './values.js';

export type FormatId =
  | 'prefstudio'
  | 'trl-preference'
  | 'trl-implicit-preference'
  | 'trl-unpaired'
  | 'trl-stepwise'
  | 'trl-prompt-completion'
  | 'trl-prompt-only'
  | 'trl-language-modeling'
  | 'hh-rlhf'
  | 'ultrafeedback'
  | 'llamafactory-alpaca'
  | 'llamafactory-sharegpt'
  | 'llamafactory-kto'
  | 'openai-preference'
  | 'argilla'
  | 'label-studio';

export type FieldType = 'turns' | 'text' | 'messages' | 'message' | 'boolean' | 'number' | 'list' | 'object' | 'tags' | 'split';

export interface FieldSpec {
  /** The field's name in the mapping (usually the record field it fills). */
  name: string;
  label: string;
  type: FieldType;
  required: boolean;
}

export interface OptionSpec {
  name: string;
  label: string;
  type: 'boolean' | 'text' | 'number';
  default: boolean | string | number;
}

export type OptionValue = boolean | string | number;

export interface ImportMapping {
  format: FormatId;
  kind: RecordKind;
  /** Field name -> source column (a key, or a dotted path like "input.messages"); null: unmapped. */
  columns: Record<string, string | null>;
  options: Record<string, OptionValue>;
}

/** What a format makes of one row: the record without the provenance the pipeline adds. */
export interface Draft {
  kind: RecordKind;
  [field: string]: unknown;
}

export interface ConvertContext {
  /** Cells are text (CSV): lists, objects and booleans may come JSON-encoded. */
  textCells: boolean;
}

export interface FormatSpec {
  id: FormatId;
  label: string;
  /** The kind of records it makes unless the mapping says otherwise. */
  kind: RecordKind;
  fields: FieldSpec[];
  options?: OptionSpec[];
  /** 0..1: how well one sample row fits this format. */
  match(row: Record<string, unknown>): number;
  /** Columns for this format's fields, guessed from a sample row. */
  guessColumns(row: Record<string, unknown>): Record<string, string | null>;
  /** The kind for these sample rows, when a format can make more than one (Argilla). */
  guessKind?(rows: Record<string, unknown>[], columns: Record<string, string | null>): RecordKind;
  convert(row: Record<string, unknown>, view: RowView): Draft;
}

/** Fields every format may map: provenance carried by the source file. */
export const COMMON_FIELDS: FieldSpec[] = [
  { name: 'system', label: 'System prompt', type: 'text', required: false },
  { name: 'split', label: 'Split (train/test)', type: 'split', required: false },
  { name: 'tags', label: 'Tags', type: 'tags', required: false },
  { name: 'rationale', label: 'Rationale', type: 'text', required: false },
  { name: 'annotator', label: 'Annotator', type: 'text', required: false },
];

const COMMON_GUESSES: Record<string, string[]> = {
  system: ['system', 'system_prompt'],
  split: ['split'],
  tags: ['tags'],
  rationale: ['rationale', 'reason', 'explanation'],
  annotator: ['annotator', 'labeler', 'annotator_id'],
};

export function guessCommon(row: Record<string, unknown>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [field, names] of Object.entries(COMMON_GUESSES)) out[field] = firstKey(row, names);
  return out;
}

export function firstKey(row: Record<string, unknown>, names: string[]): string | null {
  for (const n of names) if (!isMissing(getPath(row, n))) return n;
  return null;
}

/** Reads a row's fields through a mapping; errors name the source column. */
export class RowView {
  constructor(
    readonly row: Record<string, unknown>,
    readonly mapping: ImportMapping,
    readonly ctx: ConvertContext,
  ) {}

  column(name: string): string | null {
    return this.mapping.columns[name] ?? null;
  }

  /** Where errors point: the source column, or the field name when unmapped. */
  where(name: string): string {
    return this.column(name) ?? name;
  }

  raw(name: string): unknown {
    const c = this.column(name);
    return c ? getPath(this.row, c) : undefined;
  }

  has(name: string): boolean {
    return !isMissing(this.raw(name));
  }

  need(name: string): unknown {
    const c = this.column(name);
    if (!c) throw new FieldError(name, 'no column is mapped to this field');
    const v = getPath(this.row, c);
    if (isMissing(v)) throw new FieldError(c, 'missing');
    return v;
  }

  option<T extends OptionValue>(name: string, fallback: T): T {
    const v = this.mapping.options[name];
    return (v === undefined ? fallback : v) as T;
  }

  turns(name: string): Turns {
    return asTurns(this.need(name), this.where(name), this.ctx.textCells);
  }

  text(name: string): string {
    return asText(this.need(name), this.where(name));
  }

  optionalText(name: string): string | undefined {
    return asOptionalText(this.raw(name), this.where(name));
  }

  bool(name: string): boolean {
    return asBool(this.need(name), this.where(name));
  }

  number(name: string): number {
    return asNumber(this.need(name), this.where(name));
  }

  optionalNumber(name: string): number | undefined {
    return this.has(name) && this.raw(name) !== '' ? this.number(name) : undefined;
  }

  list(name: string): unknown[] {
    return asList(this.need(name), this.where(name));
  }

  object(name: string): Record<string, unknown> {
    return asObject(this.need(name), this.where(name));
  }

  /** The common provenance fields (system, split, tags, rationale, annotator). */
  common(): Partial<Draft> {
    const out: Partial<Draft> = {};
    const system = this.optionalText('system');
    if (system !== undefined) out.system = system;
    const split = asSplit(this.raw('split'), this.where('split'));
    if (split) out.split = split;
    if (this.has('tags')) out.tags = asTags(this.raw('tags'), this.where('tags'));
    const rationale = this.optionalText('rationale');
    if (rationale !== undefined) out.rationale = rationale;
    const annotator = this.raw('annotator');
    if (!isMissing(annotator) && annotator !== '') out.annotator = String(annotator);
    return out;
  }
}

/** A conversational prompt loses its leading system messages to `system` (a mapped system column
 *  wins over them); text prompts pass through. */
export function withSystem(prompt: Turns, common: Partial<Draft>): { prompt: Turns; system?: string } {
  const mapped = typeof common.system === 'string' ? common.system : undefined;
  if (typeof prompt === 'string') return { prompt, system: mapped };
  const { system, messages } = splitSystem(prompt);
  return { prompt: messages, system: mapped ?? system };
}

/** Drops undefined values so stored records have no `key: undefined` (equality, IndexedDB). */
export function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
