// `prefstudio sample` in-process on the tiny Llama fixture (its tokenizer has a chat template
// writing "<s>role: content\n" per message, then "assistant:"), reading the prompt ids it hands to
// generation: by default a record's whole conversation and system prompt go through the template,
// as training tokenizes them; --no-chat-template encodes text as the tokenizer does and refuses a
// conversation by record; the JSON lines keep their fields, a conversation's prompt written as
// "role: content" lines.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { run, type SampleLine } from '../../src/cli/sample.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import type { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
import { TINY_LLAMA } from '../model/helpers.js';

/** The prompt ids of every generate() call, by call, and the KV cache each asked for. */
const calls = vi.hoisted(() => [] as number[][][]);
const kvCaches = vi.hoisted(() => [] as (string | undefined)[]);
vi.mock('../../src/engine/transformer/generate.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/engine/transformer/generate.js')>();
  return {
    ...m,
    generate: (...args: Parameters<typeof m.generate>) => {
      calls.push(args[1].map((ids) => [...ids]));
      kvCaches.push(args[2].kvCache);
      return m.generate(...args);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'prefstudio-sample-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());
beforeEach(() => {
  calls.length = 0;
  kvCaches.length = 0;
});

const SYSTEM = 'Terse.';
const TURNS = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Yo' },
  { role: 'user', content: 'Why?' },
];
const RECORDS = [
  { prompt: TURNS, system: SYSTEM, chosen: [{ role: 'assistant', content: 'Red.' }], rejected: [{ role: 'assistant', content: 'No.' }] },
  { prompt: [{ role: 'user', content: 'Hi' }], chosen: [{ role: 'assistant', content: 'Hello.' }], rejected: [{ role: 'assistant', content: 'Go.' }] },
];
const CONV_TEXT = `<s>system: ${SYSTEM}\nuser: Hi\nassistant: Yo\nuser: Why?\nassistant:`;

let tok: ModelTokenizer;
let data: string;
beforeAll(async () => {
  tok = (await loadModel(nodeDirSource(TINY_LLAMA), { readWeights: false })).tokenizer!;
  data = join(dir, 'chat.jsonl');
  writeFileSync(data, RECORDS.map((r) => JSON.stringify(r)).join('\n') + '\n');
});

async function sample(...args: string[]): Promise<{ code: number; err: string; lines: SampleLine[] }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await run(['--model', TINY_LLAMA, '--temperature', '0', '--max-new-tokens', '3', ...args]);
    return { code, err, lines: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SampleLine) };
  } finally {
    vi.restoreAllMocks();
  }
}

/** The fixture template's rendering, tokenized as the template's output is (no specials added). */
const rendered = (text: string) => tok.encode(text, { addSpecialTokens: false });

describe('prefstudio sample: the prompt ids it generates from', () => {
  it('--prompts-from: each record\'s system prompt and every turn through the chat template (on by default)', async () => {
    const r = await sample('--prompts-from', data);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/prompts through the chat template/);
    expect(calls).toHaveLength(1);
    const [conv, hi] = calls[0]!;
    expect(conv).toEqual(rendered(CONV_TEXT));
    expect(tok.decode(conv!)).toBe(CONV_TEXT);
    expect(hi).toEqual(rendered('<s>user: Hi\nassistant:'));
    // The lines keep their fields; a conversation's prompt is "role: content" lines, system first.
    expect(r.lines.map((l) => Object.keys(l).sort())).toEqual([0, 1].map(() => ['completion', 'finish', 'prompt', 'sample', 'tokens']));
    expect(r.lines[0]!.prompt).toBe(`system: ${SYSTEM}\nuser: Hi\nassistant: Yo\nuser: Why?`);
    expect(r.lines[1]!.prompt).toBe('user: Hi');
    for (const l of r.lines) expect(l.tokens).toBeGreaterThan(0);
  }, 120_000);

  it('--prompt text: one user turn through the template by default, the plain encoding with --no-chat-template', async () => {
    const on = await sample('--prompt', 'Life is');
    expect(on.code, on.err).toBe(0);
    expect(calls[0]).toEqual([rendered('<s>user: Life is\nassistant:')]);
    expect(on.lines[0]!.prompt).toBe('Life is');

    calls.length = 0;
    const off = await sample('--prompt', 'Life is', '--no-chat-template');
    expect(off.code, off.err).toBe(0);
    expect(off.err).toMatch(/prompts as plain text/);
    expect(calls[0]).toEqual([tok.encode('Life is')]);
    expect(calls[0]![0]![0]).toBe(tok.bos!.id);

    // --chat-template asks for what the default already does here.
    calls.length = 0;
    expect((await sample('--prompt', 'Life is', '--chat-template')).code).toBe(0);
    expect(calls[0]).toEqual([rendered('<s>user: Life is\nassistant:')]);
  }, 120_000);

  it('--no-chat-template refuses a conversation, naming the record, before sampling anything', async () => {
    await expect(sample('--prompts-from', data, '--no-chat-template')).rejects.toThrow(/chat\.jsonl: record 1: a conversation goes through the chat template .*leave out --no-chat-template/);
    expect(calls).toHaveLength(0);
  });

  it('--kv-cache: auto by default (f16 where the GPU has shader-f16), f32 or f16 when asked; anything else refused', async () => {
    expect((await sample('--prompt', 'Life is')).code).toBe(0);
    expect((await sample('--prompt', 'Life is', '--kv-cache', 'f32')).code).toBe(0);
    expect((await sample('--prompt', 'Life is', '--kv-cache', 'f16')).code).toBe(0);
    expect(kvCaches).toEqual([undefined, 'f32', 'f16']);
    const bad = await sample('--prompt', 'Life is', '--kv-cache', 'f64');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--kv-cache expects auto, f32, f16, got "f64"/);
    expect(calls).toHaveLength(3);
  }, 120_000);

  it('the usage documents both switches', async () => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    expect(await run(['--help'])).toBe(0);
    vi.restoreAllMocks();
    expect(out).toMatch(/--chat-template /);
    expect(out).toMatch(/--no-chat-template /);
    expect(out).toMatch(/"role: content" line per message/);
  });
});
