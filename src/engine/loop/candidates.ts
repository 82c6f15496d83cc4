// K candidates for every prompt of a prompt set, batched on the GPU with the KV cache
// (transformer/generate.ts). Used by `prefstudio generate`, the engine Worker's generation jobs and
// the loop's rounds.
//
//   seeds     candidate k of prompt i draws from its own generator, seeded by candidateSeed(seed,
//             i, k): its tokens do not depend on the batch it ran in, on the batch size, or on
//             which prompts were done before a resume (generate.ts keeps a row's logits bit for
//             bit the same alone or batched).
//   prompts   promptTokenIds with the whole conversation and the system prompt. 'auto' tokenizes a
//             prompt as training will tokenize the record made from it: the chat template for a
//             conversation or a system prompt, the tokenizer's encoding for text. With the template
//             on (true, or needed), a text prompt is one user turn, and the candidate set is stored
//             as a conversation (prompt and assistant replies), so training sees the same ids.
//   skipped   a prompt that cannot become tokens (no template for a conversation, empty without
//             BOS) or does not fit the model's positions is left out with its reason.

import { isConversational, type Message, type Turns } from '../../data/records.js';
import { PromptError, promptTokenIds, usesChatTemplate, type PromptTokenizer } from '../model/prompt.js';
import { generate, type FinishReason } from '../transformer/generate.js';
import type { TransformerModel } from '../transformer/model.js';
import type { GenerationSettings } from './config.js';

export interface CandidatePrompt {
  /** Position in the prompt set (names the prompt in records and seeds). */
  index: number;
  prompt: Turns;
  system?: string;
}

export interface CandidateSet {
  index: number;
  /** The prompt as stored with the candidates (a conversation when the template rendered a text prompt). */
  prompt: Turns;
  system?: string;
  /** Text for a text prompt; one assistant message each for a conversation. */
  responses: Turns[];
  /** Tokens generated for the set. */
  tokens: number;
  finish: FinishReason[];
}

export interface GenerationProgress {
  /** Prompts done (this call), of `total`. */
  done: number;
  total: number;
  tokens: number;
  ms: number;
  /** Estimated time left from the rate so far; null before the first batch. */
  etaMs: number | null;
}

export interface CandidateTokenizer extends PromptTokenizer {
  decode(ids: number[], options?: { skipSpecialTokens?: boolean }): string;
}

export interface CandidateOptions {
  /** Rows (prompt x candidate) generated together; rounded to whole prompts (default 16). */
  batchRows?: number;
  /** Stop tokens (default the model config's EOS ids). */
  eosIds?: number[];
  signal?: AbortSignal;
  /** Called with each prompt's set as soon as its batch is done (store it: a resume skips it). */
  onSet?: (set: CandidateSet) => void | Promise<void>;
  onProgress?: (p: GenerationProgress) => void;
}

export interface CandidatesResult {
  sets: CandidateSet[];
  skipped: { index: number; reason: string }[];
  aborted: boolean;
  tokens: number;
}

/** The seed of candidate k of prompt i: a 32-bit mix of (seed, i, k). */
export function candidateSeed(seed: number, promptIndex: number, k: number): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  h = fmix32((h ^ Math.imul(promptIndex + 1, 0x85ebca6b)) >>> 0);
  h = fmix32((h ^ Math.imul(k + 1, 0xc2b2ae35)) >>> 0);
  return h >>> 0;
}

function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Whether this prompt renders through the chat template under `choice` (see the file header). */
export function promptUsesTemplate(p: Pick<CandidatePrompt, 'prompt' | 'system'>, choice: GenerationSettings['chatTemplate'], tok: Pick<PromptTokenizer, 'chatTemplate'>): boolean {
  if (isConversational(p.prompt) || p.system !== undefined) return true;
  return choice === 'auto' ? false : usesChatTemplate(tok, choice);
}

/** The prompt as the candidate set stores it: a text prompt rendered through the template becomes one user turn. */
export function storedPrompt(p: Pick<CandidatePrompt, 'prompt'>, templated: boolean): Turns {
  return templated && typeof p.prompt === 'string' ? [{ role: 'user', content: p.prompt }] : p.prompt;
}

/**
 * The token ids candidates of `p` continue (see the file header), and whether the chat template
 * rendered them; or why the prompt is left out.
 */
export function candidatePromptIds(
  p: CandidatePrompt,
  settings: Pick<GenerationSettings, 'chatTemplate' | 'maxNewTokens'>,
  tok: PromptTokenizer,
  c: Pick<TransformerModel['config'], 'bosId' | 'maxPositions' | 'arch'>,
): { ids: number[]; templated: boolean } | { reason: string } {
  const templated = promptUsesTemplate(p, settings.chatTemplate, tok);
  let ids: number[];
  try {
    ids = promptTokenIds(tok, { prompt: storedPrompt(p, templated), ...(p.system !== undefined ? { system: p.system } : {}) }, templated);
  } catch (e) {
    if (!(e instanceof PromptError)) throw e;
    return { reason: e.message };
  }
  if (ids.length === 0) {
    if (c.bosId === null) return { reason: 'the prompt is empty and the model has no BOS token to start from' };
    ids = [c.bosId];
  }
  if (ids.length >= c.maxPositions || (c.arch === 'gpt2' && ids.length + settings.maxNewTokens > c.maxPositions)) {
    return { reason: `the prompt is ${ids.length} tokens; with ${settings.maxNewTokens} new ones that is past the model's ${c.maxPositions} positions` };
  }
  return { ids, templated };
}

interface Row {
  set: number;
  k: number;
  ids: number[];
  seed: number;
}

export async function generateCandidateSets(
  model: TransformerModel,
  tok: CandidateTokenizer,
  prompts: readonly CandidatePrompt[],
  settings: GenerationSettings,
  options: CandidateOptions = {},
): Promise<CandidatesResult> {
  const c = model.config;
  const K = settings.n;
  const skipped: CandidatesResult['skipped'] = [];
  const ready: { p: CandidatePrompt; ids: number[]; templated: boolean }[] = [];
  for (const p of prompts) {
    const r = candidatePromptIds(p, settings, tok, c);
    if ('reason' in r) skipped.push({ index: p.index, reason: r.reason });
    else ready.push({ p, ...r });
  }

  const perBatch = Math.max(1, Math.floor((options.batchRows ?? 16) / K));
  const decode = (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true });
  const sets: CandidateSet[] = [];
  const started = performance.now();
  let tokens = 0;
  let aborted = false;
  for (let i0 = 0; i0 < ready.length; i0 += perBatch) {
    if (options.signal?.aborted) {
      aborted = true;
      break;
    }
    const chunk = ready.slice(i0, i0 + perBatch);
    const rows: Row[] = chunk.flatMap((r, set) => Array.from({ length: K }, (_, k) => ({ set, k, ids: r.ids, seed: candidateSeed(settings.seed, r.p.index, k) })));
    const results = await generate(model, rows.map((r) => r.ids), {
      maxNewTokens: settings.maxNewTokens,
      temperature: settings.temperature,
      topK: settings.topK,
      topP: settings.topP,
      minP: settings.minP,
      repetitionPenalty: settings.repetitionPenalty,
      stopStrings: settings.stopStrings,
      kvCache: settings.kvCache,
      decode,
      rowSeeds: rows.map((r) => r.seed),
      eosIds: options.eosIds ?? c.eosIds,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (results.some((r) => r.finishReason === 'abort')) {
      // A batch cut short is not kept: its prompts are generated whole on resume.
      aborted = true;
      break;
    }
    for (const [s, r] of chunk.entries()) {
      const out = results.slice(s * K, (s + 1) * K);
      const conversational = r.templated || isConversational(r.p.prompt);
      const set: CandidateSet = {
        index: r.p.index,
        prompt: storedPrompt(r.p, r.templated),
        ...(r.p.system !== undefined ? { system: r.p.system } : {}),
        responses: out.map((x) => (conversational ? ([{ role: 'assistant', content: x.text ?? '' }] satisfies Message[]) : (x.text ?? ''))),
        tokens: out.reduce((a, x) => a + x.tokens.length, 0),
        finish: out.map((x) => x.finishReason),
      };
      tokens += set.tokens;
      sets.push(set);
      await options.onSet?.(set);
    }
    const ms = performance.now() - started;
    const done = Math.min(i0 + perBatch, ready.length);
    options.onProgress?.({ done, total: ready.length, tokens, ms, etaMs: done > 0 ? (ms / done) * (ready.length - done) : null });
  }
  return { sets, skipped, aborted, tokens };
}
