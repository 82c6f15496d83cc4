// A judge model built with PyTorch (scripts/fixtures/make_judge_model.py: a tiny Llama trained to
// always prefer the response that holds the marker word "star"), run by our engine as the model
// judge, gives the expected labels: pointwise, 5 for a candidate with the marker and 1 without
// (parsed from its greedy answer "Score : 5"); pairwise, the marked candidate wins through either
// position (A/B read from the next-token log-probs, positions swapped); pairs always choose it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import type { CandidatesRecord } from '../../src/data/records.js';
import { JudgeSpecSchema, PairsSpecSchema } from '../../src/engine/loop/config.js';
import { judgeWithModel, modelJudgeBackend, type ModelJudgeSpec } from '../../src/engine/loop/model-judge.js';
import { pairsFromJudgement } from '../../src/engine/loop/pairs.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';

const DIR = new URL('../fixtures/models/marker-judge', import.meta.url).pathname;

let loaded: LoadedModel;
let model: TransformerModel;
beforeAll(async () => {
  loaded = await loadModel(nodeDirSource(DIR));
  model = TransformerModel.create(await testEngine(), loaded.config, loaded.transformerWeights());
});
afterAll(() => model?.destroy());

const set = (prompt: string, responses: string[]): CandidatesRecord => ({
  kind: 'candidates', prompt, responses, source: { type: 'generated', model: 'x', promptIndex: 0 }, createdAt: 0, split: 'train', tags: [],
});
const spec = (mode: 'pointwise' | 'pairwise') => JudgeSpecSchema.parse({ type: 'model', mode, rubric: 'judge', maxNewTokens: 4 }) as ModelJudgeSpec;

// Candidate sets over the judge's words (w0..w11); some hold the marker, at any place.
const SETS = [
  set('w1 w2', [' w3 star w4', ' w5 w6', ' w7', ' w8 w9 w10']),
  set('w0', [' w11 w2', ' w4 w4 w4', ' star', ' w1']),
  set('w6 w7 w8', [' w0', ' w2 w3 w5 star']),
];

describe('a PyTorch-built judge that prefers a marker word', () => {
  it('pointwise: 5 for the marked candidate, 1 for the others, read from its answers', async () => {
    const tok = loaded.tokenizer!;
    const js = await judgeWithModel(modelJudgeBackend(model, tok), tok, SETS, spec('pointwise'), { name: 'marker-judge' });
    expect(js.map((j) => j.scores)).toEqual([[5, 1, 1, 1], [1, 1, 5, 1], [1, 5]]);
    expect(js[0]!.calls![0]!.answer).toMatch(/^Score\s*:\s*5/);
    expect(js[0]!.calls![0]!.prompt).toContain('[response]\n w3 star w4\n[verdict]');
    const pairs = SETS.map((s, i) => pairsFromJudgement(s, js[i]!, PairsSpecSchema.parse({ rule: 'all-gaps' })).records);
    for (const [i, ps] of pairs.entries()) {
      expect(ps.length, `set ${i}`).toBe(SETS[i]!.responses.length - 1);
      for (const p of ps) expect(p.kind === 'pair' && p.chosen).toMatch(/star/);
    }
  }, 120_000);

  it('pairwise: the marked candidate wins in position A and in position B', async () => {
    const tok = loaded.tokenizer!;
    const js = await judgeWithModel(modelJudgeBackend(model, tok), tok, SETS, spec('pairwise'), { name: 'marker-judge' });
    for (const [i, j] of js.entries()) {
      const marked = SETS[i]!.responses.findIndex((r) => (r as string).includes('star'));
      expect(j.scores[marked], `set ${i}`).toBeGreaterThan(0.95);
      j.scores.forEach((s, k) => k !== marked && expect(s, `set ${i} candidate ${k}`).toBeLessThan(0.5));
      // Both positions were asked, and the judge answered for the marked one in each.
      const asA = j.calls!.filter((c) => c.note!.includes(`candidate ${marked + 1} in A`));
      const asB = j.calls!.filter((c) => c.note!.includes(`${marked + 1} in B`));
      expect(asA.length).toBe(SETS[i]!.responses.length - 1);
      expect(asB.length).toBe(SETS[i]!.responses.length - 1);
      for (const c of asA) expect(c.answer).toBe('A');
      for (const c of asB) expect(c.answer).toBe('B');
    }
    const best = js.map((j, i) => pairsFromJudgement(SETS[i]!, j, PairsSpecSchema.parse({})).records[0]);
    for (const p of best) expect(p?.kind === 'pair' && p.chosen).toMatch(/star/);
  }, 120_000);
});
