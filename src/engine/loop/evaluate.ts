// A round's evaluation: samples of round k's policy and of round k-1's on the same held-out
// prompts with the same seeds (sample s of prompt i draws from candidateSeed(seed, i, s) in both),
// scored by the round's judge; round k wins a comparison when its sample scores higher. The win
// rate counts a tie as half a win: (wins + ties / 2) / comparisons. A pairwise model judge
// compares the two samples directly (positions swapped); the other judges score each sample.

import type { Turns } from '../../data/records.js';
import type { TransformerModel } from '../transformer/model.js';
import { generateCandidateSets, type CandidatePrompt, type CandidateTokenizer } from './candidates.js';
import type { EvaluationSettings, GenerationSettings } from './config.js';

export interface HeldOutSamples {
  index: number;
  prompt: Turns;
  system?: string;
  /** One per sample, in sample order. */
  responses: Turns[];
}

/** The sampling of the held-out samples: the round's generation settings with the evaluation's overrides. */
export function evaluationSampling(gen: GenerationSettings, ev: EvaluationSettings): GenerationSettings {
  return { ...gen, n: ev.samples, seed: ev.seed, ...(ev.temperature !== undefined ? { temperature: ev.temperature } : {}), ...(ev.maxNewTokens !== undefined ? { maxNewTokens: ev.maxNewTokens } : {}) };
}

/** Samples of the model as it is now (attach the policy's adapter first) on the held-out prompts. */
export async function heldOutSamples(
  model: TransformerModel,
  tok: CandidateTokenizer,
  prompts: readonly CandidatePrompt[],
  sampling: GenerationSettings,
  options: { eosIds?: number[]; batchRows?: number; signal?: AbortSignal } = {},
): Promise<HeldOutSamples[]> {
  const r = await generateCandidateSets(model, tok, prompts, sampling, options);
  return r.sets.map((s) => ({ index: s.index, prompt: s.prompt, ...(s.system !== undefined ? { system: s.system } : {}), responses: s.responses }));
}

export interface WinRate {
  wins: number;
  ties: number;
  losses: number;
  /** Comparisons (pairs of samples both scored). */
  comparisons: number;
  /** (wins + ties / 2) / comparisons; 0.5 when nothing could be compared. */
  winRate: number;
}

/** Round k's scores against round k-1's, sample by sample (null: unscored, not compared). */
export function winRate(current: readonly (number | null)[], previous: readonly (number | null)[]): WinRate {
  if (current.length !== previous.length) throw new Error(`win rate: ${current.length} samples against ${previous.length}`);
  let wins = 0;
  let ties = 0;
  let losses = 0;
  current.forEach((c, i) => {
    const p = previous[i];
    if (c === null || p === null || p === undefined) return;
    if (c > p) wins++;
    else if (c < p) losses++;
    else ties++;
  });
  const comparisons = wins + ties + losses;
  return { wins, ties, losses, comparisons, winRate: comparisons ? (wins + ties / 2) / comparisons : 0.5 };
}

/** The mean of the scores given (null when none). */
export function meanScore(scores: readonly (number | null)[]): number | null {
  const xs = scores.filter((s): s is number => s !== null);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}
