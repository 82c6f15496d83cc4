// Labelling over a fake-indexeddb workspace: blind sides map back to the right record, every
// decision is stored at once (a fresh store finds it), skip/next/undo, edits, thumbs, ranks and
// steps make the right records, and agreement between annotators is computed as defined.
import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PairRecord, PrefRecord } from '../../src/data/records.js';
import { addRecords, createDataset, findLabelDataset, labelsOf, openWorkspace, type LabelRow, type PrefDb } from '../../src/db/index.js';
import { useDataServices } from '../../src/services/data.js';
import { agreement } from '../../src/services/label-agreement.js';
import { buildTask, outcomeRecord, ranksFromOrder } from '../../src/services/label-tasks.js';
import { setLabelRandom, useLabelStore } from '../../src/stores/label.js';

let db: PrefDb;
const initial = useLabelStore.getState();
const store = () => useLabelStore.getState();

function base(i: number) {
  return { prompt: `prompt ${i}`, source: { type: 'import' as const, file: 'f.jsonl', row: i }, createdAt: 1, split: 'train' as const, tags: ['t'] };
}
const pair = (i: number): PairRecord => ({ kind: 'pair', ...base(i), chosen: `good ${i}`, rejected: `bad ${i}` });

/** A seeded generator (mulberry32) so the blind sides are reproducible. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function setup(records: PrefRecord[], annotator = 'alice') {
  const d = await createDataset(db, 'source');
  await addRecords(db, d.id, records);
  useLabelStore.setState(initial, true);
  await store().init();
  await store().selectSource(d.id);
  await store().setAnnotator(annotator);
  return d.id;
}

async function outputs(sourceId: string): Promise<PrefRecord[]> {
  const out = await findLabelDataset(db, sourceId);
  if (!out) return [];
  return (await db.records.where('datasetId').equals(out.id).sortBy('id')) as PrefRecord[];
}

/** The text shown on a side of the current pair. */
function side(position: 0 | 1): string {
  const c = store().current!;
  return c.task.candidates[c.shown[position]!] as string;
}

beforeEach(async () => {
  db?.close();
  if (db) await db.delete();
  db = await openWorkspace(`label-${Math.random()}`);
  useDataServices({ db });
  setLabelRandom(seeded(7));
});

describe('pairs, blind', () => {
  it('sides are random, and the side picked becomes chosen; each label is stored at once', async () => {
    const id = await setup([pair(1), pair(2), pair(3), pair(4), pair(5), pair(6)]);
    expect(store().status).toBe('ready');
    expect(store().total).toBe(6);
    const lefts: boolean[] = [];
    const expected: [string, string][] = [];
    for (let i = 0; i < 6; i++) {
      const left = side(0);
      const right = side(1);
      lefts.push(left.startsWith('good'));
      const pick = i % 2 === 0 ? 'left' : 'right';
      expected.push(pick === 'left' ? [left, right] : [right, left]);
      await store().act({ type: pick });
    }
    // Both sides were used for the originally chosen response (blind).
    expect(new Set(lefts)).toEqual(new Set([true, false]));
    expect(store().status).toBe('finished');
    const out = (await outputs(id)) as PairRecord[];
    expect(out.map((r) => [r.chosen, r.rejected])).toEqual(expected);
    expect(out[0]).toMatchObject({ annotator: 'alice', source: { type: 'import', row: 1 }, tags: ['t', 'labelled'] });
    expect(out[0]!.annotatedAt).toBeGreaterThan(0);
  });

  it('a fresh page (new store) resumes where the annotator was; tie, both bad, rationale', async () => {
    const id = await setup([pair(1), pair(2), pair(3)]);
    store().setRationale('  both fine ');
    await store().act({ type: 'tie' });
    await store().act({ type: 'bothBad' });
    useLabelStore.setState(initial, true);
    await store().init();
    await store().setAnnotator('alice');
    expect(store().labelled).toBe(2);
    expect(store().queue).toHaveLength(1);
    expect(store().current!.task.prompt).toBe('prompt 3');
    const out = (await outputs(id)) as PairRecord[];
    expect(out.map((r) => [r.tie ?? false, r.bothBad ?? false, r.rationale])).toEqual([
      [true, false, 'both fine'],
      [false, true, undefined],
    ]);
    // Another annotator has the whole queue.
    await store().setAnnotator('bob');
    expect(store().labelled).toBe(0);
    expect(store().queue).toHaveLength(3);
  });

  it('a reload that finds the task on screen still first keeps its sides (no swap under the person)', async () => {
    await setup([pair(1), pair(2), pair(3)]);
    const shown = store().current!.shown;
    const left = side(0);
    // The name typed again, another annotator: the same first task each time.
    for (const name of ['alice', 'alice ', 'bob', 'bob']) {
      await store().setAnnotator(name);
      expect(store().current!.task.prompt).toBe('prompt 1');
      expect(store().current!.shown).toEqual(shown);
      expect(side(0)).toBe(left);
    }
    // Another task first gets sides of its own.
    await store().act({ type: 'left' });
    expect(store().current!.task.prompt).toBe('prompt 2');
  });

  it('skip sends a task to the end, next saves nothing, undo takes back the latest label with its sides', async () => {
    const id = await setup([pair(1), pair(2), pair(3)]);
    await store().act({ type: 'skip' });
    expect(store().skipped).toBe(1);
    expect(store().current!.task.prompt).toBe('prompt 2');
    await store().next();
    expect(store().current!.task.prompt).toBe('prompt 3');
    expect(store().queue.map(String)).toHaveLength(3);
    const shown = store().current!.shown;
    const left = side(0);
    await store().act({ type: 'left' });
    expect((await outputs(id)).length).toBe(1);
    await store().undo();
    expect((await outputs(id)).length).toBe(0);
    expect(store().current!.task.prompt).toBe('prompt 3');
    expect(store().current!.shown).toEqual(shown);
    expect(side(0)).toBe(left);
    expect(store().labelled).toBe(0);
    // Undo of the skip: the task counts as fresh again.
    await store().act({ type: 'right' });
    await store().undo();
    await store().undo();
    expect(store().skipped).toBe(0);
    expect((await labelsOf(db, id, 'alice')).length).toBe(0);
    await store().undo();
    expect(store().lastAction).toBe('Nothing to undo');
  });

  it('an edited response is saved as the edited text and tagged', async () => {
    const id = await setup([pair(1)]);
    const c = store().current!;
    store().editCandidate(c.shown[1]!, 'a better answer');
    await store().act({ type: 'right' });
    const [r] = (await outputs(id)) as PairRecord[];
    expect(r!.chosen).toBe('a better answer');
    expect(r!.tags).toContain('edited');
    expect((await labelsOf(db, id, 'alice'))[0]!.edited).toEqual([c.shown[1]]);
  });

  it('hostile text is stored exactly as it came', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const id = await setup([{ ...pair(1), chosen: hostile }]);
    await store().act({ type: side(0) === hostile ? 'left' : 'right' });
    expect(((await outputs(id))[0] as PairRecord).chosen).toBe(hostile);
  });
});

describe('other task kinds', () => {
  it('thumbs, ranking by arranged order, first wrong step', async () => {
    const id = await setup([
      { kind: 'unpaired', ...base(1), completion: 'maybe', label: true },
      { kind: 'ranking', ...base(2), responses: ['x', 'y', 'z'], ranks: [1, 2, 3] },
      { kind: 'stepwise', ...base(3), steps: ['s1', 's2'], chosenStep: null, rejectedStep: 's3', laterSteps: [{ step: 's4', good: true }] },
      { kind: 'stepwise', ...base(4), steps: ['a1'], chosenStep: 'a2', rejectedStep: null },
    ]);
    expect(store().current!.task.mode).toBe('single');
    await store().act({ type: 'left' }); // does not fit a single response: ignored
    await store().act({ type: 'thumb', up: false });
    expect(store().current!.task.mode).toBe('rank');
    const shown = store().current!.shown;
    // Best first: the response shown last, then the first, then the middle one.
    await store().act({ type: 'rank', order: [2, 0, 1] });
    expect(store().current!.task.steps).toEqual(['s1', 's2', 's3', 's4']);
    await store().act({ type: 'steps', firstWrong: 1, correction: 'fixed s2' });
    await store().act({ type: 'steps', firstWrong: null });
    const out = await outputs(id);
    expect(out[0]).toMatchObject({ kind: 'unpaired', completion: 'maybe', label: false });
    const ranking = out[1] as Extract<PrefRecord, { kind: 'ranking' }>;
    const candidates = ['x', 'y', 'z'];
    const byRank = [...ranking.ranks.keys()].sort((a, b) => ranking.ranks[a]! - ranking.ranks[b]!).map((i) => ranking.responses[i]);
    expect(byRank).toEqual([candidates[shown[2]!], candidates[shown[0]!], candidates[shown[1]!]]);
    expect(out[2]).toMatchObject({ kind: 'stepwise', steps: ['s1'], rejectedStep: 's2', chosenStep: 'fixed s2' });
    expect(out[3]).toMatchObject({ kind: 'stepwise', steps: ['a1'], chosenStep: 'a2', rejectedStep: null });
  });

  it('tasks have content keys: same prompt and candidates in any order give the same key', () => {
    const a = buildTask({ ...pair(1), id: 1, datasetId: 'x' });
    const b = buildTask({ ...pair(1), chosen: 'bad 1', rejected: 'good 1', id: 9, datasetId: 'y' });
    const c = buildTask({ ...pair(2), id: 2, datasetId: 'x' });
    expect(a.key).toBe(b.key);
    expect(a.key).not.toBe(c.key);
    expect(ranksFromOrder([2, 0, 1])).toEqual([2, 3, 1]);
    expect(() => outcomeRecord(a, { type: 'thumb', up: true }, { annotator: 'x', now: 1 })).toThrow(/single response/);
  });
});

describe('agreement', () => {
  const L = (taskKey: string, annotator: string, decision: LabelRow['decision'], id: number): LabelRow => ({
    id,
    taskKey,
    annotator,
    decision,
    sourceDatasetId: 'd',
    sourceRecordId: 0,
    createdAt: id,
  });
  const prefer = (winner: number) => ({ type: 'prefer' as const, winner });

  it('observed agreement and Cohen kappa by hand', () => {
    // a and b on 4 tasks: agree on 3. a: w0,w0,w1,w1; b: w0,w0,w1,w0.
    const labels = [
      L('t1', 'a', prefer(0), 1),
      L('t1', 'b', prefer(0), 2),
      L('t2', 'a', prefer(0), 3),
      L('t2', 'b', prefer(0), 4),
      L('t3', 'a', prefer(1), 5),
      L('t3', 'b', prefer(1), 6),
      L('t4', 'a', prefer(1), 7),
      L('t4', 'b', prefer(0), 8),
      // Only one annotator: not counted. A skip is not a label.
      L('t5', 'a', prefer(0), 9),
      L('t5', 'b', { type: 'skip' }, 10),
    ];
    const r = agreement(labels);
    expect(r.items).toBe(4);
    expect(r.comparisons).toBe(4);
    expect(r.observed).toBe(0.75);
    // p_e = P(a=w0)P(b=w0) + P(a=w1)P(b=w1) = 0.5*0.75 + 0.5*0.25 = 0.5; kappa = (0.75-0.5)/0.5.
    expect(r.byPair).toEqual([{ a: 'a', b: 'b', items: 4, agreed: 3, observed: 0.75, kappa: 0.5 }]);
  });

  it("an annotator's latest label counts; three annotators give three pairs", () => {
    const labels = [L('t', 'a', prefer(1), 1), L('t', 'a', prefer(0), 5), L('t', 'b', prefer(0), 2), L('t', 'c', { type: 'tie' }, 3)];
    const r = agreement(labels);
    expect(r.items).toBe(1);
    expect(r.comparisons).toBe(3);
    expect(r.agreed).toBe(1);
    expect(r.byPair.map((p) => [p.a, p.b, p.agreed, p.kappa])).toEqual([
      ['a', 'b', 1, null],
      ['a', 'c', 0, 0],
      ['b', 'c', 0, 0],
    ]);
  });

  it('two annotators labelling the same dataset meet in the store', async () => {
    await setup([pair(1), pair(2)], 'alice');
    const pickGood = async () => store().act({ type: side(0).startsWith('good') ? 'left' : 'right' });
    await pickGood();
    await pickGood();
    await store().setAnnotator('bob');
    await pickGood();
    await store().act({ type: side(0).startsWith('bad') ? 'left' : 'right' });
    await store().refreshAgreement();
    expect(store().agreement).toMatchObject({ items: 2, comparisons: 2, agreed: 1, observed: 0.5 });
  });
});
