// Records -> token sequences as TRL 1.x's DPOTrainer/KTOTrainer prepare them, on hand cases with
// the demo model's tokenizer (BOS added by its post-processor, no chat template) and the tiny
// Llama fixture's (chat template).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
import type { PrefRecord } from '../../src/data/records.js';
import { parseTrainingConfig, type TrainingConfigInput } from '../../src/engine/training/config.js';
import { tokenizeRecords, truncate } from '../../src/engine/training/tokenize.js';

const json = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8')) as Record<string, unknown>;
const demo = new ModelTokenizer({
  tokenizerJson: json('../../public/models/demo-fortunes/tokenizer.json'),
  tokenizerConfig: json('../../public/models/demo-fortunes/tokenizer_config.json'),
});
const chat = new ModelTokenizer({
  tokenizerJson: json('../fixtures/models/tiny-llama/tokenizer.json'),
  tokenizerConfig: json('../fixtures/models/tiny-llama/tokenizer_config.json'),
});

const base = { source: { type: 'manual' as const }, createdAt: 0, split: 'train' as const, tags: [] };
const pair = (prompt: string, chosen: string, rejected: string, extra: Partial<PrefRecord> = {}): PrefRecord =>
  ({ kind: 'pair', prompt, chosen, rejected, ...base, ...extra }) as PrefRecord;
const cfg = (c: Partial<TrainingConfigInput> = {}) => parseTrainingConfig({ method: 'dpo', ...c });
const words = (s: string) => demo.encode(s, { addSpecialTokens: false });

describe('tokenization (TRL 1.x)', () => {
  it('text pair: tokenizer specials on the prompt, EOS appended to each completion as text', () => {
    const t = tokenizeRecords([pair('Life is', ' good', ' bad</s>')], demo, cfg());
    expect(t.skipped).toEqual([]);
    const [chosen, rejected] = t.examples[0]!.sequences;
    expect(chosen!.promptIds).toEqual([demo.bos!.id, ...words('Life is')]);
    expect(chosen!.completionIds).toEqual(words(' good</s>'));
    expect(chosen!.completionIds.at(-1)).toBe(demo.eos!.id);
    // Already ending with EOS: not doubled.
    expect(rejected!.completionIds).toEqual(words(' bad</s>'));
    expect(rejected!.completionIds.filter((id) => id === demo.eos!.id)).toHaveLength(1);
  });

  it('max_length keep_start keeps the first tokens of prompt + completion', () => {
    const p = { promptIds: [1, 2, 3], completionIds: [4, 5, 6, 7] };
    const s = { max_length: 5, max_prompt_length: null, max_completion_length: null, truncation_mode: 'keep_start' as const };
    expect(truncate(p, s)).toEqual({ promptIds: [1, 2, 3], completionIds: [4, 5] });
    expect(() => truncate(p, { ...s, max_length: 3 })).toThrow(/prompt alone \(3 tokens\) fills max_length 3/);
    expect(truncate(p, { ...s, max_length: 7 })).toEqual(p);
  });

  it('max_length keep_end keeps the last tokens, cutting into the prompt first', () => {
    const p = { promptIds: [1, 2, 3], completionIds: [4, 5, 6, 7] };
    const s = { max_length: 5, max_prompt_length: null, max_completion_length: null, truncation_mode: 'keep_end' as const };
    expect(truncate(p, s)).toEqual({ promptIds: [3], completionIds: [4, 5, 6, 7] });
    expect(truncate(p, { ...s, max_length: 2 })).toEqual({ promptIds: [], completionIds: [6, 7] });
  });

  it('max_prompt_length and max_completion_length (TRL 0.x) apply before max_length', () => {
    const p = { promptIds: [1, 2, 3, 4], completionIds: [5, 6, 7] };
    const s = { max_length: null, max_prompt_length: 2, max_completion_length: 2, truncation_mode: 'keep_end' as const };
    expect(truncate(p, s)).toEqual({ promptIds: [3, 4], completionIds: [5, 6] });
    expect(truncate(p, { ...s, truncation_mode: 'keep_start' })).toEqual({ promptIds: [1, 2], completionIds: [5, 6] });
  });

  it('drops what cannot train and says why', () => {
    const long = 'word '.repeat(40);
    const t = tokenizeRecords(
      [
        pair('a', 'b', 'c', { tie: true }),
        pair(long, 'b', 'c'),
        { kind: 'unpaired', prompt: 'p', completion: 'c', label: true, ...base } as PrefRecord,
        pair('ok', ' yes', ' no'),
      ],
      demo,
      cfg({ max_length: 16 }),
    );
    expect(t.examples.map((e) => e.record)).toEqual([3]);
    expect(t.skipped.map((s) => s.record)).toEqual([0, 1, 2]);
    expect(t.skipped[0]!.reason).toMatch(/tie/);
    expect(t.skipped[1]!.reason).toMatch(/fills max_length 16/);
    expect(t.skipped[2]!.reason).toMatch(/kto/);
  });

  it('conversational records go through the chat template, system first', () => {
    const r = {
      kind: 'pair',
      prompt: [{ role: 'user', content: 'hi' }],
      chosen: [{ role: 'assistant', content: 'hello' }],
      rejected: [{ role: 'assistant', content: 'go' }],
      system: 'be nice',
      ...base,
    } as PrefRecord;
    const t = tokenizeRecords([r], chat, cfg());
    const [c] = t.examples[0]!.sequences;
    const prompt = chat.encode('<s>system: be nice\nuser: hi\nassistant:', { addSpecialTokens: false });
    const full = chat.encode('<s>system: be nice\nuser: hi\nassistant: hello\n', { addSpecialTokens: false });
    expect(c!.promptIds).toEqual(prompt);
    expect(c!.completionIds).toEqual(full.slice(prompt.length));
    expect(t.warnings).toEqual([]);
    // Without a template: skipped with the reason.
    expect(tokenizeRecords([r], demo, cfg()).skipped[0]!.reason).toMatch(/chat template/);
  });

  it('rankings: every pair with different ranks for DPO, best first for listwise', () => {
    const r = { kind: 'ranking', prompt: 'Q', responses: [' a', ' b', ' c'], ranks: [2, 1, 2], ...base } as PrefRecord;
    const dpo = tokenizeRecords([r], demo, cfg());
    expect(dpo.examples.map((e) => e.sequences.map((s) => demo.decode(s.completionIds)))).toEqual([
      [' b</s>', ' a</s>'],
      [' b</s>', ' c</s>'],
    ]);
    const lw = tokenizeRecords([r], demo, cfg({ method: 'listwise' }));
    expect(lw.examples[0]!.sequences.map((s) => demo.decode(s.completionIds))).toEqual([' b</s>', ' a</s>', ' c</s>']);
  });

  it('KTO: pairs unpaired as TRL does, KL completions rotated within chunks of the batch size', () => {
    const recs = [
      pair('P0', ' c0', ' r0'),
      pair('P1', ' c1', ' r1', { bothBad: true }),
      { kind: 'unpaired', prompt: 'P2', completion: ' u2', label: true, ...base } as PrefRecord,
    ];
    const t = tokenizeRecords(recs, demo, cfg({ method: 'kto', per_device_train_batch_size: 3 }));
    const text = (ids: number[]) => demo.decode(ids);
    expect(t.examples.map((e) => [e.record, text(e.sequences[0]!.completionIds), e.label])).toEqual([
      [0, ' c0</s>', true],
      [0, ' r0</s>', false],
      [1, ' c1</s>', false],
      [1, ' r1</s>', false],
      [2, ' u2</s>', true],
    ]);
    // Chunks of 3: (x0,y2),(x1,y0),(x2,y1) then (x3,y4),(x4,y3); the prompt stays the example's own.
    expect(t.examples.map((e) => text(e.sequences[1]!.completionIds))).toEqual([' c1</s>', ' c0</s>', ' r0</s>', ' u2</s>', ' r1</s>']);
    expect(t.examples.map((e) => e.sequences[1]!.promptIds)).toEqual(t.examples.map((e) => e.sequences[0]!.promptIds));
  });

  it('step-wise records: prompt and accepted steps form the prompt of Step-DPO', () => {
    const r = { kind: 'stepwise', prompt: 'Q', steps: ['s1', 's2'], chosenStep: 'good', rejectedStep: 'bad', ...base } as PrefRecord;
    const t = tokenizeRecords([r], demo, cfg({ method: 'step_dpo' }));
    const [c, rj] = t.examples[0]!.sequences;
    expect(c!.promptIds).toEqual(demo.encode('Q\ns1\ns2\n'));
    expect(demo.decode(c!.completionIds)).toBe('good</s>');
    expect(demo.decode(rj!.completionIds)).toBe('bad</s>');
    expect(tokenizeRecords([r], demo, cfg()).skipped[0]!.reason).toMatch(/step_dpo/);
  });
});
