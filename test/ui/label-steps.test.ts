// Step labels on the Label page say at once what they lack for step_dpo (training/tokenize.ts
// stepDpoGap, the one rule), and a correction, typed or generated, makes a record step_dpo trains
// on: prepareRun keeps it. Generation runs the engine Worker's modules in-process on Dawn with the
// tiny Llama fixture as the active model (as generate-prompt.test.ts): the model continues the
// prompt and the accepted steps joined as step_dpo joins them, as text (no chat template), and
// stops at the step separator. Labels go to a fake-indexeddb workspace (as label-store.test.ts).
import 'fake-indexeddb/auto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine } from '#test-engine';
import { PrefRecordSchema, type PrefRecord, type StepwiseRecord } from '../../src/data/records.js';
import { TrlExporter } from '../../src/data/export/trl.js';
import { addRecords, createDataset, findLabelDataset, openWorkspace, type PrefDb } from '../../src/db/index.js';
import { promptTokenIds } from '../../src/engine/model/prompt.js';
import type { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { prepareRun, type ModelLimits } from '../../src/engine/training/prepare.js';
import { stepContext, stepDpoGap } from '../../src/engine/training/tokenize.js';
import type { GenerateRequest, ModelFileEntry } from '../../src/worker/protocol.js';
import { fakeRoot } from './models-fake-opfs.js';

/** The prompt ids of every generate() call (one list per call, one row per sequence). */
const calls = vi.hoisted(() => [] as number[][][]);
vi.mock('../../src/engine/transformer/generate.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/engine/transformer/generate.js')>();
  return {
    ...m,
    generate: (...args: Parameters<typeof m.generate>) => {
      calls.push(args[1].map((ids) => [...ids]));
      return m.generate(...args);
    },
  };
});
// The Worker asks the browser for its engine; here it gets the test engine (Dawn).
vi.mock('../../src/engine/browser.js', async () => {
  const { testEngine: engine } = await import('#test-engine');
  return { createBrowserEngine: engine };
});
// The page's services reach the engine Worker through engineWorker(): here its modules in-process.
const worker = vi.hoisted(() => ({ api: null as unknown }));
vi.mock('../../src/services/gpu.js', () => ({ engineWorker: () => worker.api }));

const { describeActive, getActiveModel, importModel, unloadModel, useModelStore } = await import('../../src/worker/models.js');
const { generateText } = await import('../../src/worker/generate.js');
const { settle } = await import('../../src/worker/errors.js');
const { runTask, cancelTask } = await import('../../src/worker/tasks.js');
const { ModelStore } = await import('../../src/services/model-store.js');
const { useDataServices } = await import('../../src/services/data.js');
const { setLabelRandom, useLabelStore } = await import('../../src/stores/label.js');

const LLAMA = new URL('../fixtures/models/tiny-llama/', import.meta.url).pathname;
const NOT_MODEL = new Set(['reference.json', 'weights.json']);

const PROMPT = 'Count up:';
/** Shown as steps one, two, three: the record's accepted steps, then its chosen step. */
const chain = (): PrefRecord => ({
  kind: 'stepwise',
  prompt: PROMPT,
  steps: ['one', 'two'],
  chosenStep: 'three',
  rejectedStep: null,
  source: { type: 'import', file: 'steps.jsonl', row: 0 },
  createdAt: 1,
  split: 'train',
  tags: [],
});

const store = () => useLabelStore.getState();
const initial = useLabelStore.getState();
let db: PrefDb;
let tok: ModelTokenizer;
let limits: ModelLimits;

const runGenerate = (taskId: string, request: GenerateRequest) => settle(() => runTask(taskId, (signal) => generateText(request, signal)));

async function folderFiles(dir: string): Promise<ModelFileEntry[]> {
  const out: ModelFileEntry[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile() && !NOT_MODEL.has(e.name)) out.push({ path: `tiny-llama/${e.name}`, file: new File([await readFile(join(dir, e.name))], e.name) });
  }
  return out;
}

/** A source dataset of step chains, the Label page on it, annotator alice. */
async function label(records: PrefRecord[]): Promise<string> {
  const d = await createDataset(db, 'steps');
  await addRecords(db, d.id, records);
  useLabelStore.setState(initial, true);
  await store().init();
  await store().selectSource(d.id);
  await store().setAnnotator('alice');
  expect(store().current!.task.mode).toBe('steps');
  return d.id;
}

async function saved(sourceId: string): Promise<StepwiseRecord[]> {
  const out = await findLabelDataset(db, sourceId);
  if (!out) return [];
  return (await db.records.where('datasetId').equals(out.id).sortBy('id')) as StepwiseRecord[];
}

/** The run preparation every trainer uses, with method step_dpo. */
function stepDpo(records: PrefRecord[]) {
  return prepareRun(records, tok, limits, parseTrainingConfig({ method: 'step_dpo', max_length: 64 }));
}

beforeAll(async () => {
  useModelStore(new ModelStore(fakeRoot().provider));
  await importModel({ kind: 'files', files: await folderFiles(LLAMA), label: 'tiny-llama' }, new AbortController().signal);
  const slot = getActiveModel()!;
  tok = slot.tokenizer!;
  limits = slot.config;
  worker.api = {
    generate: runGenerate,
    activeModel: async () => describeActive(),
    cancel: async (taskId: string) => cancelTask(taskId),
  };
}, 60_000);

afterAll(async () => {
  const a = getActiveModel();
  if (a) await unloadModel(a.id);
  db?.close();
  (await testEngine()).pool.trim();
});

beforeEach(async () => {
  calls.length = 0;
  db?.close();
  db = await openWorkspace(`label-steps-${Math.random()}`);
  useDataServices({ db });
  let n = 0;
  setLabelRandom(() => ((n++ * 0.618034) % 1));
});

describe('a first wrong step without a correction', () => {
  it('says at once what step_dpo lacks, saves nothing until asked, and the record saved as it is is left out with that reason', async () => {
    const id = await label([chain()]);
    await store().markStep(1);
    const gap = stepDpoGap({ chosenStep: null, rejectedStep: 'two' });
    expect(gap).toMatch(/no correction/);
    expect(store()).toMatchObject({ markedStep: 1, stepNote: { gap, saved: false, firstWrong: 1 } });
    expect(await saved(id)).toEqual([]);
    // Typing a correction answers it; clearing it brings the message back.
    store().setCorrection('2');
    expect(store().stepNote).toBeNull();
    store().setCorrection('  ');
    expect(store().stepNote).toEqual({ gap, saved: false, firstWrong: 1 });

    // The same step again (its number pressed twice) saves without a correction, and says so.
    await store().markStep(1);
    const [r] = await saved(id);
    expect(r).toMatchObject({ kind: 'stepwise', steps: ['one'], chosenStep: null, rejectedStep: 'two' });
    expect(store().stepNote).toEqual({ gap, saved: true, firstWrong: 1 });
    expect(store().status).toBe('finished');
    const run = stepDpo([r!]);
    expect(run.examples).toEqual([]);
    expect(run.skipped).toEqual([{ record: 0, reason: gap }]);
  });
});

describe('a correction makes a record step_dpo trains on', () => {
  it('typed: after marking, or before (then the click saves at once)', async () => {
    const id = await label([chain(), { ...chain(), prompt: 'Count down:' }]);
    await store().markStep(1);
    store().setCorrection(' 2 ');
    await store().saveStep();
    expect(store().stepNote).toBeNull();
    store().setCorrection('3');
    await store().markStep(2);
    const records = await saved(id);
    expect(records).toMatchObject([
      { prompt: PROMPT, steps: ['one'], chosenStep: '2', rejectedStep: 'two' },
      { prompt: 'Count down:', steps: ['one', 'two'], chosenStep: '3', rejectedStep: 'three' },
    ]);
    for (const r of records) expect(r.tags).not.toContain('generated-step');
    const run = stepDpo(records);
    expect(run.skipped).toEqual([]);
    expect(run.examples.map((e) => e.record)).toEqual([0, 1]);
  });

  it('generated: the model continues the prompt and the accepted steps as step_dpo will read them; editable before saving', async () => {
    const id = await label([chain(), { ...chain(), prompt: 'Count again:' }]);
    // Nothing marked: nothing to generate.
    await store().generateStep();
    expect(store().error).toMatch(/Mark the first wrong step/);
    expect(calls).toHaveLength(0);

    await store().markStep(1);
    await store().generateStep();
    expect(store().error).toBeNull();
    const context = stepContext(PROMPT, ['one'], '\n');
    expect(context).toBe('Count up:\none\n');
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toEqual(promptTokenIds(tok, { prompt: context }, false));
    const step = store().correction;
    expect(step.length).toBeGreaterThan(0);
    expect(step).not.toContain('\n');
    expect(store()).toMatchObject({ generatedCorrection: step, stepNote: null, markedStep: 1 });
    await store().saveStep();

    // The second chain: the generated step edited before saving.
    await store().markStep(0);
    await store().generateStep();
    expect(calls[1]![0]).toEqual(promptTokenIds(tok, { prompt: stepContext('Count again:', [], '\n') }, false));
    store().setCorrection(`${store().correction} (edited)`);
    await store().saveStep();

    const records = await saved(id);
    expect(records[0]).toMatchObject({ steps: ['one'], chosenStep: step, rejectedStep: 'two' });
    expect(records[0]!.tags).toContain('generated-step');
    expect(records[0]!.tags).not.toContain('edited');
    expect(records[1]).toMatchObject({ steps: [], rejectedStep: 'one' });
    expect(records[1]!.chosenStep).toMatch(/ \(edited\)$/);
    expect(records[1]!.tags).toEqual(expect.arrayContaining(['generated-step', 'edited']));
    for (const r of records) expect(PrefRecordSchema.safeParse(r).success).toBe(true);
    const run = stepDpo(records);
    expect(run.skipped).toEqual([]);
    expect(run.examples.map((e) => e.record)).toEqual([0, 1]);
    // The chosen side is the generated step after the context step_dpo builds.
    const [chosen] = run.examples[0]!.sequences;
    expect(chosen!.promptIds).toEqual(promptTokenIds(tok, { prompt: context }, false));
  }, 120_000);
});

describe('every step right', () => {
  it('says step_dpo needs a wrong step; the record is kept for the stepwise export', async () => {
    const id = await label([chain()]);
    await store().act({ type: 'steps', firstWrong: null });
    const [r] = await saved(id);
    expect(r).toMatchObject({ kind: 'stepwise', steps: ['one', 'two'], chosenStep: 'three', rejectedStep: null });
    const gap = stepDpoGap(r!);
    expect(gap).toMatch(/every step is marked right.*kept for stepwise export/);
    expect(store().stepNote).toEqual({ gap, saved: true, firstWrong: null });
    expect(stepDpo([r!]).skipped).toEqual([{ record: 0, reason: gap }]);
    const exporter = new TrlExporter({ shape: 'trl' });
    expect(exporter.convert(r!)).toEqual([{ prompt: PROMPT, completions: ['one', 'two', 'three'], labels: [true, true, true] }]);
  });
});
