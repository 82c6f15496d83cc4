// The model's tokenizer: tokenizer.json through @huggingface/tokenizers, special tokens from
// tokenizer_config.json / special_tokens_map.json / generation_config.json, and the chat template
// (tokenizer_config.json chat_template, or chat_template.jinja beside it) rendered with
// @huggingface/jinja the way transformers' apply_chat_template does.

import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from './errors.js';

export interface SpecialToken {
  token: string;
  /** null when the tokenizer has no such token. */
  id: number | null;
}

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** chat_template.jinja, when the folder has one (newer transformers write it there). */
  chatTemplateFile?: string;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  /** More template variables (tools, documents, enable_thinking, ...). */
  extra?: Record<string, unknown>;
}

/** "<s>" or an AddedToken dict {content: "<s>", ...} → "<s>". */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

export class ModelTokenizer {
  readonly tokenizer: Tokenizer;
  /** Largest id the tokenizer can produce (vocabulary and added tokens). */
  readonly maxId: number;
  /** Distinct tokens, added ones included. */
  readonly size: number;
  readonly bos: SpecialToken | null;
  readonly eos: SpecialToken | null;
  readonly pad: SpecialToken | null;
  readonly unk: SpecialToken | null;
  /** Generation stops at these: the eos token and generation_config's eos_token_id. */
  readonly eosIds: number[];
  readonly chatTemplate: string | null;
  private readonly template: Template | null;
  readonly kind: string;
  /** The files it was built from (the GGUF exporter writes the vocabulary from them). */
  readonly files: TokenizerFiles;

  constructor(files: TokenizerFiles) {
    this.files = files;
    const cfg = files.tokenizerConfig ?? {};
    try {
      this.tokenizer = new Tokenizer(files.tokenizerJson, cfg);
    } catch (e) {
      // The library names a missing "type" as "type: undefined".
      const why = String((e as Error)?.message ?? e).replace(/\bundefined\b/g, 'missing');
      throw new ModelLoadError('tokenizer-invalid', `tokenizer.json could not be loaded: ${why}`, { file: 'tokenizer.json' });
    }
    const vocab = this.tokenizer.get_vocab(true);
    let max = -1;
    for (const id of vocab.values()) if (id > max) max = id;
    this.maxId = max;
    this.size = vocab.size;
    const model = files.tokenizerJson.model as { type?: string } | undefined;
    this.kind = `${model?.type ?? 'unknown'}${cfg.tokenizer_class ? ` (${String(cfg.tokenizer_class)})` : ''}`;
    const map = files.specialTokensMap ?? {};
    const special = (key: string): SpecialToken | null => {
      const token = tokenString(cfg[key]) ?? tokenString(map[key]);
      if (token === undefined) return null;
      return { token, id: this.tokenizer.token_to_id(token) ?? null };
    };
    this.bos = special('bos_token');
    this.eos = special('eos_token');
    this.pad = special('pad_token');
    this.unk = special('unk_token');
    const genEos = files.generationConfig?.eos_token_id;
    const ids = new Set<number>();
    if (this.eos?.id !== null && this.eos?.id !== undefined) ids.add(this.eos.id);
    for (const v of Array.isArray(genEos) ? genEos : [genEos]) if (typeof v === 'number') ids.add(v);
    this.eosIds = [...ids];

    let template: string | null = files.chatTemplateFile ?? null;
    const ct = cfg.chat_template;
    if (!template && typeof ct === 'string') template = ct;
    else if (!template && Array.isArray(ct)) {
      const named = ct as { name?: string; template?: string }[];
      template = (named.find((t) => t.name === 'default') ?? named[0])?.template ?? null;
    }
    this.chatTemplate = template;
    try {
      this.template = template ? new Template(template) : null;
    } catch (e) {
      throw new ModelLoadError('tokenizer-invalid', `the chat template does not parse: ${(e as Error).message}`, { file: files.chatTemplateFile ? 'chat_template.jinja' : 'tokenizer_config.json' });
    }
  }

  /** Token ids of `text`; with addSpecialTokens the post-processor adds bos etc. as configured. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.tokenizer.decode(ids.slice(), { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** The chat as one prompt string; throws when the tokenizer has no chat template. */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (!this.template) throw new Error('this tokenizer has no chat template (tokenizer_config.json chat_template)');
    return this.template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: this.bos?.token ?? '',
      eos_token: this.eos?.token ?? '',
      pad_token: this.pad?.token ?? '',
      unk_token: this.unk?.token ?? '',
      ...options.extra,
    });
  }

  /** Ids of the rendered chat. Like transformers, special tokens are not added again. */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }
}
