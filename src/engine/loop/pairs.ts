// Preference records from judged candidate sets. A judgement gives each candidate a score (null:
// the judge gave none, e.g. an answer that could not be read); candidates without a score take no
// part. Equal scores are ties, and a set a person marked "every response is bad" states no
// preference: neither ever becomes a pair, and a ranking needs two distinct ranks.
//
//   best-worst  the best scored candidate against the worst (Self-Rewarding LMs, iterative DPO)
//   all-gaps    every two candidates whose scores differ by more than minGap
//   rso         RSO (Liu et al. 2023, "Statistical Rejection Sampling Improves Preference
//               Optimization"): candidates are drawn at random and accepted with probability
//               exp((r - r_max) / β) until rsoSamples are accepted, none is left, or 100 draws
//               per candidate were made (a small β accepts little but the best); the accepted
//               ones, sorted by score, are paired first-second, third-fourth, ... (ties skipped)
//   ranking     one ranking record over the scored candidates, best first (dense ranks, ties
//               share a rank): listwise methods train on it, pair methods on its pairs
//
// Every record made keeps the candidates' provenance (model, adapter, round, sampling), the
// judgement (scores, and a model judge's prompts and raw answers) and the annotator `<judge>:<name>`.

import type { CandidatesRecord, Judgement, PairRecord, PrefRecord, RankingRecord } from '../../data/records.js';
import { seededRandom } from '../transformer/sampling.js';
import { candidateSeed } from './candidates.js';
import type { PairsSpec } from './config.js';

export interface MadePairs {
  records: PrefRecord[];
  /** Why no record came out, when none did (a tie, both bad, fewer than two scores). */
  none?: string;
}

/** Index pairs [chosen, rejected] the rule picks from `scores`. */
export function pickPairs(scores: readonly (number | null)[], spec: PairsSpec, promptIndex = 0): [number, number][] {
  const scored = scores.flatMap((s, i) => (s === null || !Number.isFinite(s) ? [] : [{ i, s }]));
  if (scored.length < 2) return [];
  switch (spec.rule) {
    case 'best-worst': {
      let best = scored[0]!;
      let worst = scored[0]!;
      for (const x of scored) {
        if (x.s > best.s) best = x;
        if (x.s < worst.s) worst = x;
      }
      return best.s > worst.s ? [[best.i, worst.i]] : [];
    }
    case 'all-gaps': {
      const out: [number, number][] = [];
      for (const a of scored) for (const b of scored) if (a.s - b.s > spec.minGap && a.s > b.s) out.push([a.i, b.i]);
      return out;
    }
    case 'rso': {
      const random = seededRandom(candidateSeed(spec.seed, promptIndex, 0x7f50));
      const max = Math.max(...scored.map((x) => x.s));
      const want = Math.min(spec.rsoSamples ?? scored.length, scored.length);
      const left = [...scored];
      const accepted: typeof scored = [];
      // Each draw picks a remaining candidate uniformly (the best one is always accepted when drawn).
      for (let draws = 0; accepted.length < want && left.length > 0 && draws < 100 * scored.length; draws++) {
        const j = Math.floor(random() * left.length);
        const x = left[j]!;
        if (random() < Math.exp((x.s - max) / spec.rsoBeta)) {
          accepted.push(x);
          left.splice(j, 1);
        }
      }
      accepted.sort((a, b) => b.s - a.s || a.i - b.i);
      const out: [number, number][] = [];
      for (let k = 0; k + 1 < accepted.length; k += 2) if (accepted[k]!.s > accepted[k + 1]!.s) out.push([accepted[k]!.i, accepted[k + 1]!.i]);
      return out;
    }
    case 'ranking':
      throw new Error('pickPairs: a ranking is one record, not pairs (use pairsFromJudgement)');
  }
}

/** Dense ranks of the scored candidates (1 is best; equal scores share a rank); null where unscored. */
export function ranksOf(scores: readonly (number | null)[]): (number | null)[] {
  const distinct = [...new Set(scores.filter((s): s is number => s !== null && Number.isFinite(s)))].sort((a, b) => b - a);
  return scores.map((s) => (s === null || !Number.isFinite(s) ? null : distinct.indexOf(s) + 1));
}

/** The annotator a judgement's records carry. */
export function judgeAnnotator(j: Pick<Judgement, 'judge' | 'name'>): string {
  return `${j.judge}:${j.name}`;
}

/** The preference records a judged candidate set gives under `spec` (see the file header). */
export function pairsFromJudgement(set: CandidatesRecord, judgement: Judgement, spec: PairsSpec): MadePairs {
  if (judgement.scores.length !== set.responses.length) throw new Error(`the judgement has ${judgement.scores.length} scores for ${set.responses.length} candidates`);
  if (judgement.bothBad) return { records: [], none: 'every response is bad: no preference' };
  const scored = judgement.scores.filter((s) => s !== null && Number.isFinite(s)).length;
  if (scored < 2) return { records: [], none: `${scored} of ${set.responses.length} candidates have a score: nothing to compare` };
  const promptIndex = set.source.type === 'generated' ? (set.source.promptIndex ?? 0) : 0;
  const base = {
    prompt: set.prompt,
    ...(set.system !== undefined ? { system: set.system } : {}),
    source: set.source,
    annotator: judgeAnnotator(judgement),
    annotatedAt: judgement.at,
    createdAt: judgement.at,
    split: set.split,
    tags: [...new Set([...set.tags, 'judged'])],
    judgement,
  };
  if (spec.rule === 'ranking') {
    const ranks = ranksOf(judgement.scores);
    const keep = ranks.flatMap((r, i) => (r === null ? [] : [i]));
    if (new Set(keep.map((i) => ranks[i])).size < 2) return { records: [], none: 'every scored candidate has the same score: a tie' };
    const record: RankingRecord = {
      kind: 'ranking',
      ...base,
      responses: keep.map((i) => set.responses[i]!),
      ranks: keep.map((i) => ranks[i]!),
      judgement: { ...judgement, scores: keep.map((i) => judgement.scores[i]!) },
    };
    return { records: [record] };
  }
  const picked = pickPairs(judgement.scores, spec, promptIndex);
  if (picked.length === 0) return { records: [], none: 'no two candidates differ enough in score: a tie' };
  const records = picked.map(
    ([c, r]): PairRecord => ({
      kind: 'pair',
      ...base,
      chosen: set.responses[c]!,
      rejected: set.responses[r]!,
      scores: { chosen: judgement.scores[c]!, rejected: judgement.scores[r]! },
      // Only a ranking's judgement must have one score per response; a pair keeps the whole set's.
      judgement,
    }),
  );
  return { records };
}
