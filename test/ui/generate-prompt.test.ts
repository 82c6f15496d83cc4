// The prompt ids every generation path of the studio hands to the engine, read on the real engine
// (Dawn) with the engine Worker's modules in-process: the tiny Llama fixture is the active model
// (its chat template writes "<s>role: content\n" per message, then "assistant:"; its ids decode
// back to the exact text). A multi-turn record with a system prompt must reach generation as the
// template's rendering of the system prompt and every turn, in order, from the generation Worker
// (GenerateRequest with messages + system), the Evaluate page's side by side (dataset prompts kept
// whole; judged pairs saved as conversations) and the Label page's "Generate candidates".
import 'fake-indexeddb/auto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine } from '#test-engine';
import { PrefRecordSchema, type Message, type PrefRecord } from '../../src/data/records.js';
import { addRecords, createDataset, openWorkspace, queryRecords, type PrefDb } from '../../src/db/index.js';
import type { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
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
const ev = await import('../../src/services/evaluate.js');
const { useEvaluateStore } = await import('../../src/stores/evaluate.js');
const { useLabelStore } = await import('../../src/stores/label.js');

const LLAMA = new URL('../fixtures/models/tiny-llama/', import.meta.url).pathname;
const NOT_MODEL = new Set(['reference.json', 'weights.json']);

const SYSTEM = 'Terse.';
const TURNS: Message[] = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Yo' },
  { role: 'user', content: 'Why?' },
];
const CONV_TEXT = `<s>system: ${SYSTEM}\nuser: Hi\nassistant: Yo\nuser: Why?\nassistant:`;
const GREEDY = { temperature: 0, topK: 0, topP: 1, maxNewTokens: 3, stopStrings: [], seed: 0 };

const runGenerate = (taskId: string, request: GenerateRequest) => settle(() => runTask(taskId, (signal) => generateText(request, signal)));

let tok: ModelTokenizer;
let db: PrefDb;
/** The fixture template's rendering, tokenized as the template's output is (no specials added). */
const rendered = (text: string) => tok.encode(text, { addSpecialTokens: false });

/** Asserts the ids decode to the system prompt, then each turn, in order, then the generation prompt. */
function expectWholeConversation(ids: number[] | undefined) {
  expect(ids).toEqual(rendered(CONV_TEXT));
  const text = tok.decode(ids!);
  let from = 0;
  for (const part of [`system: ${SYSTEM}`, ...TURNS.map((m) => `${m.role}: ${m.content}`)]) {
    const at = text.indexOf(part, from);
    expect(at, `"${part}" after offset ${from} of ${JSON.stringify(text)}`).toBeGreaterThanOrEqual(from);
    from = at + part.length;
  }
  expect(text.endsWith('assistant:')).toBe(true);
}

async function folderFiles(dir: string): Promise<ModelFileEntry[]> {
  const out: ModelFileEntry[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile() && !NOT_MODEL.has(e.name)) out.push({ path: `tiny-llama/${e.name}`, file: new File([await readFile(join(dir, e.name))], e.name) });
  }
  return out;
}

const conversation = (split: 'train' | 'test' = 'test'): PrefRecord => ({
  kind: 'pair', prompt: TURNS, system: SYSTEM,
  chosen: [{ role: 'assistant', content: 'Red.' }], rejected: [{ role: 'assistant', content: 'No.' }],
  source: { type: 'manual' }, createdAt: 1, split, tags: [],
});

beforeAll(async () => {
  useModelStore(new ModelStore(fakeRoot().provider));
  await importModel({ kind: 'files', files: await folderFiles(LLAMA), label: 'tiny-llama' }, new AbortController().signal);
  tok = getActiveModel()!.tokenizer!;
  worker.api = {
    generate: runGenerate,
    activeModel: async () => describeActive(),
    cancel: async (taskId: string) => cancelTask(taskId),
  };
  ev.useEvaluateBackend({
    registerAdapter: async () => {},
    forgetAdapter: async () => {},
    evaluate: async () => ({ ok: false, error: { name: 'Error', code: 'error', message: 'not used' } }),
    generate: runGenerate,
    cancel: async (taskId) => cancelTask(taskId),
  });
}, 60_000);

afterAll(async () => {
  ev.useEvaluateBackend(null);
  const a = getActiveModel();
  if (a) await unloadModel(a.id);
  db?.close();
  (await testEngine()).pool.trim();
});

beforeEach(async () => {
  calls.length = 0;
  db?.close();
  db = await openWorkspace(`generate-prompt-${Math.random()}`);
  useDataServices({ db });
});

describe('generation Worker: GenerateRequest with messages and a system prompt', () => {
  it('a multi-turn prompt with a system prompt: the template over the system prompt and every turn, in order', async () => {
    const r = await runGenerate('g1', { prompt: TURNS, system: SYSTEM, useChatTemplate: 'auto', ...GREEDY });
    expect(r.ok).toBe(true);
    expectWholeConversation(calls[0]?.[0]);
    expect(r.ok && r.value.promptTokens).toBe(rendered(CONV_TEXT).length);
  }, 60_000);

  it('text: one user turn with the template on, the tokenizer\'s encoding with it off', async () => {
    await runGenerate('g2', { prompt: 'Life is', useChatTemplate: true, ...GREEDY });
    await runGenerate('g3', { prompt: 'Life is', useChatTemplate: false, ...GREEDY });
    expect(calls.map((c) => c[0])).toEqual([rendered('<s>user: Life is\nassistant:'), tok.encode('Life is')]);
  }, 60_000);

  it('a conversation with the template off is refused by name, nothing generated', async () => {
    const r = await runGenerate('g4', { prompt: TURNS, useChatTemplate: false, ...GREEDY });
    expect(r).toMatchObject({ ok: false, error: { name: 'WorkerTaskError', code: 'needs-chat-template' } });
    expect(!r.ok && r.error.message).toMatch(/^tiny-llama: a conversation goes through the chat template/);
    expect(calls).toHaveLength(0);
  });
});

describe('Evaluate: side by side from the dataset', () => {
  it('both sides sample the record\'s system prompt and every turn; an edited block is sent as text; judged pairs stay conversations', async () => {
    const d = await createDataset(db, 'chat');
    await addRecords(db, d.id, [conversation()]);
    const store = () => useEvaluateStore.getState();
    await store().init();
    store().setSettings({ datasetId: d.id, split: 'test' });
    await store().promptsFromDataset(8);
    expect(store().prompts).toBe(`system: ${SYSTEM}\nuser: Hi\nassistant: Yo\nuser: Why?`);
    store().setView({ sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: 3, seed: 5 } });
    await store().generate();
    expect(store().problem).toBeNull();
    expect(calls).toHaveLength(2); // side a, side b
    for (const c of calls) expectWholeConversation(c[0]);
    expect(store().rows[0]).toMatchObject({ prompt: TURNS, system: SYSTEM });

    // Judged blind and saved: a conversational pair with its system prompt, responses as assistant turns.
    const item = store().items[0]!;
    store().judge(item.left === 'a' ? 'left' : 'right');
    await store().saveJudged({ id: 'tiny-llama', name: 'tiny-llama' }, { newName: 'judged' });
    const [saved] = await queryRecords(db, { datasetId: store().saved!.datasetId });
    expect(PrefRecordSchema.safeParse(saved).success).toBe(true);
    expect(saved).toMatchObject({ prompt: TURNS, system: SYSTEM, chosen: [{ role: 'assistant', content: item.a }], rejected: [{ role: 'assistant', content: item.b }] });

    // An edited block is what was typed: text, as one user turn through the template.
    calls.length = 0;
    store().setView({ prompts: 'Life is' });
    await store().generate();
    expect(calls.map((c) => c[0])).toEqual([0, 1].map(() => rendered('<s>user: Life is\nassistant:')));
  }, 120_000);
});

describe('Label: Generate candidates', () => {
  it('samples the record\'s system prompt and every turn; the candidates are assistant turns', async () => {
    const d = await createDataset(db, 'source');
    await addRecords(db, d.id, [conversation('train')]);
    const store = () => useLabelStore.getState();
    await store().init();
    await store().selectSource(d.id);
    await store().setAnnotator('alice');
    await store().generate();
    expect(store().error).toBeNull();
    expect(calls).toHaveLength(2);
    for (const c of calls) expectWholeConversation(c[0]);
    const task = store().current!.task;
    expect(task).toMatchObject({ prompt: TURNS, system: SYSTEM, mode: 'pair' });
    for (const c of task.candidates) expect(c).toEqual([{ role: 'assistant', content: expect.any(String) }]);
  }, 120_000);
});
