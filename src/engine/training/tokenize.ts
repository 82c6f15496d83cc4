// Preference records -> token sequences, as TRL 1.x's DPOTrainer/KTOTrainer prepare them:
//
//   text records      : chosen += eos_token (unless it already ends with it: TRL's add_eos);
//                       prompt_ids = tok(prompt), prompt_chosen = tok(prompt + chosen), both with
//                       the tokenizer's own special tokens (BOS is the tokenizer's business);
//                       chosen_ids = prompt_chosen[len(prompt_ids):]
//   conversational    : the chat template: prompt_ids = template(prompt, add_generation_prompt),
//                       prompt_chosen = template(prompt + chosen), same split; `system` goes first
//   prompt_ids        : model/prompt.ts promptTokenIds (template on exactly for conversational
//                       records), the definition every generation path shares
//   truncation        : max_prompt_length and max_completion_length (TRL 0.x, off by default)
//                       first, then max_length on prompt + completion per row: keep_start keeps
//                       the first max_length tokens, keep_end the last. Under keep_start an
//                       example whose prompt alone fills max_length is dropped (TRL #6321).
//
// When tok(prompt) is not a prefix of tok(prompt + completion) (a merge across the boundary),
// TRL warns and still splits at len(prompt_ids); so do we, and the warning is returned.
//
// Which records a method trains on:
//   pair methods (dpo family, orpo, simpo, sft): pairs (ties and both-bad pairs left out: they
//     state no preference) and rankings as every
//     pair of responses with different ranks;  step_dpo also takes step-wise records: the prompt
//     and the accepted steps joined by step_separator form the prompt, the chosen and rejected
//     steps the completions.
//   kto: unpaired records; pairs unpaired as TRL's unpair_preference_dataset does (chosen
//     desirable, rejected undesirable; both undesirable for a both-bad pair); rankings give the
//     best responses desirable and the worst undesirable. The KL completions are assigned here,
//     per split in dataset order, in chunks of the batch size, rotated by one within the chunk
//     ((x1, yn), (x2, y1), ...), as TRL's _get_kl_dataset did: each example's KL pair is fixed,
//     so its reference log-prob can be cached with it.
//   listwise: rankings, responses sorted best first (ties keep their order; a ranking whose
//     responses all share one rank is left out); pairs as rankings of two (not ties or both bad).
//   no method: prompts (awaiting generation) and candidate sets (awaiting judgement): they state
//     no preference; the on-policy loop turns them into pairs first (engine/loop).

import type { SequencePair } from '../transformer/logprobs.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { promptMessages, promptTokenIds } from '../model/prompt.js';
import type { Message, PrefRecord, Split, Turns } from '../../data/records.js';
import type { TrainingConfig, TruncationMode } from './config.js';
import { exampleShape } from './config.js';
import { METHODS, methodsFor } from '../methods/registry.js';

const stepwiseMethods = () => methodsFor('stepwise').join(' or ');

/** What tokenization needs of ModelTokenizer (the prompt side goes through model/prompt.ts promptTokenIds). */
export interface TrainingTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  encodeChat(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): number[];
  readonly eos: { token: string; id: number | null } | null;
  readonly chatTemplate: string | null;
}

export type ExampleKind = 'pair' | 'kto' | 'listwise';

export interface Example {
  /** Index of the record it came from. */
  record: number;
  split: Split;
  kind: ExampleKind;
  /** pair: [chosen, rejected]; kto: [completion, KL completion]; listwise: responses best first. */
  sequences: SequencePair[];
  /** kto: desirable. */
  label?: boolean;
}

export interface TokenizedData {
  examples: Example[];
  skipped: { record: number; reason: string }[];
  warnings: string[];
}

export type TokenizeSettings = Pick<
  TrainingConfig,
  'method' | 'max_length' | 'max_prompt_length' | 'max_completion_length' | 'truncation_mode' | 'step_separator' | 'per_device_train_batch_size' | 'per_device_eval_batch_size'
>;

class Skip extends Error {}

/** A prompt and one completion as text or messages, before tokenization. */
interface RawPair {
  prompt: Turns;
  system?: string;
  completion: Turns;
}

export function tokenizeRecords(records: readonly PrefRecord[], tok: TrainingTokenizer, s: TokenizeSettings): TokenizedData {
  const shape = exampleShape(s as TrainingConfig);
  const out: TokenizedData = { examples: [], skipped: [], warnings: [] };
  let mismatches = 0;
  const encodePair = (raw: RawPair): SequencePair => {
    const r = encodeRaw(raw, tok);
    if (r.mismatch) mismatches++;
    return r.pair;
  };
  records.forEach((rec, index) => {
    try {
      for (const ex of recordExamples(rec, shape, s)) {
        const sequences = ex.sequences.map((raw) => truncate(encodePair(raw), s));
        out.examples.push({ record: index, split: rec.split, kind: shape, sequences, ...(ex.label !== undefined ? { label: ex.label } : {}) });
      }
    } catch (e) {
      if (!(e instanceof Skip)) throw e;
      out.skipped.push({ record: index, reason: e.message });
    }
  });
  if (mismatches > 0) {
    out.warnings.push(
      `${mismatches} sequence(s): the tokenized prompt is not a prefix of the tokenized prompt + completion (a token merges across the boundary); ` +
        'split at the prompt length, as TRL does',
    );
  }
  if (shape === 'kto') {
    for (const split of ['train', 'test'] as const) {
      const batch = split === 'train' ? s.per_device_train_batch_size : s.per_device_eval_batch_size;
      assignKlCompletions(out.examples.filter((e) => e.split === split), batch, s);
    }
  }
  return out;
}

interface RawExample {
  sequences: RawPair[];
  label?: boolean;
}

/** Why a record of the on-policy loop's kinds cannot train, or null for the other kinds. */
export function loopRecordSkip(r: Pick<PrefRecord, 'kind' | 'judgement'>): string | null {
  if (r.kind === 'prompt') return 'a prompt awaiting generation has no responses: generate candidates from it and judge them (Loop page; prefstudio generate, judge), then train on the pairs';
  if (r.kind === 'candidates') {
    return r.judgement
      ? 'judged candidates train through the pairs made from their judgement (the judge\'s output dataset), not as they are'
      : 'candidates awaiting judgement state no preference: judge them (Label or Loop page; prefstudio judge), then train on the pairs';
  }
  return null;
}

function recordExamples(r: PrefRecord, shape: ExampleKind, s: TokenizeSettings): RawExample[] {
  const loop = loopRecordSkip(r);
  if (loop) throw new Skip(loop);
  const sys = r.system !== undefined ? { system: r.system } : {};
  const seq = (completion: Turns, prompt: Turns = r.prompt): RawPair => ({ prompt, ...sys, completion });
  switch (shape) {
    case 'pair': {
      if (r.kind === 'pair') {
        noPreference(r);
        return [{ sequences: [seq(r.chosen), seq(r.rejected)] }];
      }
      if (r.kind === 'ranking') {
        const pairs: RawExample[] = [];
        r.ranks.forEach((ri, i) =>
          r.ranks.forEach((rj, j) => {
            if (ri < rj) pairs.push({ sequences: [seq(r.responses[i]!), seq(r.responses[j]!)] });
          }),
        );
        if (pairs.length === 0) throw new Skip('every response has the same rank');
        return pairs;
      }
      if (r.kind === 'stepwise') {
        if (!METHODS[s.method].kinds.includes('stepwise')) throw new Skip(`a step-wise record trains with ${stepwiseMethods()}, not ${s.method}`);
        const missing = stepDpoGap(r);
        if (missing || r.chosenStep === null || r.rejectedStep === null) throw new Skip(missing ?? 'no steps');
        if (typeof r.prompt !== 'string') throw new Skip('step-wise records are plain text');
        const context = stepContext(r.prompt, r.steps, s.step_separator);
        return [{ sequences: [seq(r.chosenStep, context), seq(r.rejectedStep, context)] }];
      }
      throw new Skip(`an unpaired record has no rejected response: train it with kto`);
    }
    case 'kto': {
      switch (r.kind) {
        case 'unpaired':
          return [{ sequences: [seq(r.completion)], label: r.label }];
        case 'pair':
          if (r.tie) throw new Skip('a tie says nothing about either response alone');
          return [
            { sequences: [seq(r.chosen)], label: !r.bothBad },
            { sequences: [seq(r.rejected)], label: false },
          ];
        case 'ranking': {
          const best = Math.min(...r.ranks);
          const worst = Math.max(...r.ranks);
          if (best === worst) throw new Skip('every response has the same rank');
          return r.responses.flatMap((resp, i) =>
            r.ranks[i] === best || r.ranks[i] === worst ? [{ sequences: [seq(resp)], label: r.ranks[i] === best }] : [],
          );
        }
        case 'stepwise':
          throw new Skip('a step-wise record has no completion to label');
      }
      break;
    }
    case 'listwise': {
      if (r.kind === 'ranking') {
        if (new Set(r.ranks).size === 1) throw new Skip('every response has the same rank');
        const order = r.responses.map((_, i) => i).sort((a, b) => r.ranks[a]! - r.ranks[b]! || a - b);
        return [{ sequences: order.map((i) => seq(r.responses[i]!)) }];
      }
      if (r.kind === 'pair') {
        noPreference(r);
        return [{ sequences: [seq(r.chosen), seq(r.rejected)] }];
      }
      throw new Skip(`a ${r.kind} record has no ranking`);
    }
  }
  throw new Skip(`cannot train ${r.kind} records with ${s.method}`);
}

/**
 * What a step-wise record lacks for step_dpo, or null: a correct version of the first wrong step
 * (typed, or generated from the model) and a wrong step. The Label page shows the same message
 * when such a label is given.
 */
export function stepDpoGap(r: Pick<Extract<PrefRecord, { kind: 'stepwise' }>, 'chosenStep' | 'rejectedStep'>): string | null {
  if (r.rejectedStep === null) return 'every step is marked right: step_dpo needs a wrong step to learn against (the record is kept for stepwise export)';
  if (r.chosenStep === null) return 'the first wrong step has no correction: step_dpo needs the correct version of that step (type one, or generate one from the model)';
  return null;
}

/**
 * The text a step-wise record's next step follows: the prompt and the accepted steps joined by the
 * step separator, then one more separator. step_dpo's prompt, and what the Label page asks the
 * model to continue when it generates a correct step.
 */
export function stepContext(prompt: string, steps: readonly string[], separator: string): string {
  return [prompt, ...steps].join(separator) + separator;
}

/** Ties and both-bad pairs state no preference: paired and listwise methods leave them out. */
function noPreference(r: Extract<PrefRecord, { kind: 'pair' }>): void {
  if (r.tie) throw new Skip('a tie has no preferred response');
  if (r.bothBad) throw new Skip('both responses are bad: there is no preferred one (KTO trains on them as two undesirable responses)');
}

function encodeRaw(raw: RawPair, tok: TrainingTokenizer): { pair: SequencePair; mismatch: boolean } {
  let promptIds: number[];
  let fullIds: number[];
  if (typeof raw.prompt === 'string' && typeof raw.completion === 'string') {
    if (raw.system !== undefined) throw new Skip('a system prompt needs conversational records');
    const eos = tok.eos?.token;
    const completion = eos && !raw.completion.endsWith(eos) ? raw.completion + eos : raw.completion;
    promptIds = promptTokenIds(tok, { prompt: raw.prompt }, false);
    fullIds = tok.encode(raw.prompt + completion);
  } else {
    if (!tok.chatTemplate) throw new Skip('conversational records need a chat template, and this tokenizer has none');
    const prompt = { prompt: raw.prompt, ...(raw.system !== undefined ? { system: raw.system } : {}) };
    promptIds = promptTokenIds(tok, prompt, true);
    fullIds = tok.encodeChat([...promptMessages(prompt), ...asMessages(raw.completion, 'assistant')]);
  }
  const n = promptIds.length;
  const mismatch = fullIds.length < n || promptIds.some((id, i) => fullIds[i] !== id);
  return { pair: { promptIds, completionIds: fullIds.slice(n) }, mismatch };
}

/**
 * One prompt and completion as training tokenizes them (no truncation): the sequence the implicit
 * reward and the loop score. Throws an Error saying why when training would skip it.
 */
export function encodeCompletion(tok: TrainingTokenizer, input: { prompt: Turns; system?: string }, completion: Turns): SequencePair {
  try {
    return encodeRaw({ prompt: input.prompt, ...(input.system !== undefined ? { system: input.system } : {}), completion }, tok).pair;
  } catch (e) {
    if (e instanceof Skip) throw new Error(e.message);
    throw e;
  }
}

function asMessages(t: Turns, role: 'user' | 'assistant'): Message[] {
  return typeof t === 'string' ? [{ role, content: t }] : t;
}

/** TRL's truncations of one row (see the file header). Throws Skip when nothing is left to score. */
export function truncate(p: SequencePair, s: Pick<TokenizeSettings, 'max_length' | 'max_prompt_length' | 'max_completion_length' | 'truncation_mode'>): SequencePair {
  let prompt = p.promptIds;
  let completion = p.completionIds;
  const keep = (ids: number[], n: number, mode: TruncationMode) => (ids.length <= n ? ids : mode === 'keep_start' ? ids.slice(0, n) : ids.slice(ids.length - n));
  if (s.max_prompt_length !== null) prompt = keep(prompt, s.max_prompt_length, s.truncation_mode);
  if (s.max_completion_length !== null) completion = keep(completion, s.max_completion_length, 'keep_start');
  const L = s.max_length;
  if (L !== null && prompt.length + completion.length > L) {
    if (s.truncation_mode === 'keep_start') {
      if (prompt.length >= L) throw new Skip(`the prompt alone (${prompt.length} tokens) fills max_length ${L}`);
      completion = completion.slice(0, L - prompt.length);
    } else {
      const cut = prompt.length + completion.length - L;
      if (cut <= prompt.length) prompt = prompt.slice(cut);
      else {
        completion = completion.slice(cut - prompt.length);
        prompt = [];
      }
    }
  }
  if (completion.length === 0) throw new Skip('no completion token is left');
  return { promptIds: prompt, completionIds: completion };
}

/** KTO's mismatched pairs: within each chunk of `batch` examples, prompt i with completion i-1. */
function assignKlCompletions(examples: Example[], batch: number, s: TokenizeSettings): void {
  for (let c0 = 0; c0 < examples.length; c0 += batch) {
    const chunk = examples.slice(c0, c0 + batch);
    const completions = chunk.map((e) => e.sequences[0]!.completionIds);
    chunk.forEach((e, i) => {
      const other = completions[(i - 1 + chunk.length) % chunk.length]!;
      // Truncated like any row; it cannot come out empty (the prompt already fits).
      e.sequences[1] = truncate({ promptIds: e.sequences[0]!.promptIds, completionIds: other }, s);
    });
  }
}

/** How many examples of each split, and the number of responses of listwise examples. */
export function splitCounts(examples: readonly Example[]): Record<Split, number> {
  const c = { train: 0, test: 0 };
  for (const e of examples) c[e.split]++;
  return c;
}
