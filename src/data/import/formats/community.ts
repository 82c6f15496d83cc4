// Widely shared preference datasets: Anthropic HH-RLHF transcripts, UltraFeedback-binarized
// (HuggingFaceH4/ultrafeedback_binarized) and OpenAI preference fine-tuning JSONL.
import { compact, firstKey, guessCommon, COMMON_FIELDS, withSystem, type FormatSpec } from '../mapping.js';
import { extractPrompt, isHhTranscript, parseHhTranscript } from '../prompt.js';
import { asMessages, getPath, isMissing, looksLikeMessages } from '../values.js';
import { implicitPair } from './trl.js';

const has = (row: Record<string, unknown>, k: string) => !isMissing(getPath(row, k));

/** {"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}: both transcripts are parsed
 *  into messages; the turns they share are the prompt. */
export const hhRlhf: FormatSpec = {
  id: 'hh-rlhf',
  label: 'Anthropic HH-RLHF transcripts',
  kind: 'pair',
  fields: [
    { name: 'chosen', label: 'Chosen transcript', type: 'text', required: true },
    { name: 'rejected', label: 'Rejected transcript', type: 'text', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    return isHhTranscript(row.chosen) && isHhTranscript(row.rejected) ? 0.95 : 0;
  },
  guessColumns(row) {
    return { chosen: 'chosen', rejected: 'rejected', ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const c = parseHhTranscript(view.text('chosen'), view.where('chosen'));
    const r = parseHhTranscript(view.text('rejected'), view.where('rejected'));
    const parts = extractPrompt(c, r);
    return compact({ kind: 'pair', ...common, prompt: parts.prompt, chosen: parts.chosen, rejected: parts.rejected });
  },
};

/** {prompt, chosen: [messages], rejected: [messages], score_chosen, score_rejected}: the message
 *  lists hold the whole conversation, so the prompt is extracted from them as TRL's
 *  maybe_extract_prompt does (the string prompt column is a copy of the first user turn). */
export const ultrafeedback: FormatSpec = {
  id: 'ultrafeedback',
  label: 'UltraFeedback binarized',
  kind: 'pair',
  fields: [
    { name: 'chosen', label: 'Chosen conversation', type: 'messages', required: true },
    { name: 'rejected', label: 'Rejected conversation', type: 'messages', required: true },
    { name: 'scoreChosen', label: 'Score of chosen', type: 'number', required: false },
    { name: 'scoreRejected', label: 'Score of rejected', type: 'number', required: false },
    ...COMMON_FIELDS,
  ],
  match(row) {
    if (!looksLikeMessages(row.chosen) || !looksLikeMessages(row.rejected)) return 0;
    return has(row, 'score_chosen') || has(row, 'score_rejected') ? 0.95 : 0;
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
  convert(_row, view) {
    return implicitPair(view);
  },
};

/** {"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}. */
export const openaiPreference: FormatSpec = {
  id: 'openai-preference',
  label: 'OpenAI preference fine-tuning',
  kind: 'pair',
  fields: [
    { name: 'prompt', label: 'Input messages', type: 'messages', required: true },
    { name: 'chosen', label: 'Preferred output', type: 'messages', required: true },
    { name: 'rejected', label: 'Non-preferred output', type: 'messages', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    return has(row, 'input.messages') && has(row, 'preferred_output') && has(row, 'non_preferred_output') ? 1 : 0;
  },
  guessColumns(row) {
    return { prompt: 'input.messages', chosen: 'preferred_output', rejected: 'non_preferred_output', ...guessCommon(row), system: firstKey(row, ['system']) };
  },
  convert(_row, view) {
    const common = view.common();
    const { prompt, system } = withSystem(asMessages(view.need('prompt'), view.where('prompt')), common);
    return compact({
      kind: 'pair',
      ...common,
      system,
      prompt,
      chosen: asMessages(view.need('chosen'), view.where('chosen')),
      rejected: asMessages(view.need('rejected'), view.where('rejected')),
    });
  },
};
