// Prompt sets for the on-policy loop (generation, then judgement): rows become `prompt` records.
//
// - TRL prompt-only (https://huggingface.co/docs/trl/dataset_formats): {"prompt": text or
//   messages}; a plain list (.txt, one prompt per line) is read as such rows; a CSV column of
//   prompts maps here too (prompt, question, instruction, query or input, or any column picked).
// - TRL language modelling: {"text": ...} is a text to continue, as it is; {"messages": [...]} is
//   the conversation before its last assistant reply (the reply the model is to write), leading
//   system messages going to `system`.
import type { Message } from '../../records.js';
import { compact, COMMON_FIELDS, firstKey, guessCommon, withSystem, type FormatSpec } from '../mapping.js';
import { FieldError, getPath, isMissing, looksLikeMessages } from '../values.js';

/** Columns a prompt may sit in, most specific first. */
const PROMPT_COLUMNS = ['prompt', 'question', 'instruction', 'query', 'input'];
/** Columns that hold a response or a label: a row with one is not a prompt set. */
const RESPONSE_COLUMNS = ['chosen', 'rejected', 'completion', 'completions', 'responses', 'response', 'output', 'answer', 'label', 'labels', 'messages', 'conversations', 'text'];
/** Provenance columns every format may carry (mapping.ts COMMON_FIELDS). */
const COMMON_COLUMNS = new Set(['system', 'system_prompt', 'split', 'tags', 'rationale', 'reason', 'explanation', 'annotator', 'labeler', 'annotator_id', 'id']);

const present = (row: Record<string, unknown>) => Object.keys(row).filter((k) => !isMissing(row[k]));

export const trlPromptOnly: FormatSpec = {
  id: 'trl-prompt-only',
  label: 'TRL prompt-only (prompts to generate from)',
  kind: 'prompt',
  fields: [{ name: 'prompt', label: 'Prompt', type: 'turns', required: true }, ...COMMON_FIELDS],
  match(row) {
    const keys = present(row);
    if (keys.some((k) => RESPONSE_COLUMNS.includes(k))) return 0;
    const column = firstKey(row, PROMPT_COLUMNS);
    if (column === null) return 0;
    // Only a prompt (and provenance): TRL's prompt-only type; other columns beside it: a table of prompts.
    return keys.every((k) => k === column || COMMON_COLUMNS.has(k)) ? 0.95 : 0.5;
  },
  guessColumns(row) {
    return { prompt: firstKey(row, PROMPT_COLUMNS), ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const { prompt, system } = withSystem(view.turns('prompt'), common);
    return compact({ kind: 'prompt', ...common, system, prompt });
  },
};

export const trlLanguageModeling: FormatSpec = {
  id: 'trl-language-modeling',
  label: 'TRL language modelling (text or messages, as prompts)',
  kind: 'prompt',
  fields: [
    { name: 'text', label: 'Text (continued as it is)', type: 'text', required: false },
    { name: 'messages', label: 'Messages (up to the last assistant reply)', type: 'messages', required: false },
    ...COMMON_FIELDS,
  ],
  match(row) {
    const keys = present(row);
    if (keys.some((k) => ['chosen', 'rejected', 'completion', 'prompt', 'label'].includes(k))) return 0;
    if (typeof row.text === 'string') return 0.9;
    if (looksLikeMessages(row.messages)) return 0.9;
    return 0;
  },
  guessColumns(row) {
    return {
      text: typeof getPath(row, 'text') === 'string' ? 'text' : null,
      messages: looksLikeMessages(getPath(row, 'messages')) ? 'messages' : null,
      ...guessCommon(row),
    };
  },
  convert(_row, view) {
    const common = view.common();
    if (view.has('text')) {
      const text = view.text('text');
      return compact({ kind: 'prompt', ...common, system: typeof common.system === 'string' ? common.system : undefined, prompt: text });
    }
    if (!view.has('messages')) throw new FieldError(view.where('text'), 'a language-modelling row needs text or messages');
    const turns = view.turns('messages');
    if (typeof turns === 'string') return compact({ kind: 'prompt', ...common, prompt: turns });
    const { prompt, system } = withSystem(turns, common);
    const messages = prompt as Message[];
    let end = messages.length;
    while (end > 0 && messages[end - 1]!.role === 'assistant') end--;
    if (end === 0) throw new FieldError(view.where('messages'), 'has no message before the assistant reply to use as a prompt');
    return compact({ kind: 'prompt', ...common, system, prompt: messages.slice(0, end) });
  },
};
