// `prefstudio logprobs` on the torch-made tiny Llama: the token ids it writes are TRL's
// (re-derived here from the tokenizer and the chat template directly), and its summed completion
// log-probs (our WGSL engine, padded batches) equal an independent computation: onnxruntime-web's
// logits for each sequence alone, log-softmax and sums in float64 here.
import * as ort from 'onnxruntime-web';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/logprobs.js';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { referenceLogits, referenceSession } from '../../src/engine/model/ort-reference.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import type { ChatMessage } from '../../src/engine/model/tokenizer.js';
import { GPT2_SHARED, TINY_LLAMA } from '../model/helpers.js';

ort.env.wasm.numThreads = 1;

const dir = mkdtempSync(join(tmpdir(), 'prefstudio-logprobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const STANDARD = [
  { prompt: 'The sky is', chosen: ' blue today.', rejected: ' made of green cheese.' },
  { prompt: 'Two plus two is', chosen: ' four.', rejected: ' five, said the machine.' },
  { prompt: 'Hello', chosen: ' there, friend.', rejected: '!' },
];
const user = (content: string): ChatMessage[] => [{ role: 'user', content }];
const assistant = (content: string): ChatMessage[] => [{ role: 'assistant', content }];
const CONVERSATIONAL = [
  { prompt: user('What colour is the sky?'), chosen: assistant('Blue.'), rejected: assistant('It is green, of course.') },
  { prompt: user('Say hi'), chosen: assistant('Hi!'), rejected: assistant('No.') },
];
const UNPAIRED = [
  { prompt: 'The sky is', completion: ' blue.', label: true },
  { prompt: 'Cats are', completion: ' made of glass and sing at night.', label: false },
];

function writeJsonl(name: string, rows: unknown[], extra = ''): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n' + extra);
  return path;
}

async function logprobs(...args: string[]): Promise<{ code: number; err: string; lines: Record<string, unknown>[] }> {
  let err = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const code = await run(args);
  vi.restoreAllMocks();
  const out = args[args.indexOf('--out') + 1]!;
  let lines: Record<string, unknown>[] = [];
  try {
    lines = readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    // no output file
  }
  return { code, err, lines };
}

describe('prefstudio logprobs', () => {
  let model: LoadedModel;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    model = await loadModel(nodeDirSource(TINY_LLAMA));
    session = await referenceSession(ort, model);
  });
  afterAll(async () => {
    await session?.release();
  });

  /** Σ log_softmax(logits[t − 1])[ids[t]] over the completion, from onnxruntime on this sequence alone. */
  async function reference(promptIds: number[], completionIds: number[]): Promise<{ logp: number; tokens: number }> {
    const ids = [...promptIds, ...completionIds];
    const V = model.config.vocabSize;
    const logits = await referenceLogits(ort, session, model, { B: 1, T: ids.length, ids });
    let logp = 0, tokens = 0;
    for (let t = Math.max(promptIds.length, 1); t < ids.length; t++) {
      const row = logits.subarray((t - 1) * V, t * V);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      logp += row[ids[t]!]! - max - Math.log(sum);
      tokens++;
    }
    return { logp, tokens };
  }

  /**
   * Our log-probs come from f32 logits within ~1e-5 of onnxruntime's (parity.test.ts); each token's
   * log-softmax inherits about twice that, and a sum over n tokens n times it.
   */
  async function expectScores(line: Record<string, unknown>, prefix: 'chosen' | 'rejected' | 'completion', promptIds: number[]) {
    const ids = line[`${prefix}_ids`] as number[];
    const want = await reference(promptIds, ids);
    expect(line[`${prefix}_tokens`]).toBe(want.tokens);
    expect(Math.abs((line[`${prefix}_logps`] as number) - want.logp), `${prefix} of line ${line.line}`).toBeLessThanOrEqual(5e-5 * want.tokens + 1e-5);
  }

  it('standard pairs: TRL ids (prompt, then prompt + completion + EOS) and log-prob sums equal onnxruntime', async () => {
    const out = join(dir, 'standard.out.jsonl');
    const r = await logprobs('--model', TINY_LLAMA, '--data', writeJsonl('standard.jsonl', STANDARD), '--out', out, '--batch-size', '4');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/3 records scored/);
    expect(r.lines).toHaveLength(3);
    const tok = model.tokenizer!;
    for (const [i, rec] of STANDARD.entries()) {
      const line = r.lines[i]!;
      expect(line.index).toBe(i);
      expect(line.line).toBe(i + 1);
      const prompt = tok.encode(rec.prompt);
      expect(line.prompt_ids).toEqual(prompt);
      expect([...prompt, ...(line.chosen_ids as number[])]).toEqual(tok.encode(rec.prompt + rec.chosen + tok.eos!.token));
      expect([...prompt, ...(line.rejected_ids as number[])]).toEqual(tok.encode(rec.prompt + rec.rejected + tok.eos!.token));
      await expectScores(line, 'chosen', prompt);
      await expectScores(line, 'rejected', prompt);
    }
  }, 120_000);

  it('conversational pairs: ids from the chat template, log-prob sums equal onnxruntime', async () => {
    const out = join(dir, 'chat.out.jsonl');
    const r = await logprobs('--model', TINY_LLAMA, '--data', writeJsonl('chat.jsonl', CONVERSATIONAL), '--out', out);
    expect(r.code, r.err).toBe(0);
    expect(r.lines).toHaveLength(2);
    const tok = model.tokenizer!;
    for (const [i, rec] of CONVERSATIONAL.entries()) {
      const line = r.lines[i]!;
      const prompt = tok.encodeChat(rec.prompt, { addGenerationPrompt: true });
      expect(line.prompt_ids).toEqual(prompt);
      expect([...prompt, ...(line.chosen_ids as number[])]).toEqual(tok.encodeChat([...rec.prompt, ...rec.chosen]));
      expect([...prompt, ...(line.rejected_ids as number[])]).toEqual(tok.encodeChat([...rec.prompt, ...rec.rejected]));
      await expectScores(line, 'chosen', prompt);
      await expectScores(line, 'rejected', prompt);
    }
  }, 120_000);

  it('unpaired records: completion ids and log-probs with the label; --max-length truncates keep_start', async () => {
    const data = writeJsonl('unpaired.jsonl', UNPAIRED);
    const full = await logprobs('--model', TINY_LLAMA, '--data', data, '--out', join(dir, 'unpaired.out.jsonl'));
    expect(full.code, full.err).toBe(0);
    expect(full.lines.map((l) => l.label)).toEqual([true, false]);
    for (const line of full.lines) await expectScores(line, 'completion', line.prompt_ids as number[]);

    const L = 12;
    const cut = await logprobs('--model', TINY_LLAMA, '--data', data, '--out', join(dir, 'unpaired-12.out.jsonl'), '--max-length', String(L));
    expect(cut.code, cut.err).toBe(0);
    for (const [i, line] of cut.lines.entries()) {
      const before = full.lines[i]!;
      const ids = [...(line.prompt_ids as number[]), ...(line.completion_ids as number[])];
      const all = [...(before.prompt_ids as number[]), ...(before.completion_ids as number[])];
      expect(ids).toEqual(all.slice(0, L)); // keep_start: the first max_length tokens
      expect(line.prompt_ids).toEqual(before.prompt_ids);
      await expectScores(line, 'completion', line.prompt_ids as number[]);
    }
    expect(cut.lines[1]!.completion_tokens).toBeLessThan(full.lines[1]!.completion_tokens as number);
  }, 120_000);

  it('names the file and line of bad rows, scores the good ones, exits 1', async () => {
    const data = writeJsonl('bad.jsonl', STANDARD.slice(0, 2), '{"prompt": "Hi", "chosen": " yes", "rejected": 7}\n');
    const r = await logprobs('--model', TINY_LLAMA, '--data', data, '--out', join(dir, 'bad.out.jsonl'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.jsonl: bad row, line 3, field rejected: .*got number 7/);
    expect(r.lines).toHaveLength(2);
  }, 120_000);

  it('usage errors exit 2; a model folder that does not load is named', async () => {
    const out = join(dir, 'none.jsonl');
    expect((await logprobs('--data', 'x.jsonl', '--out', out)).code).toBe(2);
    expect((await logprobs('--model', TINY_LLAMA, '--data', 'x.jsonl', '--out', out, '--max-length', '0')).code).toBe(2);
    const data = writeJsonl('ok.jsonl', STANDARD.slice(0, 1));
    const r = await logprobs('--model', join(dir, 'no-such-model'), '--data', data, '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot load --model .*no-such-model/);
  }, 60_000);

  it('a tokenizer larger than the vocabulary: refused, or with --allow-vocab-mismatch the records it cannot embed are skipped and named', async () => {
    const data = writeJsonl('gpt2.jsonl', STANDARD.slice(0, 2));
    const out = join(dir, 'gpt2.out.jsonl');
    const refused = await logprobs('--model', GPT2_SHARED, '--data', data, '--out', out);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/tokenizer-vocab-mismatch.*--allow-vocab-mismatch/);
    const allowed = await logprobs('--model', GPT2_SHARED, '--data', data, '--out', out, '--allow-vocab-mismatch');
    expect(allowed.code).toBe(1); // nothing could be scored
    expect(allowed.err).toMatch(/gpt2\.jsonl: line 1: skipped: the tokenizer gives id \d+, outside the model's vocabulary of 1000/);
    expect(allowed.lines).toEqual([]);
  }, 60_000);
});
