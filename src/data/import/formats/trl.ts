// TRL dataset types (https://huggingface.co/docs/trl/dataset_formats): preference with explicit or
// implicit prompt, unpaired preference, stepwise supervision, prompt-completion. Each is standard
// (text) or conversational (messages); the style is read per row from the values.
import type { PairRecord, StepwiseRecord, Turns } from '../../records.js';
import { compact, guessCommon, COMMON_FIELDS, RowView, withSystem, type Draft, type FormatSpec } from '../mapping.js';
import { extractPrompt, isHhTranscript } from '../prompt.js';
import { asBool, asText, FieldError, isMissing, looksLikeMessages } from '../values.js';

const has = (row: Record<string, unknown>, k: string) => !isMissing(row[k]);

function sameStyle(view: RowView, prompt: Turns, ...rest: [string, Turns][]): void {
  for (const [name, t] of rest) {
    if (typeof t !== typeof prompt) {
      throw new FieldError(view.where(name), `is ${typeof t === 'string' ? 'text' : 'messages'} but the prompt is ${typeof prompt === 'string' ? 'text' : 'messages'}`);
    }
  }
}

export const trlPreference: FormatSpec = {
  id: 'trl-preference',
  label: 'TRL preference (explicit prompt)',
  kind: 'pair',
  fields: [
    { name: 'prompt', label: 'Prompt', type: 'turns', required: true },
    { name: 'chosen', label: 'Chosen', type: 'turns', required: true },
    { name: 'rejected', label: 'Rejected', type: 'turns', required: true },
    { name: 'scoreChosen', label: 'Score of chosen', type: 'number', required: false },
    { name: 'scoreRejected', label: 'Score of rejected', type: 'number', required: false },
    ...COMMON_FIELDS,
  ],
  match(row) {
    if (!has(row, 'prompt') || !has(row, 'chosen') || !has(row, 'rejected')) return 0;
    // TRL's maybe_extract_prompt keeps the prompt only when it has the style of the responses.
    return looksLikeMessages(row.prompt) === looksLikeMessages(row.chosen) ? 0.9 : 0;
  },
  guessColumns(row) {
    return {
      prompt: 'prompt',
      chosen: 'chosen',
      rejected: 'rejected',
      scoreChosen: has(row, 'score_chosen') ? 'score_chosen' : null,
      scoreRejected: has(row, 'score_rejected') ? 'score_rejected' : null,
      ...guessCommon(row),
    };
  },
  convert(_row, view) {
    const common = view.common();
    const { prompt, system } = withSystem(view.turns('prompt'), common);
    const chosen = view.turns('chosen');
    const rejected = view.turns('rejected');
    sameStyle(view, prompt, ['chosen', chosen], ['rejected', rejected]);
    return compact({ kind: 'pair', ...common, system, prompt, chosen, rejected, scores: scores(view) });
  },
};

export function scores(view: RowView): PairRecord['scores'] {
  const chosen = view.optionalNumber('scoreChosen');
  const rejected = view.optionalNumber('scoreRejected');
  return chosen === undefined && rejected === undefined ? undefined : compact({ chosen, rejected });
}

export const trlImplicitPreference: FormatSpec = {
  id: 'trl-implicit-preference',
  label: 'TRL preference (implicit prompt)',
  kind: 'pair',
  fields: [
    { name: 'chosen', label: 'Chosen (prompt + response)', type: 'turns', required: true },
    { name: 'rejected', label: 'Rejected (prompt + response)', type: 'turns', required: true },
    { name: 'scoreChosen', label: 'Score of chosen', type: 'number', required: false },
    { name: 'scoreRejected', label: 'Score of rejected', type: 'number', required: false },
    ...COMMON_FIELDS,
  ],
  match(row) {
    if (!has(row, 'chosen') || !has(row, 'rejected')) return 0;
    if (isHhTranscript(row.chosen)) return 0.5;
    if (has(row, 'prompt') && looksLikeMessages(row.prompt) === looksLikeMessages(row.chosen)) return 0.3;
    return 0.85;
  },
  guessColumns(row) {
    return {
      chosen: 'chosen',
      rejected: 'rejected',
      scoreChosen: has(row, 'score_chosen') ? 'score_chosen' : null,
      scoreRejected: has(row, 'score_rejected') ? 'score_rejected' : null,
      ...guessCommon(row),
    };
  },
  convert(row, view) {
    return implicitPair(view, row);
  },
};

/**
 * chosen and rejected each hold the whole conversation; the prompt is what they share. With the
 * raw `row`, a row that has a prompt column of its own while chosen and rejected share nothing is
 * a row of the explicit-prompt format in a file read as implicit: it is refused, not given an
 * empty prompt (its prompt would be lost).
 */
export function implicitPair(view: RowView, row?: Record<string, unknown>): Draft {
  const common = view.common();
  const c = view.turns('chosen');
  const r = view.turns('rejected');
  if (typeof c !== typeof r) throw new FieldError(view.where('rejected'), 'chosen and rejected must both be text or both be messages');
  const parts = extractPrompt(c, r);
  if (row && has(row, 'prompt') && parts.prompt.length === 0) {
    throw new FieldError(
      'prompt',
      'this row has a prompt of its own (explicit prompt) but the file was read as implicit prompt (the prompt inside chosen and rejected), ' +
        'so its prompt would be lost: the rows mix the two formats; give every row a prompt column, or none',
    );
  }
  const { prompt, system } = withSystem(parts.prompt, common);
  return compact({ kind: 'pair', ...common, system, prompt, chosen: parts.chosen, rejected: parts.rejected, scores: scores(view) });
}

export const trlUnpaired: FormatSpec = {
  id: 'trl-unpaired',
  label: 'TRL unpaired preference (KTO)',
  kind: 'unpaired',
  fields: [
    { name: 'prompt', label: 'Prompt', type: 'turns', required: true },
    { name: 'completion', label: 'Completion', type: 'turns', required: true },
    { name: 'label', label: 'Label (desirable)', type: 'boolean', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    return has(row, 'prompt') && has(row, 'completion') && has(row, 'label') ? 0.9 : 0;
  },
  guessColumns(row) {
    return { prompt: 'prompt', completion: 'completion', label: 'label', ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const { prompt, system } = withSystem(view.turns('prompt'), common);
    const completion = view.turns('completion');
    sameStyle(view, prompt, ['completion', completion]);
    return compact({ kind: 'unpaired', ...common, system, prompt, completion, label: view.bool('label') });
  },
};

export const trlPromptCompletion: FormatSpec = {
  id: 'trl-prompt-completion',
  label: 'TRL prompt-completion (as unpaired, one label for all)',
  kind: 'unpaired',
  fields: [
    { name: 'prompt', label: 'Prompt', type: 'turns', required: true },
    { name: 'completion', label: 'Completion', type: 'turns', required: true },
    ...COMMON_FIELDS,
  ],
  options: [{ name: 'label', label: 'Label every completion as desirable', type: 'boolean', default: true }],
  match(row) {
    return has(row, 'prompt') && has(row, 'completion') && !has(row, 'label') ? 0.6 : 0;
  },
  guessColumns(row) {
    return { prompt: 'prompt', completion: 'completion', ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const { prompt, system } = withSystem(view.turns('prompt'), common);
    const completion = view.turns('completion');
    sameStyle(view, prompt, ['completion', completion]);
    return compact({ kind: 'unpaired', ...common, system, prompt, completion, label: view.option('label', true) === true });
  },
};

export const trlStepwise: FormatSpec = {
  id: 'trl-stepwise',
  label: 'TRL stepwise supervision',
  kind: 'stepwise',
  fields: [
    { name: 'prompt', label: 'Prompt', type: 'turns', required: true },
    { name: 'completions', label: 'Steps', type: 'list', required: true },
    { name: 'labels', label: 'Step labels', type: 'list', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    return has(row, 'prompt') && Array.isArray(row.completions) && Array.isArray(row.labels) ? 0.95 : has(row, 'completions') && has(row, 'labels') ? 0.7 : 0;
  },
  guessColumns(row) {
    return { prompt: 'prompt', completions: 'completions', labels: 'labels', ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const { prompt, system } = withSystem(view.turns('prompt'), common);
    const where = view.where('completions');
    const steps = view.list('completions').map((s, i) => asText(s, `${where}.${i}`));
    const labels = view.list('labels').map((l, i) => asBool(l, `${view.where('labels')}.${i}`));
    if (steps.length === 0) throw new FieldError(where, 'has no steps');
    if (labels.length !== steps.length) throw new FieldError(view.where('labels'), `has ${labels.length} labels for ${steps.length} steps`);
    return compact({ kind: 'stepwise', ...common, system, prompt, ...stepsFromLabels(steps, labels) });
  },
};

/** TRL step labels to a stepwise record: the first false label marks the rejected step, the steps
 *  before it are accepted, the ones after are kept with their labels. All true: the last step is
 *  the chosen one. */
export function stepsFromLabels(steps: string[], labels: boolean[]): Pick<StepwiseRecord, 'steps' | 'chosenStep' | 'rejectedStep' | 'laterSteps'> {
  const bad = labels.indexOf(false);
  if (bad === -1) return { steps: steps.slice(0, -1), chosenStep: steps[steps.length - 1]!, rejectedStep: null };
  const later = steps.slice(bad + 1).map((step, i) => ({ step, good: labels[bad + 1 + i]! }));
  return compact({ steps: steps.slice(0, bad), chosenStep: null, rejectedStep: steps[bad]!, laterSteps: later.length ? later : undefined });
}
