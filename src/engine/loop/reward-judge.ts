// The implicit reward as a judge (RSO-style rejection sampling; DPO's reward): a candidate's
// score is β · (log π(y|x) - log π_ref(y|x)), the summed completion log-probs under a tuned
// adapter and under its reference (the base model, or base plus another adapter), each sequence
// tokenized as training tokenizes it (training/tokenize.ts encodeCompletion). A candidate training
// would skip (a conversation without a chat template, ...) gets no score (null), with the reason.

import type { CandidatesRecord, Judgement } from '../../data/records.js';
import type { LoraAdapter } from '../lora/adapter.js';
import { encodeCompletion, type TrainingTokenizer } from '../training/tokenize.js';
import { sequenceLogprobs, type SequencePair } from '../transformer/logprobs.js';
import type { TransformerModel } from '../transformer/model.js';

/** Summed completion log-probs of sequences under the policy (the tuned adapter) or its reference. */
export type RewardScorer = (batch: SequencePair[], which: 'policy' | 'reference') => Promise<number[]>;

/**
 * A scorer on a model with the tuned adapter `policy` and, for the reference, `reference` (another
 * adapter) or nothing (the base): each is attached only while it scores.
 */
export function adapterRewardScorer(model: TransformerModel, policy: LoraAdapter, reference: LoraAdapter | null, batchRows = 16): RewardScorer {
  return async (batch, which) => {
    const on = which === 'policy' ? policy : reference;
    const off = which === 'policy' ? reference : policy;
    off?.detach();
    on?.attach();
    try {
      const out: number[] = [];
      for (let i0 = 0; i0 < batch.length; i0 += batchRows) {
        for (const s of await sequenceLogprobs(model, batch.slice(i0, i0 + batchRows))) out.push(s.logp);
      }
      return out;
    } finally {
      on?.detach();
    }
  };
}

export async function judgeWithReward(
  scorer: RewardScorer,
  tok: TrainingTokenizer,
  sets: readonly Pick<CandidatesRecord, 'prompt' | 'system' | 'responses'>[],
  options: { beta: number; name: string; now?: () => number; onJudged?: (index: number, j: Judgement) => void | Promise<void>; signal?: AbortSignal },
): Promise<Judgement[]> {
  const out: Judgement[] = [];
  for (const [index, set] of sets.entries()) {
    if (options.signal?.aborted) break;
    const seqs: (SequencePair | string)[] = set.responses.map((r) => {
      try {
        return encodeCompletion(tok, { prompt: set.prompt, ...(set.system !== undefined ? { system: set.system } : {}) }, r);
      } catch (e) {
        return (e as Error).message;
      }
    });
    const ok = seqs.filter((s): s is SequencePair => typeof s !== 'string');
    const [pol, ref] = ok.length ? [await scorer(ok, 'policy'), await scorer(ok, 'reference')] : [[], []];
    let k = 0;
    const scores = seqs.map((s) => (typeof s === 'string' ? null : options.beta * (pol[k]! - ref[k++]!)));
    const notes = seqs.flatMap((s, i) => (typeof s === 'string' ? [`candidate ${i + 1}: no score: ${s}`] : []));
    const j: Judgement = {
      judge: 'reward',
      name: options.name,
      scores,
      ...(notes.length ? { calls: notes.map((note) => ({ prompt: '', answer: '', note })) } : {}),
      at: (options.now ?? Date.now)(),
    };
    out.push(j);
    await options.onJudged?.(index, j);
  }
  return out;
}
