// What a prompt is in tokens (src/engine/model/prompt.ts), read as ids: the tiny Llama fixture's
// tokenizer (a chat template writing "<s>role: content\n" per message and "assistant:" as the
// generation prompt; its ids decode back to the exact text) and the demo model's (no template,
// BOS from its post-processor). With the template the ids are the template's rendering of the
// system prompt and every turn; without, the tokenizer's encoding of the text; a conversation
// without the template is refused; training's prompt ids for the same record are the same ids.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PrefRecord } from '../../src/data/records.js';
import { PromptError, promptMessages, promptText, promptTokenIds } from '../../src/engine/model/prompt.js';
import { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { tokenizeRecords } from '../../src/engine/training/tokenize.js';

const json = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8')) as Record<string, unknown>;
const chat = new ModelTokenizer({
  tokenizerJson: json('../fixtures/models/tiny-llama/tokenizer.json'),
  tokenizerConfig: json('../fixtures/models/tiny-llama/tokenizer_config.json'),
});
const plain = new ModelTokenizer({
  tokenizerJson: json('../../public/models/demo-fortunes/tokenizer.json'),
  tokenizerConfig: json('../../public/models/demo-fortunes/tokenizer_config.json'),
});
/** The fixture template's text, tokenized without added specials (the template writes <s>). */
const rendered = (text: string) => chat.encode(text, { addSpecialTokens: false });

const CONVERSATION = [
  { role: 'user' as const, content: 'Name a colour.' },
  { role: 'assistant' as const, content: 'Blue.' },
  { role: 'user' as const, content: 'Another one?' },
];
const SYSTEM = 'You answer in one word.';

describe('promptTokenIds', () => {
  it('text with the template: one user turn, then the generation prompt', () => {
    const ids = promptTokenIds(chat, { prompt: 'Life is' }, true);
    expect(ids).toEqual(rendered('<s>user: Life is\nassistant:'));
    expect(ids[0]).toBe(chat.bos!.id);
    expect(promptTokenIds(chat, { prompt: 'Life is' }, 'auto')).toEqual(ids);
  });

  it('one user turn as messages gives the same ids as the same text', () => {
    expect(promptTokenIds(chat, { prompt: [{ role: 'user', content: 'Life is' }] }, true)).toEqual(promptTokenIds(chat, { prompt: 'Life is' }, true));
  });

  it('multi-turn with a system prompt: system first, then every turn in order, then the generation prompt', () => {
    const ids = promptTokenIds(chat, { prompt: CONVERSATION, system: SYSTEM }, 'auto');
    const text = `<s>system: ${SYSTEM}\nuser: Name a colour.\nassistant: Blue.\nuser: Another one?\nassistant:`;
    expect(ids).toEqual(rendered(text));
    expect(chat.decode(ids)).toBe(text);
    expect(ids).toEqual(chat.encodeChat(promptMessages({ prompt: CONVERSATION, system: SYSTEM }), { addGenerationPrompt: true }));
  });

  it('without the template: the tokenizer encodes the text (its BOS included), even when it has a template', () => {
    expect(promptTokenIds(plain, { prompt: 'Life is' }, false)).toEqual(plain.encode('Life is'));
    expect(promptTokenIds(plain, { prompt: 'Life is' }, 'auto')).toEqual([plain.bos!.id, ...plain.encode('Life is', { addSpecialTokens: false })]);
    expect(promptTokenIds(chat, { prompt: 'Life is' }, false)).toEqual(chat.encode('Life is'));
  });

  it('a conversation or a system prompt without the template is refused, saying why', () => {
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(PromptError);
        return e as PromptError;
      }
      throw new Error('not refused');
    };
    expect(refused(() => promptTokenIds(plain, { prompt: CONVERSATION }, 'auto'))).toMatchObject({ code: 'needs-chat-template', message: 'a conversation needs a chat template, and the tokenizer has none' });
    expect(refused(() => promptTokenIds(chat, { prompt: CONVERSATION }, false)).message).toMatch(/a conversation goes through the chat template .*turn the chat template on/);
    expect(refused(() => promptTokenIds(chat, { prompt: 'hi', system: SYSTEM }, false)).message).toMatch(/a system prompt goes through the chat template/);
    expect(refused(() => promptTokenIds(plain, { prompt: 'hi' }, true))).toMatchObject({ code: 'no-chat-template' });
  });

  it("training's prompt ids for the same record are the same ids", () => {
    const base = { source: { type: 'manual' as const }, createdAt: 0, split: 'train' as const, tags: [] };
    const conv: PrefRecord = { kind: 'pair', prompt: CONVERSATION, system: SYSTEM, chosen: [{ role: 'assistant', content: 'Red.' }], rejected: [{ role: 'assistant', content: 'No.' }], ...base };
    const text: PrefRecord = { kind: 'pair', prompt: 'Life is', chosen: ' good', rejected: ' bad', ...base };
    const cfg = parseTrainingConfig({ method: 'dpo' });
    expect(tokenizeRecords([conv], chat, cfg).examples[0]!.sequences[0]!.promptIds).toEqual(promptTokenIds(chat, { prompt: CONVERSATION, system: SYSTEM }, true));
    // Training uses the template exactly for conversational records.
    expect(tokenizeRecords([text], chat, cfg).examples[0]!.sequences[0]!.promptIds).toEqual(promptTokenIds(chat, { prompt: 'Life is' }, false));
  });
});

describe('promptText', () => {
  it('text stays text; a conversation is one "role: content" line per message, the system prompt first', () => {
    expect(promptText({ prompt: 'Life is' })).toBe('Life is');
    expect(promptText({ prompt: CONVERSATION, system: SYSTEM })).toBe(`system: ${SYSTEM}\nuser: Name a colour.\nassistant: Blue.\nuser: Another one?`);
  });
});
