// Pairs from judgements: best vs worst, every pair with a score gap, RSO's rejection sampling and
// rankings; unscored candidates take no part; ties and "every response is bad" never become a
// preference; the records keep the candidates' provenance and the judgement.
import { describe, expect, it } from 'vitest';
import type { CandidatesRecord, Judgement, PairRecord } from '../../src/data/records.js';
import { validateRecord } from '../../src/data/validate.js';
import { PairsSpecSchema, type PairsSpec } from '../../src/engine/loop/config.js';
import { pairsFromJudgement, pickPairs, ranksOf } from '../../src/engine/loop/pairs.js';

const spec = (s: Partial<PairsSpec> = {}) => PairsSpecSchema.parse(s);
const set = (n: number): CandidatesRecord => ({
  kind: 'candidates',
  prompt: 'Life is',
  responses: Array.from({ length: n }, (_, i) => ` r${i}`),
  source: { type: 'generated', model: 'demo', adapter: 'round 1', round: 2, promptIndex: 5, sampling: { temperature: 1, seed: 3, n } },
  createdAt: 0,
  split: 'train',
  tags: ['generated'],
});
const judged = (scores: (number | null)[], extra: Partial<Judgement> = {}): Judgement => ({ judge: 'model', name: 'demo', scores, at: 99, calls: [{ prompt: 'judge this', answer: 'Score: 4' }], ...extra });

describe('pairs from judgements', () => {
  it('best-worst: one pair, the highest against the lowest score; unscored candidates left out', () => {
    expect(pickPairs([2, null, 5, -1], spec())).toEqual([[2, 3]]);
    const r = pairsFromJudgement(set(4), judged([2, null, 5, -1]), spec());
    expect(r.records).toHaveLength(1);
    const p = r.records[0] as PairRecord;
    expect(p).toMatchObject({ kind: 'pair', prompt: 'Life is', chosen: ' r2', rejected: ' r3', scores: { chosen: 5, rejected: -1 }, annotator: 'model:demo', split: 'train' });
    expect(p.source).toEqual(set(4).source);
    expect(p.judgement?.calls).toEqual([{ prompt: 'judge this', answer: 'Score: 4' }]);
    expect(p.tags).toEqual(['generated', 'judged']);
    expect(validateRecord(p).ok).toBe(true);
  });

  it('all-gaps: every two with a gap above minGap, higher first', () => {
    expect(pickPairs([1, 3, 2, 3], spec({ rule: 'all-gaps' }))).toEqual([[1, 0], [1, 2], [2, 0], [3, 0], [3, 2]]);
    expect(pickPairs([1, 3, 2, 3], spec({ rule: 'all-gaps', minGap: 1 }))).toEqual([[1, 0], [3, 0]]);
  });

  it('ties, both bad and fewer than two scores make no record, with the reason', () => {
    for (const rule of ['best-worst', 'all-gaps', 'rso', 'ranking'] as const) {
      expect(pairsFromJudgement(set(3), judged([2, 2, 2]), spec({ rule })).records, rule).toEqual([]);
      expect(pairsFromJudgement(set(3), judged([3, 1, 2], { bothBad: true }), spec({ rule }))).toEqual({ records: [], none: 'every response is bad: no preference' });
      expect(pairsFromJudgement(set(3), judged([null, 1, null]), spec({ rule })).none).toBe('1 of 3 candidates have a score: nothing to compare');
    }
  });

  it('ranking: one record over the scored candidates, dense ranks, ties sharing a rank', () => {
    expect(ranksOf([2, 5, null, 2, -1])).toEqual([2, 1, null, 2, 3]);
    const r = pairsFromJudgement(set(5), judged([2, 5, null, 2, -1]), spec({ rule: 'ranking' }));
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ kind: 'ranking', responses: [' r0', ' r1', ' r3', ' r4'], ranks: [2, 1, 2, 3] });
    expect(validateRecord(r.records[0]).ok).toBe(true);
  });

  it('rso: accepted candidates are paired best first; a low β accepts the best almost only, a high β nearly all; same seed, same pairs', () => {
    const scores = [0, 1, 2, 3, 4, 5, 6, 7];
    const wide = pickPairs(scores, spec({ rule: 'rso', rsoBeta: 1000 }), 1);
    // Every candidate accepted (β large): sorted and paired (7,6), (5,4), (3,2), (1,0).
    expect(wide).toEqual([[7, 6], [5, 4], [3, 2], [1, 0]]);
    // β small: acceptance exp((r - 7)/β) is ~0 below the best: the draws end (100 per candidate)
    // with the best alone accepted, and one candidate makes no pair.
    const narrow = pickPairs(scores, spec({ rule: 'rso', rsoBeta: 0.01, rsoSamples: 2 }), 1);
    expect(narrow).toEqual([]);
    // Over many prompts with β = 1 the accepted set leans to high scores: chosen above rejected always.
    let chosenSum = 0;
    let count = 0;
    for (let p = 0; p < 200; p++) {
      for (const [c, r] of pickPairs(scores, spec({ rule: 'rso', rsoBeta: 1, rsoSamples: 4 }), p)) {
        expect(scores[c]!).toBeGreaterThan(scores[r]!);
        chosenSum += scores[c]!;
        count++;
      }
    }
    expect(chosenSum / count).toBeGreaterThan(5.5);
    expect(pickPairs(scores, spec({ rule: 'rso', rsoBeta: 1, rsoSamples: 4, seed: 9 }), 3)).toEqual(pickPairs(scores, spec({ rule: 'rso', rsoBeta: 1, rsoSamples: 4, seed: 9 }), 3));
  });
});
