// LLaMA-Factory datasets (data/README.md of hiyouga/LLaMA-Factory): alpaca ranking
// {instruction, input, chosen, rejected, system?, history?}, sharegpt ranking
// {conversations:[{from, value}], chosen:{from, value}, rejected:{from, value}, system?} and
// KTO data {messages|conversations, label|kto_tag}. LLaMA-Factory always chats, so records are
// conversational; a leading "system" turn becomes the system prompt as its converter does.
import type { Message } from '../../records.js';
import { compact, firstKey, guessCommon, COMMON_FIELDS, withSystem, type FormatSpec } from '../mapping.js';
import { asList, asMessage, asMessages, asText, FieldError, isMissing, looksLikeMessages, messageKeys } from '../values.js';
import { isPlainObject } from '../../read/rows.js';

const has = (row: Record<string, unknown>, k: string) => !isMissing(row[k]);

function assistant(v: unknown, field: string): Message[] {
  if (typeof v === 'string') return [{ role: 'assistant', content: v }];
  const m = asMessage(v, field);
  if (m.role !== 'assistant') throw new FieldError(field, `must be the assistant's turn, got role ${m.role}`);
  return [m];
}

export const llamafactoryAlpaca: FormatSpec = {
  id: 'llamafactory-alpaca',
  label: 'LLaMA-Factory alpaca ranking',
  kind: 'pair',
  fields: [
    { name: 'instruction', label: 'Instruction', type: 'text', required: true },
    { name: 'input', label: 'Input', type: 'text', required: false },
    { name: 'chosen', label: 'Chosen', type: 'text', required: true },
    { name: 'rejected', label: 'Rejected', type: 'text', required: true },
    { name: 'history', label: 'History ([query, response] pairs)', type: 'list', required: false },
    ...COMMON_FIELDS,
  ],
  match(row) {
    return has(row, 'instruction') && has(row, 'chosen') && has(row, 'rejected') ? 0.95 : 0;
  },
  guessColumns(row) {
    return {
      instruction: 'instruction',
      input: has(row, 'input') ? 'input' : null,
      chosen: 'chosen',
      rejected: 'rejected',
      history: has(row, 'history') ? 'history' : null,
      ...guessCommon(row),
    };
  },
  convert(_row, view) {
    const common = view.common();
    // LLaMA-Factory joins instruction and input with a newline when both are there.
    const query = [view.text('instruction'), view.optionalText('input')].filter((s) => s !== undefined && s !== '').join('\n');
    const prompt: Message[] = [];
    if (view.has('history')) {
      view.list('history').forEach((turn, i) => {
        const where = `${view.where('history')}.${i}`;
        const pair = asList(turn, where);
        if (pair.length !== 2) throw new FieldError(where, 'expected a [query, response] pair');
        prompt.push({ role: 'user', content: asText(pair[0], `${where}.0`) }, { role: 'assistant', content: asText(pair[1], `${where}.1`) });
      });
    }
    prompt.push({ role: 'user', content: query });
    return compact({
      kind: 'pair',
      ...common,
      prompt,
      chosen: assistant(view.need('chosen'), view.where('chosen')),
      rejected: assistant(view.need('rejected'), view.where('rejected')),
    });
  },
};

const conversationKey = (row: Record<string, unknown>) => firstKey(row, ['conversations', 'messages']);

export const llamafactorySharegpt: FormatSpec = {
  id: 'llamafactory-sharegpt',
  label: 'LLaMA-Factory sharegpt ranking',
  kind: 'pair',
  fields: [
    { name: 'messages', label: 'Conversation', type: 'messages', required: true },
    { name: 'chosen', label: 'Chosen turn', type: 'message', required: true },
    { name: 'rejected', label: 'Rejected turn', type: 'message', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    const conv = conversationKey(row);
    if (!conv || !looksLikeMessages(row[conv])) return 0;
    return isPlainObject(row.chosen) && messageKeys(row.chosen) && isPlainObject(row.rejected) ? 0.95 : 0;
  },
  guessColumns(row) {
    return { messages: conversationKey(row), chosen: 'chosen', rejected: 'rejected', ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const { prompt, system } = withSystem(asMessages(view.need('messages'), view.where('messages')), common);
    return compact({
      kind: 'pair',
      ...common,
      system,
      prompt,
      chosen: assistant(view.need('chosen'), view.where('chosen')),
      rejected: assistant(view.need('rejected'), view.where('rejected')),
    });
  },
};

export const llamafactoryKto: FormatSpec = {
  id: 'llamafactory-kto',
  label: 'LLaMA-Factory KTO (messages + label)',
  kind: 'unpaired',
  fields: [
    { name: 'messages', label: 'Conversation (last turn is the completion)', type: 'messages', required: true },
    { name: 'label', label: 'Label (desirable)', type: 'boolean', required: true },
    ...COMMON_FIELDS,
  ],
  match(row) {
    const conv = conversationKey(row);
    if (!conv || !looksLikeMessages(row[conv]) || has(row, 'chosen') || has(row, 'completion')) return 0;
    return firstKey(row, ['label', 'kto_tag']) ? 0.95 : 0;
  },
  guessColumns(row) {
    return { messages: conversationKey(row), label: firstKey(row, ['label', 'kto_tag']), ...guessCommon(row) };
  },
  convert(_row, view) {
    const common = view.common();
    const where = view.where('messages');
    const all = asMessages(view.need('messages'), where);
    const last = all[all.length - 1];
    if (!last || last.role !== 'assistant') throw new FieldError(where, 'the last message must be the assistant completion');
    const { prompt, system } = withSystem(all.slice(0, -1), common);
    return compact({ kind: 'unpaired', ...common, system, prompt, completion: [last], label: view.bool('label') });
  },
};
