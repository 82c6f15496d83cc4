// What a prompt is in tokens, defined once: training (training/tokenize.ts, the prompt side of
// every sequence) and every generation path (`prefstudio sample`, the engine Worker's generate for
// the Playground, Evaluate and the Label page) turn a prompt into ids here.
//
//   chat template on   template([system, ...turns], add_generation_prompt=True): the system
//                      prompt first, then every turn of the conversation (a text prompt is one
//                      user turn); the template writes the special tokens, none are added after
//                      (transformers' apply_chat_template(tokenize=True)).
//   chat template off  the tokenizer's encoding of the text with its own special tokens (BOS where
//                      its post-processor adds one): TRL's tok(prompt) for text records. A
//                      conversation or a system prompt has no text form here: refused, as
//                      training never flattens one (it skips a conversational record when the
//                      tokenizer has no template).
//   'auto'             on when the tokenizer has a chat template.
//
// Training uses the template exactly for conversational records (tokenize.ts), so a generation
// path that wants the ids training will see passes `isConversational(prompt)`.

import type { ChatMessage } from './tokenizer.js';

/** A prompt to continue: plain text or the conversation so far, and an optional system prompt. */
export interface PromptInput {
  /** Text, or messages oldest first (the model writes the next assistant turn). */
  prompt: string | readonly ChatMessage[];
  /** Rendered first, as a system message; needs the chat template. */
  system?: string;
}

/** true: through the chat template; false: the text as the tokenizer encodes it; 'auto': the template when there is one. */
export type ChatTemplateChoice = boolean | 'auto';

/** What prompt tokenization needs of ModelTokenizer. */
export interface PromptTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  encodeChat(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): number[];
  readonly chatTemplate: string | null;
}

export type PromptErrorCode = 'no-chat-template' | 'needs-chat-template';

/** A prompt that cannot become tokens with this tokenizer and choice; `message` says why and what to do. */
export class PromptError extends Error {
  override readonly name = 'PromptError';
  constructor(
    /** 'no-chat-template': the template was asked for and the tokenizer has none; 'needs-chat-template': a conversation or system prompt without it. */
    readonly code: PromptErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Whether `choice` renders through the chat template with this tokenizer. */
export function usesChatTemplate(tok: Pick<PromptTokenizer, 'chatTemplate'>, choice: ChatTemplateChoice): boolean {
  return choice === 'auto' ? tok.chatTemplate !== null : choice;
}

/** The messages the chat template renders: the system prompt, then every turn (text: one user turn). */
export function promptMessages(input: PromptInput): ChatMessage[] {
  const turns: ChatMessage[] = typeof input.prompt === 'string' ? [{ role: 'user', content: input.prompt }] : [...input.prompt];
  return input.system !== undefined ? [{ role: 'system', content: input.system }, ...turns] : turns;
}

/**
 * The token ids a model should continue for `input` (see the file header). Throws a PromptError
 * when the template is asked for and the tokenizer has none, or when a conversation or a system
 * prompt comes without the template.
 */
export function promptTokenIds(tok: PromptTokenizer, input: PromptInput, chatTemplate: ChatTemplateChoice): number[] {
  if (usesChatTemplate(tok, chatTemplate)) {
    if (tok.chatTemplate === null) throw new PromptError('no-chat-template', 'the tokenizer has no chat template (tokenizer_config.json chat_template or chat_template.jinja)');
    return tok.encodeChat(promptMessages(input), { addGenerationPrompt: true });
  }
  const what = typeof input.prompt !== 'string' ? 'a conversation' : input.system !== undefined ? 'a system prompt' : null;
  if (what) {
    throw new PromptError(
      'needs-chat-template',
      tok.chatTemplate === null
        ? `${what} needs a chat template, and the tokenizer has none`
        : `${what} goes through the chat template (as training tokenizes it): turn the chat template on`,
    );
  }
  return tok.encode(input.prompt as string);
}

/**
 * The prompt as readable text: a text prompt as it is; a conversation (or a text prompt with a
 * system prompt) as one `role: content` line per message, the system prompt first.
 */
export function promptText(input: PromptInput): string {
  if (typeof input.prompt === 'string' && input.system === undefined) return input.prompt;
  return promptMessages(input).map((m) => `${m.role}: ${m.content}`).join('\n');
}
