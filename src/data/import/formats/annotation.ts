// Exports of annotation tools.
//
// Argilla: a prompt field, response fields (response1, response2, ...) and a ranking or label
// question. Rows come flattened (Argilla 2 `records.to_list(flatten=True)` / Hub export:
// "<question>.responses", ".responses.users", ".responses.status"), nested (Argilla 2
// `to_list()`: {fields: {...}, responses: {<question>: [{value, user_id, status}]}}) or as
// Argilla 1 FeedbackDataset Hub columns (<question>: [{user_id, value, status}]). A ranking value
// is [{value: "response1", rank: 1}, ...] or the field names best first; a label value names the
// better field. The first submitted response counts.
//
// Label Studio: the JSON export of a Pairwise task, {data: {prompt, answer1, answer2},
// annotations: [{result: [{type: "pairwise", value: {selected: "left"|"right"}, to_name}],
// completed_by, created_at, was_cancelled}]}; the first annotation not cancelled counts; a
// TextArea result becomes the rationale.
import type { RecordKind, Turns } from '../../records.js';
import { isPlainObject } from '../../read/rows.js';
import { compact, guessCommon, COMMON_FIELDS, type Draft, type FieldSpec, type FormatSpec, type RowView } from '../mapping.js';
import { describe, FieldError, getPath, isMissing } from '../values.js';

const RESPONSE_NAME = /^(response|answer|generation|completion|output|text)[-_ ]?\d+$/i;
const PROMPT_NAMES = ['prompt', 'instruction', 'question', 'input', 'query', 'text'];
const MAX_RESPONSES = 8;

function responseFields(): FieldSpec[] {
  return Array.from({ length: MAX_RESPONSES }, (_, i) => ({ name: `response${i + 1}`, label: `Response ${i + 1}`, type: 'turns' as const, required: i < 2 }));
}

/** Argilla rows keep fields either at the top or under "fields". */
function fieldKeys(row: Record<string, unknown>): { prefix: string; keys: string[] } {
  if (isPlainObject(row.fields)) return { prefix: 'fields.', keys: Object.keys(row.fields) };
  return { prefix: '', keys: Object.keys(row) };
}

/** The question column: flattened "<q>.responses", nested "responses.<q>", or Argilla 1 "<q>". */
function questionColumn(row: Record<string, unknown>): string | null {
  for (const k of Object.keys(row)) if (k.endsWith('.responses') && Array.isArray(row[k])) return k;
  if (isPlainObject(row.responses)) {
    const q = Object.keys(row.responses).find((k) => Array.isArray((row.responses as Record<string, unknown>)[k]));
    if (q) return `responses.${q}`;
  }
  for (const [k, v] of Object.entries(row)) {
    if (Array.isArray(v) && v.length > 0 && v.every((x) => isPlainObject(x) && 'value' in x && ('user_id' in x || 'status' in x))) return k;
  }
  return null;
}

function responseColumns(row: Record<string, unknown>): string[] {
  const { prefix, keys } = fieldKeys(row);
  return keys.filter((k) => RESPONSE_NAME.test(k)).slice(0, MAX_RESPONSES).map((k) => prefix + k);
}

interface Answer {
  value: unknown;
  user?: string;
}

/** The first submitted answer to the question, whatever the export's shape. */
function firstSubmitted(view: RowView): Answer {
  const where = view.where('question');
  const col = view.column('question');
  const answers = view.need('question');
  if (!Array.isArray(answers)) throw new FieldError(where, `expected a list of responses, got ${describe(answers)}`);
  // Flattened Argilla 2: values, with users and status in sibling columns.
  const users = col ? getPath(view.row, `${col}.users`) : undefined;
  const status = col ? getPath(view.row, `${col}.status`) : undefined;
  for (let i = 0; i < answers.length; i++) {
    const a = answers[i];
    if (isPlainObject(a) && 'value' in a && ('user_id' in a || 'status' in a)) {
      if (a.status !== undefined && a.status !== 'submitted') continue;
      return { value: a.value, ...(a.user_id !== undefined ? { user: String(a.user_id) } : {}) };
    }
    const s = Array.isArray(status) ? status[i] : undefined;
    if (s !== undefined && s !== null && s !== 'submitted') continue;
    const u = Array.isArray(users) ? users[i] : undefined;
    return { value: a, ...(u !== undefined && u !== null ? { user: String(u) } : {}) };
  }
  throw new FieldError(where, 'no submitted response');
}

/** Ranks by field name from a ranking value ([{value, rank}] or names best first) or a label. */
function ranksOf(value: unknown, where: string): Map<string, number> | { label: string } {
  if (typeof value === 'string') return { label: value };
  if (!Array.isArray(value)) throw new FieldError(where, `expected a ranking or a label, got ${describe(value)}`);
  const ranks = new Map<string, number>();
  value.forEach((v, i) => {
    if (typeof v === 'string') ranks.set(v, i + 1);
    else if (isPlainObject(v) && typeof v.value === 'string' && typeof v.rank === 'number') ranks.set(v.value, v.rank);
    else throw new FieldError(`${where}.${i}`, `expected {value, rank}, got ${describe(v)}`);
  });
  return ranks;
}

const lastSegment = (path: string) => path.slice(path.lastIndexOf('.') + 1);

export const argilla: FormatSpec = {
  id: 'argilla',
  label: 'Argilla (ranking or label question)',
  kind: 'pair',
  fields: [
    { name: 'prompt', label: 'Prompt field', type: 'turns', required: true },
    ...responseFields(),
    { name: 'question', label: 'Preference question (responses)', type: 'list', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    return questionColumn(row) && responseColumns(row).length >= 2 ? 0.9 : 0;
  },
  guessColumns(row) {
    const { prefix, keys } = fieldKeys(row);
    const responses = responseColumns(row);
    const prompt = PROMPT_NAMES.find((n) => keys.includes(n) && !responses.includes(prefix + n));
    const out: Record<string, string | null> = { prompt: prompt ? prefix + prompt : null, question: questionColumn(row), ...guessCommon(row) };
    responses.forEach((c, i) => (out[`response${i + 1}`] = c));
    return out;
  },
  guessKind(_rows, columns) {
    return Object.keys(columns).filter((k) => /^response\d+$/.test(k) && columns[k]).length > 2 ? 'ranking' : 'pair';
  },
  convert(_row, view) {
    const common = view.common();
    const prompt = view.turns('prompt');
    const names: string[] = [];
    const texts: Turns[] = [];
    for (let i = 1; i <= MAX_RESPONSES; i++) {
      const col = view.column(`response${i}`);
      if (!col) continue;
      if (!view.has(`response${i}`)) continue; // optional fields may be empty on some records
      names.push(lastSegment(col));
      texts.push(view.turns(`response${i}`));
    }
    if (texts.length < 2) throw new FieldError(view.where('response2'), 'needs at least two responses');
    const answer = firstSubmitted(view);
    const where = view.where('question');
    const parsed = ranksOf(answer.value, where);
    const annotator = common.annotator ?? answer.user;
    let ranks: number[];
    if ('label' in parsed) {
      const best = names.indexOf(parsed.label);
      const tie = /^(tie|equal|same|both)$/i.test(parsed.label);
      if (best === -1 && !tie) throw new FieldError(where, `the label "${parsed.label}" names none of the responses ${names.join(', ')}`);
      ranks = names.map((_, i) => (tie || i === best ? 1 : 2));
    } else {
      ranks = names.map((n) => {
        const r = parsed.get(n);
        if (r === undefined) throw new FieldError(where, `the ranking does not rank ${n}`);
        return r;
      });
    }
    if (view.mapping.kind === 'ranking') {
      return compact({ kind: 'ranking', ...common, annotator, prompt, responses: texts, ranks });
    }
    if (texts.length !== 2) throw new FieldError(where, `a pair needs exactly two responses, got ${texts.length}: import as ranking`);
    const [a, b] = ranks as [number, number];
    const first = a <= b;
    return compact({
      kind: 'pair',
      ...common,
      annotator,
      prompt,
      chosen: first ? texts[0] : texts[1],
      rejected: first ? texts[1] : texts[0],
      tie: a === b ? true : undefined,
    } as Draft);
  },
};

interface LsResult {
  type?: string;
  value?: Record<string, unknown>;
  to_name?: string;
  from_name?: string;
}

function pairwiseResult(row: Record<string, unknown>): LsResult | undefined {
  if (!Array.isArray(row.annotations)) return undefined;
  for (const a of row.annotations) {
    if (!isPlainObject(a) || !Array.isArray(a.result)) continue;
    const r = a.result.find((x) => isPlainObject(x) && x.type === 'pairwise');
    if (r) return r as LsResult;
  }
  return undefined;
}

export const labelStudio: FormatSpec = {
  id: 'label-studio',
  label: 'Label Studio pairwise (JSON export)',
  kind: 'pair',
  fields: [
    { name: 'prompt', label: 'Prompt', type: 'turns', required: true },
    { name: 'left', label: 'Left item', type: 'turns', required: true },
    { name: 'right', label: 'Right item', type: 'turns', required: true },
    { name: 'annotations', label: 'Annotations', type: 'list', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    if (!isPlainObject(row.data) || !Array.isArray(row.annotations)) return 0;
    return pairwiseResult(row) ? 1 : 0.5;
  },
  guessColumns(row) {
    const data = isPlainObject(row.data) ? row.data : {};
    const toName = pairwiseResult(row)?.to_name?.split(',').map((s) => s.trim());
    const [l, r] = toName && toName.length === 2 && toName.every((n) => n in data) ? toName : ['answer1', 'answer2'].every((n) => n in data) ? ['answer1', 'answer2'] : ['text1', 'text2'];
    const prompt = PROMPT_NAMES.find((n) => n in data && n !== l && n !== r);
    return { prompt: prompt ? `data.${prompt}` : null, left: `data.${l}`, right: `data.${r}`, annotations: 'annotations', ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const where = view.where('annotations');
    const annotations = view.list('annotations');
    const chosenOne = annotations.find((a) => isPlainObject(a) && a.was_cancelled !== true && Array.isArray(a.result) && a.result.some((r) => isPlainObject(r) && r.type === 'pairwise'));
    if (!isPlainObject(chosenOne)) throw new FieldError(where, 'no completed pairwise annotation');
    const results = chosenOne.result as LsResult[];
    const selected = results.find((r) => r.type === 'pairwise')?.value?.selected;
    if (selected !== 'left' && selected !== 'right') throw new FieldError(`${where}.result.value.selected`, `expected "left" or "right", got ${describe(selected)}`);
    const left = view.turns('left');
    const right = view.turns('right');
    const notes = results
      .filter((r) => r.type === 'textarea' && Array.isArray(r.value?.text))
      .flatMap((r) => r.value!.text as unknown[])
      .filter((t): t is string => typeof t === 'string');
    const by = chosenOne.completed_by;
    const annotator = common.annotator ?? (isPlainObject(by) ? String(by.email ?? by.id ?? '') || undefined : isMissing(by) ? undefined : String(by));
    const at = typeof chosenOne.created_at === 'string' ? Date.parse(chosenOne.created_at) : NaN;
    const kind: RecordKind = 'pair';
    return compact({
      kind,
      ...common,
      annotator,
      annotatedAt: Number.isFinite(at) ? at : undefined,
      rationale: common.rationale ?? (notes.length ? notes.join('\n') : undefined),
      prompt: view.turns('prompt'),
      chosen: selected === 'left' ? left : right,
      rejected: selected === 'left' ? right : left,
    });
  },
};

