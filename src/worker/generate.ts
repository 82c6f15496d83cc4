// Sampling from the active model for the playground (and any caller): the prompt (text or a
// conversation, with its system prompt) into tokens as training does (engine/model/prompt.ts,
// optionally through the chat template), our KV-cache generation on the GPU, the text streamed
// back as it grows. A LoRA adapter can be plugged into the model for one request by id; the
// training module provides the adapters through setAdapterResolver.
import { PromptError, promptTokenIds, type PromptTokenizer } from '../engine/model/prompt.js';
import { generate } from '../engine/transformer/generate.js';
import type { TransformerModel } from '../engine/transformer/model.js';
import { WorkerTaskError } from './errors.js';
import { withGpu } from './engine.js';
import { getActiveModel } from './models.js';
import type { GenerateRequest, GenerationEvent, GenerationSummary } from './protocol.js';

/**
 * Attaches adapter `adapterId` to `model` (fills LinearWeights.adapter) and returns the function
 * that detaches it. Throws when there is no such adapter for this model.
 */
export type AdapterResolver = (adapterId: string, model: TransformerModel, modelId: string) => Promise<() => void> | (() => void);

let resolveAdapter: AdapterResolver | null = null;

/** The training module registers how an adapter id becomes adapters on the model's layers. */
export function setAdapterResolver(resolver: AdapterResolver | null): void {
  resolveAdapter = resolver;
}

/**
 * The part of `text` safe to show now: without a trailing broken UTF-8 sequence (U+FFFD from a
 * partial byte-level token) and without a tail that could be the start of a stop string.
 */
export function streamableText(text: string, stopStrings: readonly string[]): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === '\uFFFD') end--;
  let safe = text.slice(0, end);
  for (const stop of stopStrings) {
    if (!stop) continue;
    const at = safe.indexOf(stop);
    if (at >= 0) safe = safe.slice(0, at);
  }
  let hold = 0;
  for (const stop of stopStrings) {
    for (let n = Math.min(stop.length - 1, safe.length); n > hold; n--) {
      if (safe.endsWith(stop.slice(0, n))) {
        hold = n;
        break;
      }
    }
  }
  return safe.slice(0, safe.length - hold);
}

export function checkSettings(r: GenerateRequest): void {
  const bad = (field: string, why: string) => new WorkerTaskError('bad-settings', `${field}: ${why}`, { field });
  if (!(Number.isFinite(r.temperature) && r.temperature >= 0)) throw bad('temperature', `${r.temperature} must be 0 (greedy) or more`);
  if (!(Number.isInteger(r.topK) && r.topK >= 0)) throw bad('top-k', `${r.topK} must be a whole number, 0 for off`);
  if (!(r.topP > 0 && r.topP <= 1)) throw bad('top-p', `${r.topP} must be in (0, 1], 1 for off`);
  if (!(Number.isInteger(r.maxNewTokens) && r.maxNewTokens >= 1)) throw bad('max new tokens', `${r.maxNewTokens} must be a whole number of at least 1`);
  if (!Number.isInteger(r.seed)) throw bad('seed', `${r.seed} must be a whole number`);
}

export async function generateText(request: GenerateRequest, signal: AbortSignal, onEvent?: (e: GenerationEvent) => void): Promise<GenerationSummary> {
  const started = performance.now();
  checkSettings(request);
  return withGpu(async () => {
    const slot = getActiveModel();
    if (!slot) throw new WorkerTaskError('no-model', 'no model is loaded: load or select one on the Models page first');
    const tok = slot.tokenizer;
    if (!tok) throw new WorkerTaskError('no-tokenizer', `${slot.manifest.name} has no tokenizer.json, so text cannot be turned into tokens`);
    let ids = requestPromptIds(request, tok, slot.manifest.name);
    if (ids.length === 0) {
      if (slot.config.bosId === null) throw new WorkerTaskError('empty-prompt', 'the prompt is empty and the model has no BOS token to start from: type a prompt');
      ids = [slot.config.bosId];
    }
    const context = slot.config.maxPositions;
    if (ids.length >= context) {
      throw new WorkerTaskError('prompt-too-long', `the prompt is ${ids.length} tokens; ${slot.manifest.name} reads at most ${context}, with room left for the answer`, { promptTokens: ids.length, context });
    }
    const maxNewTokens = Math.min(request.maxNewTokens, context - ids.length);

    const detach = request.adapterId ? await attach(request.adapterId, slot.model, slot.id) : null;
    try {
      const decode = (t: number[]) => tok.decode(t, { skipSpecialTokens: true });
      const stops = request.stopStrings.filter((s) => s.length > 0);
      const tokens: number[] = [];
      let shown = '';
      const send = (delta: string) => {
        if (delta) void Promise.resolve(onEvent?.({ delta, tokens: tokens.length })).catch(() => {});
      };
      const [result] = await generate(slot.model, [ids], {
        maxNewTokens,
        temperature: request.temperature,
        topK: request.topK,
        topP: request.topP,
        seed: request.seed,
        eosIds: slot.eosIds,
        stopStrings: stops,
        decode,
        signal,
        onToken: ({ token }) => {
          tokens.push(token);
          const safe = streamableText(decode(tokens), stops);
          if (safe.length > shown.length && safe.startsWith(shown)) {
            send(safe.slice(shown.length));
            shown = safe;
          }
        },
      });
      const text = result!.text ?? '';
      if (text.startsWith(shown)) send(text.slice(shown.length));
      return { text, finishReason: result!.finishReason, promptTokens: ids.length, tokens: result!.tokens.length, ms: performance.now() - started };
    } finally {
      detach?.();
    }
  });
}

/** The request's prompt as token ids (promptTokenIds: the whole conversation and system prompt); refusals become task errors. */
export function requestPromptIds(request: Pick<GenerateRequest, 'prompt' | 'system' | 'useChatTemplate'>, tok: PromptTokenizer, modelName: string): number[] {
  try {
    return promptTokenIds(tok, { prompt: request.prompt, ...(request.system !== undefined ? { system: request.system } : {}) }, request.useChatTemplate);
  } catch (e) {
    if (e instanceof PromptError) throw new WorkerTaskError(e.code, `${modelName}: ${e.message}`);
    throw e;
  }
}

async function attach(adapterId: string, model: TransformerModel, modelId: string): Promise<() => void> {
  if (!resolveAdapter) throw new WorkerTaskError('no-adapter', `no adapter "${adapterId}": no adapters are available yet (train one first)`, { adapterId });
  return resolveAdapter(adapterId, model, modelId);
}
