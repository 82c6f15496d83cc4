// Prompt sets and candidate sets (the on-policy loop's records): a plain list (one prompt per
// line), a CSV column of prompts, TRL prompt-only and language-modelling rows through the same
// importer (detection, bad rows by line, valid-or-nothing), the record rules of the two kinds,
// and how training and the exports treat them (left out, with the step that is missing).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TrlExporter } from '../../src/data/export/trl.js';
import { importAll } from '../../src/data/import/pipeline.js';
import { textSource } from '../../src/data/io/source.js';
import { validateRecord } from '../../src/data/validate.js';
import type { PrefRecord } from '../../src/data/records.js';
import { ModelTokenizer } from '../../src/engine/model/tokenizer.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { noDataMessage, prepareRun } from '../../src/engine/training/prepare.js';

const json = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8')) as Record<string, unknown>;
const demo = new ModelTokenizer({
  tokenizerJson: json('../../public/models/demo-fortunes/tokenizer.json'),
  tokenizerConfig: json('../../public/models/demo-fortunes/tokenizer_config.json'),
});
const base = { source: { type: 'manual' as const }, createdAt: 0, split: 'train' as const, tags: [] };

describe('prompt sets', () => {
  it('a plain list (.txt): one prompt per line, text kept as it is, blank lines skipped, lines numbered', async () => {
    const r = await importAll(textSource('prompts.txt', 'Life is\r\n\n  A friend, said he,  \nWhat, "quoted", is, this?\n'));
    expect(r.detection.container).toBe('lines');
    expect(r.detection.mapping).toMatchObject({ format: 'trl-prompt-only', kind: 'prompt' });
    expect(r.errors).toEqual([]);
    expect(r.records.map((x) => x.prompt)).toEqual(['Life is', '  A friend, said he,  ', 'What, "quoted", is, this?']);
    expect(r.records.map((x) => x.source)).toEqual([1, 3, 4].map((line, row) => ({ type: 'import', file: 'prompts.txt', row, line, format: 'trl-prompt-only' })));
    expect(r.records.every((x) => x.kind === 'prompt')).toBe(true);
  });

  it('a CSV column of prompts: detected beside other columns, the column can be picked', async () => {
    const csv = 'question,topic,split\n"Is life good?",life,train\n"Who is a friend?",people,test\n';
    const r = await importAll(textSource('q.csv', csv));
    expect(r.detection.mapping).toMatchObject({ format: 'trl-prompt-only', kind: 'prompt', columns: { prompt: 'question', split: 'split' } });
    expect(r.records.map((x) => [x.prompt, x.split])).toEqual([['Is life good?', 'train'], ['Who is a friend?', 'test']]);
    const mapping = { ...r.detection.mapping!, columns: { ...r.detection.mapping!.columns, prompt: 'topic' } };
    const picked = await importAll(textSource('q.csv', csv), { mapping });
    expect(picked.records.map((x) => x.prompt)).toEqual(['life', 'people']);
  });

  it('prompt-only rows: a conversation keeps every turn, a leading system message goes to `system`', async () => {
    const rows = [
      { prompt: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'And?' }] },
      { prompt: 'plain text' },
    ];
    const r = await importAll(textSource('p.jsonl', rows.map((x) => JSON.stringify(x)).join('\n')));
    expect(r.errors).toEqual([]);
    // One stored form: a mixed file is read row by row.
    expect(r.records[0]).toMatchObject({ kind: 'prompt', system: 'Be kind.', prompt: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'And?' }] });
    expect(r.records[1]).toMatchObject({ kind: 'prompt', prompt: 'plain text' });
    expect(r.records[1]!.system).toBeUndefined();
  });

  it('bad rows are reported by line and field; the good rows are kept for the valid-or-nothing choice', async () => {
    const lines = [
      '{"prompt": "fine"}',
      '{"prompt": ""}',
      '{"prompt": [{"role": "robot", "content": "x"}]}',
      'not json',
      '{"prompt": "also fine"}',
    ];
    const r = await importAll(textSource('p.jsonl', lines.join('\n')));
    expect(r.detection.mapping?.format).toBe('trl-prompt-only');
    expect(r.records.map((x) => x.prompt)).toEqual(['fine', 'also fine']);
    expect(r.badRows).toBe(3);
    expect(r.errors.map((e) => [e.line, e.field ?? null])).toEqual([[2, 'prompt'], [3, 'prompt.0.role'], [4, null]]);
    expect(r.errors[0]!.reason).toBe('is empty');
  });

  it('language modelling: a conversation that is only an assistant reply has no prompt (an error at its line)', async () => {
    const lines = ['{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}', '{"messages": [{"role": "assistant", "content": "a"}]}'];
    const r = await importAll(textSource('lm.jsonl', lines.join('\n')));
    expect(r.detection.mapping?.format).toBe('trl-language-modeling');
    expect(r.records.map((x) => x.prompt)).toEqual([[{ role: 'user', content: 'q' }]]);
    expect(r.errors).toMatchObject([{ line: 2, field: 'messages', reason: 'has no message before the assistant reply to use as a prompt' }]);
  });
});

describe('candidate sets', () => {
  const generated = { type: 'generated', model: 'demo', adapter: 'round-1', round: 2, promptIndex: 3, sampling: { temperature: 0.9, topP: 0.95, topK: 0, minP: 0.05, repetitionPenalty: 1.1, maxTokens: 24, stopStrings: ['\n'], seed: 7, n: 4 } };
  const candidates = { kind: 'candidates', prompt: 'Life is', responses: [' good', ' bad', ' long', ' short'], ...base, source: generated };

  it('keep their provenance (model, adapter, round, sampling) and need at least two responses', () => {
    const v = validateRecord(candidates);
    expect(v.ok && v.record).toEqual(candidates);
    const one = validateRecord({ ...candidates, responses: [' good'] });
    expect(one.ok ? [] : one.issues).toEqual([{ field: 'responses', reason: 'needs at least 2 candidates to judge, got 1' }]);
    const style = validateRecord({ ...candidates, responses: [' good', [{ role: 'assistant', content: 'x' }]] });
    expect(style.ok ? [] : style.issues.map((i) => i.field)).toEqual(['responses.1']);
    const scores = validateRecord({ ...candidates, judgement: { judge: 'rule', name: 'tone', scores: [1, 0], at: 0 } });
    expect(scores.ok ? [] : scores.issues).toEqual([{ field: 'judgement.scores', reason: 'has 2 scores for 4 responses' }]);
  });

  it('training leaves prompts and candidates out, saying which step is missing; pairs beside them still train', () => {
    const records = [
      { kind: 'prompt', prompt: 'Life is', ...base },
      candidates,
      { ...candidates, judgement: { judge: 'rule', name: 'tone', scores: [1, 0, 0, 0], at: 0 } },
    ] as PrefRecord[];
    const config = parseTrainingConfig({ method: 'dpo' });
    const run = prepareRun(records, demo, { vocabSize: 1 << 20, maxPositions: 1 << 20, arch: 'llama' }, config);
    expect(run.examples).toEqual([]);
    expect(run.skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/^a prompt awaiting generation has no responses: generate candidates/),
      expect.stringMatching(/^candidates awaiting judgement state no preference: judge them/),
      expect.stringMatching(/^judged candidates train through the pairs made from their judgement/),
    ]);
    expect(noDataMessage(config, run)).toMatch(/no record can train with dpo/);
    const kto = prepareRun(records, demo, { vocabSize: 1 << 20, maxPositions: 1 << 20, arch: 'llama' }, parseTrainingConfig({ method: 'kto' }));
    expect(kto.counts.skipped).toBe(3);
    const withPair = prepareRun([...records, { kind: 'pair', prompt: 'Life is', chosen: ' good', rejected: ' bad', ...base } as PrefRecord], demo, { vocabSize: 1 << 20, maxPositions: 1 << 20, arch: 'llama' }, config);
    expect(withPair.examples.map((e) => e.record)).toEqual([3]);
  });

  it('exports: preference and KTO shapes skip them with the reason; prompt-only writes every prompt', () => {
    const records = [{ kind: 'prompt', prompt: 'Life is', system: 'Be brief.', ...base }, candidates] as PrefRecord[];
    for (const shape of ['trl', 'preference', 'unpaired'] as const) {
      const x = new TrlExporter({ shape });
      expect(records.flatMap((r) => x.convert(r))).toEqual([]);
      expect(x.skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/^a prompt has no responses/), expect.stringMatching(/^candidates awaiting judgement/)]);
    }
    const p = new TrlExporter({ shape: 'prompt' });
    expect(records.flatMap((r) => p.convert(r))).toEqual([{ prompt: 'Be brief.\n\nLife is' }, { prompt: 'Life is' }]);
    const c = new TrlExporter({ shape: 'prompt', style: 'conversational' });
    expect(c.convert(records[0]!)).toEqual([{ prompt: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Life is' }] }]);
  });
});
