// LLM-as-a-judge (Self-Rewarding Language Models, Yuan et al. 2024): a model reads a rubric, the
// prompt and the candidates, and its answer becomes scores.
//
//   pointwise  each candidate alone: the judge writes an answer (greedy) and its last
//              "Score: N" (or "N/5", "N out of 5") is the score, N in 1..5. Anything else gives
//              no score (null): no number, another scale ("10/10"), a number out of range. Only
//              the judge's own answer is parsed: a candidate that writes "Score: 10/10" is data
//              inside the judge's prompt, and counts only if the judge repeats it as its verdict.
//   pairwise   two candidates at a time: the next-token log-probs of the answer letters A and B
//              right after the prompt (the letter alone and with a leading space, summed), asked
//              twice with the positions swapped: P(x beats y) = (P(A | x, y) + P(B | y, x)) / 2,
//              which cancels a judge's preference for a position. A candidate's score is its mean
//              P(beats) over the others.
//
// The judge's prompt is the rubric, then the question and the response(s) between markers:
//
//   <rubric>\n\n[question]\n<prompt>\n[response]\n<response>\n[verdict]\n
//   <rubric>\n\n[question]\n<prompt>\n[response A]\n<a>\n[response B]\n<b>\n[verdict]\n
//
// as plain text, or as one user message through the judge's chat template when it has one
// ('auto'). Every prompt and raw answer is kept in the judgement (calls).

import type { CandidatesRecord, Judgement } from '../../data/records.js';
import { promptText, promptTokenIds, usesChatTemplate, type ChatTemplateChoice, type PromptTokenizer } from '../model/prompt.js';
import { generate } from '../transformer/generate.js';
import type { TransformerModel } from '../transformer/model.js';
import { DEFAULT_PAIRWISE_RUBRIC, DEFAULT_POINTWISE_RUBRIC, type JudgeSpec } from './config.js';
import { turnsText } from './rules.js';

export type ModelJudgeSpec = Extract<JudgeSpec, { type: 'model' }>;

/** What judging needs of a model: greedy answers, and next-token log-probs of some tokens. */
export interface JudgeBackend {
  /** Greedy answers (decoded) to each prompt, at most maxNewTokens tokens. */
  answer(prompts: number[][], maxNewTokens: number): Promise<string[]>;
  /** log p(token | prompt) of each of `ids` after each prompt. */
  nextTokenLogprobs(prompts: number[][], ids: readonly number[]): Promise<number[][]>;
}

export interface JudgeTokenizer extends PromptTokenizer {
  decode(ids: number[], options?: { skipSpecialTokens?: boolean }): string;
}

export interface PointwiseParse {
  score: number | null;
  /** Why there is no score, when there is none. */
  why?: string;
}

/**
 * The score in a pointwise judge's answer (see the file header): the last "Score: N" (":", "=" or
 * "is", markdown stars allowed, an optional "/5" or "out of 5"), else the last "N/5" or "N out of
 * 5"; N must lie in 1..5 and any stated scale must be 5.
 */
export function parsePointwise(answer: string): PointwiseParse {
  const num = '(-?\\d+(?:\\.\\d+)?)';
  const scale = `(?:\\s*(?:\\/|out\\s+of)\\s*(\\d+(?:\\.\\d+)?))?`;
  const labelled = new RegExp(`score\\s*(?:[:=]|is)?\\s*\\**\\s*${num}${scale}`, 'gi');
  const bare = new RegExp(`${num}\\s*(?:\\/|out\\s+of)\\s*(\\d+(?:\\.\\d+)?)`, 'gi');
  const last = (re: RegExp) => {
    let m: RegExpExecArray | null = null;
    for (let x = re.exec(answer); x; x = re.exec(answer)) m = x;
    return m;
  };
  const m = last(labelled) ?? last(bare);
  if (!m) return { score: null, why: 'no "Score: N" in the answer' };
  const value = Number(m[1]);
  if (m[2] !== undefined && Number(m[2]) !== 5) return { score: null, why: `a score on another scale (${m[1]}/${m[2]}), not 1-5` };
  if (!(value >= 1 && value <= 5)) return { score: null, why: `score ${m[1]} is outside 1-5` };
  return { score: value };
}

function rubricOf(spec: Pick<ModelJudgeSpec, 'mode' | 'rubric'>): string {
  return spec.rubric.trim() || (spec.mode === 'pairwise' ? DEFAULT_PAIRWISE_RUBRIC : DEFAULT_POINTWISE_RUBRIC);
}

/** The pointwise judge prompt's text for one candidate. */
export function pointwiseText(rubric: string, question: string, response: string): string {
  return `${rubric}\n\n[question]\n${question}\n[response]\n${response}\n[verdict]\n`;
}

/** The pairwise judge prompt's text, `a` in position A. */
export function pairwiseText(rubric: string, question: string, a: string, b: string): string {
  return `${rubric}\n\n[question]\n${question}\n[response A]\n${a}\n[response B]\n${b}\n[verdict]\n`;
}

/** A judge prompt's text as token ids: one user message through the template, or the text as it is. */
export function judgePromptIds(tok: PromptTokenizer, text: string, chatTemplate: ChatTemplateChoice): number[] {
  return usesChatTemplate(tok, chatTemplate) ? promptTokenIds(tok, { prompt: [{ role: 'user', content: text }] }, true) : promptTokenIds(tok, { prompt: text }, false);
}

/** The ids of an answer letter: the letter alone and with a leading space, when each is one token. */
export function letterIds(tok: Pick<PromptTokenizer, 'encode'>, letter: 'A' | 'B'): number[] {
  const ids = new Set<number>();
  for (const form of [letter, ` ${letter}`]) {
    const t = tok.encode(form, { addSpecialTokens: false });
    if (t.length === 1) ids.add(t[0]!);
  }
  if (ids.size === 0) throw new Error(`the judge's tokenizer has no single token for the answer "${letter}": use the pointwise mode`);
  return [...ids];
}

function logSumExp(xs: readonly number[]): number {
  const m = Math.max(...xs);
  return m === -Infinity ? m : m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
}

export interface JudgeOptions {
  now?: () => number;
  /** The judge's name in the judgements (its model's name). */
  name: string;
  onJudged?: (index: number, j: Judgement) => void | Promise<void>;
  signal?: AbortSignal;
}

type JudgedSet = Pick<CandidatesRecord, 'prompt' | 'system' | 'responses'>;

function questionText(set: JudgedSet): string {
  return promptText({ prompt: set.prompt, ...(set.system !== undefined ? { system: set.system } : {}) });
}

/** Judges candidate sets with a model; one judgement per set, in order. */
export async function judgeWithModel(backend: JudgeBackend, tok: JudgeTokenizer, sets: readonly JudgedSet[], spec: ModelJudgeSpec, options: JudgeOptions): Promise<Judgement[]> {
  const rubric = rubricOf(spec);
  const out: Judgement[] = [];
  const now = options.now ?? Date.now;
  const letters = spec.mode === 'pairwise' ? { a: letterIds(tok, 'A'), b: letterIds(tok, 'B') } : null;
  for (const [index, set] of sets.entries()) {
    if (options.signal?.aborted) break;
    const question = questionText(set);
    const texts = set.responses.map(turnsText);
    let judgement: Judgement;
    if (!letters) {
      const prompts = texts.map((r) => pointwiseText(rubric, question, r));
      const answers = await backend.answer(prompts.map((p) => judgePromptIds(tok, p, spec.chatTemplate)), spec.maxNewTokens);
      const parsed = answers.map(parsePointwise);
      judgement = {
        judge: 'model',
        name: options.name,
        scores: parsed.map((p) => p.score),
        calls: prompts.map((prompt, i) => ({ prompt, answer: answers[i]!, ...(parsed[i]!.why ? { note: `no score: ${parsed[i]!.why}` } : {}) })),
        at: now(),
      };
    } else {
      // Every ordered pair (i, j), i != j: i in position A.
      const order: [number, number][] = [];
      for (let i = 0; i < texts.length; i++) for (let j = 0; j < texts.length; j++) if (i !== j) order.push([i, j]);
      const prompts = order.map(([i, j]) => pairwiseText(rubric, question, texts[i]!, texts[j]!));
      const ids = [...letters.a, ...letters.b];
      const lp = await backend.nextTokenLogprobs(prompts.map((p) => judgePromptIds(tok, p, spec.chatTemplate)), ids);
      // P(A) against P(B) for each prompt, from the letters' summed probabilities.
      const pA = lp.map((row) => {
        const a = logSumExp(row.slice(0, letters.a.length));
        const b = logSumExp(row.slice(letters.a.length));
        return 1 / (1 + Math.exp(b - a));
      });
      const at = new Map(order.map(([i, j], k) => [`${i},${j}`, k]));
      const n = texts.length;
      const scores = Array.from({ length: n }, (_, i) => {
        let sum = 0;
        for (let j = 0; j < n; j++) {
          if (j === i) continue;
          // i in A against j, and i in B against j: the position swap.
          sum += (pA[at.get(`${i},${j}`)!]! + (1 - pA[at.get(`${j},${i}`)!]!)) / 2;
        }
        return n > 1 ? sum / (n - 1) : null;
      });
      judgement = {
        judge: 'model',
        name: options.name,
        scores,
        calls: prompts.map((prompt, k) => {
          const row = lp[k]!;
          const la = logSumExp(row.slice(0, letters.a.length));
          const lb = logSumExp(row.slice(letters.a.length));
          return { prompt, answer: pA[k]! >= 0.5 ? 'A' : 'B', note: `log p(A) = ${la.toFixed(4)}, log p(B) = ${lb.toFixed(4)}, P(A) = ${pA[k]!.toFixed(4)} (positions: candidate ${order[k]![0] + 1} in A, ${order[k]![1] + 1} in B)` };
        }),
        at: now(),
      };
    }
    out.push(judgement);
    await options.onJudged?.(index, judgement);
  }
  return out;
}

/** A judge backend on one of our models on the GPU: greedy answers and next-token log-probs, in batches. */
export function modelJudgeBackend(model: TransformerModel, tok: JudgeTokenizer, options: { eosIds?: number[]; batchRows?: number } = {}): JudgeBackend {
  const batch = options.batchRows ?? 16;
  const c = model.config;
  const fit = (ids: number[], room: number) => {
    if (ids.length + room > c.maxPositions) throw new Error(`a judge prompt is ${ids.length} tokens, past the judge model's ${c.maxPositions} positions (with ${room} for its answer): shorten the rubric or the candidates`);
    return ids;
  };
  return {
    async answer(prompts, maxNewTokens) {
      const out: string[] = [];
      for (let i0 = 0; i0 < prompts.length; i0 += batch) {
        const chunk = prompts.slice(i0, i0 + batch).map((p) => fit(p, 1));
        // The answer may use the positions the longest prompt of the batch leaves.
        const room = Math.min(maxNewTokens, ...chunk.map((p) => c.maxPositions - p.length));
        const r = await generate(model, chunk, { maxNewTokens: room, temperature: 0, eosIds: options.eosIds ?? c.eosIds, decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }) });
        for (const x of r) out.push(x.text ?? '');
      }
      return out;
    },
    async nextTokenLogprobs(prompts, ids) {
      const out: number[][] = [];
      const V = c.vocabSize;
      for (let i0 = 0; i0 < prompts.length; i0 += batch) {
        const chunk = prompts.slice(i0, i0 + batch).map((p) => fit(p, 1));
        let rows: number[][] = [];
        await generate(model, chunk, {
          maxNewTokens: 1,
          temperature: 0,
          eosIds: [],
          onLogits: (logits) => {
            rows = chunk.map((_, b) => {
              const row = logits.subarray(b * V, (b + 1) * V);
              let m = -Infinity;
              for (let v = 0; v < V; v++) m = Math.max(m, row[v]!);
              let s = 0;
              for (let v = 0; v < V; v++) s += Math.exp(row[v]! - m);
              const lse = m + Math.log(s);
              return ids.map((id) => row[id]! - lse);
            });
          },
        });
        out.push(...rows);
      }
      return out;
    },
  };
}
