// The shared real datasets import with the right format, kind, counts and fields.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importAll } from '../../src/data/import/pipeline.js';
import { fileSource } from '../../src/data/io/node-file.js';
import type { Message, PairRecord, StepwiseRecord, UnpairedRecord } from '../../src/data/records.js';

const DATASETS = new URL('../../../shared/fixtures/datasets/', import.meta.url).pathname;
const ZEN = `${DATASETS}trl-zen/`;

const load = async (path: string) => importAll(await fileSource(path));
const jsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const ROLE: Record<string, Message['role']> = { human: 'user', gpt: 'assistant', system: 'system' };

describe('LLaMA-Factory demo data', () => {
  it('dpo_en_demo.json: 300 conversational pairs, system turns moved to `system`', async () => {
    const raw = JSON.parse(readFileSync(`${DATASETS}dpo_en_demo.json`, 'utf8')) as {
      conversations: { from: string; value: string }[];
      chosen: { from: string; value: string };
      rejected: { from: string; value: string };
    }[];
    const r = await load(`${DATASETS}dpo_en_demo.json`);
    expect(r.detection.container).toBe('json');
    expect(r.detection.mapping?.format).toBe('llamafactory-sharegpt');
    expect(r.errors).toEqual([]);
    expect(r.fatal).toBeUndefined();
    expect(r.records).toHaveLength(300);
    const pairs = r.records as PairRecord[];
    expect(pairs.every((p) => p.kind === 'pair')).toBe(true);
    const withSystem = raw.filter((x) => x.conversations[0]?.from === 'system').length;
    expect(withSystem).toBeGreaterThan(0);
    expect(pairs.filter((p) => p.system !== undefined)).toHaveLength(withSystem);
    pairs.forEach((p, i) => {
      const src = raw[i]!;
      const turns = src.conversations.map((m) => ({ role: ROLE[m.from]!, content: m.value }));
      const system = turns[0]?.role === 'system' ? turns.shift()!.content : undefined;
      expect(p.system).toBe(system);
      expect(p.prompt).toEqual(turns);
      expect(p.chosen).toEqual([{ role: 'assistant', content: src.chosen.value }]);
      expect(p.rejected).toEqual([{ role: 'assistant', content: src.rejected.value }]);
      expect(p.source).toMatchObject({ type: 'import', file: 'dpo_en_demo.json', row: i, format: 'llamafactory-sharegpt' });
    });
    // Multi-turn prompts survive whole (the last prompt turn is the user's).
    expect(pairs.filter((p) => (p.prompt as Message[]).length > 1).length).toBeGreaterThan(100);
    expect(pairs.every((p) => (p.prompt as Message[]).at(-1)?.role === 'user')).toBe(true);
  });

  it('kto_en_demo.json: 300 unpaired, 150 desirable and 150 not, last turn is the completion', async () => {
    const raw = JSON.parse(readFileSync(`${DATASETS}kto_en_demo.json`, 'utf8')) as { messages: Message[]; label: boolean }[];
    const r = await load(`${DATASETS}kto_en_demo.json`);
    expect(r.detection.mapping?.format).toBe('llamafactory-kto');
    expect(r.errors).toEqual([]);
    const recs = r.records as UnpairedRecord[];
    expect(recs).toHaveLength(300);
    expect(recs.filter((x) => x.label === true)).toHaveLength(150);
    expect(recs.filter((x) => x.label === false)).toHaveLength(150);
    recs.forEach((x, i) => {
      expect(x.kind).toBe('unpaired');
      expect(x.label).toBe(raw[i]!.label);
      expect(x.completion).toEqual([raw[i]!.messages.at(-1)]);
      expect(x.prompt).toEqual(raw[i]!.messages.slice(0, -1));
    });
  });
});

describe('TRL zen datasets', () => {
  const cases: [file: string, format: string, kind: string][] = [
    ['zen_standard_preference.jsonl', 'trl-preference', 'pair'],
    ['zen_conversational_preference.jsonl', 'trl-preference', 'pair'],
    ['zen_standard_implicit_prompt_preference.jsonl', 'trl-implicit-preference', 'pair'],
    ['zen_conversational_implicit_prompt_preference.jsonl', 'trl-implicit-preference', 'pair'],
    ['zen_standard_unpaired_preference.jsonl', 'trl-unpaired', 'unpaired'],
    ['zen_conversational_unpaired_preference.jsonl', 'trl-unpaired', 'unpaired'],
    ['zen_standard_stepwise_supervision.jsonl', 'trl-stepwise', 'stepwise'],
    ['zen_standard_prompt_completion.jsonl', 'trl-prompt-completion', 'unpaired'],
    ['zen_conversational_prompt_completion.jsonl', 'trl-prompt-completion', 'unpaired'],
  ];
  it.each(cases)('%s -> %s, 19 %s records', async (file, format, kind) => {
    const r = await load(ZEN + file);
    expect(r.detection.container).toBe('jsonl');
    expect(r.detection.mapping).toMatchObject({ format, kind });
    expect(r.errors).toEqual([]);
    expect(r.records).toHaveLength(19);
    expect(r.records.every((x) => x.kind === kind)).toBe(true);
    const conversational = file.includes('conversational');
    expect(r.records.every((x) => Array.isArray(x.prompt) === conversational)).toBe(true);
    r.records.forEach((x, i) => expect(x.source).toMatchObject({ row: i, line: i + 1 }));
  });

  it.each(['zen_standard_prompt_only.jsonl', 'zen_conversational_prompt_only.jsonl', 'zen_standard_language_modeling.jsonl', 'zen_conversational_language_modeling.jsonl'])(
    '%s imports as a prompt set: 19 prompt records, field for field',
    async (file) => {
      const raw = jsonl(ZEN + file);
      const r = await load(ZEN + file);
      expect(r.detection.mapping).toMatchObject({ format: file.includes('prompt_only') ? 'trl-prompt-only' : 'trl-language-modeling', kind: 'prompt' });
      expect(r.errors).toEqual([]);
      expect(r.records).toHaveLength(19);
      r.records.forEach((x, i) => {
        expect(x.kind).toBe('prompt');
        const row = raw[i]!;
        // Prompt-only: the prompt as it is; language modelling: the text, or the conversation
        // before its last assistant reply (the reply the model is to write).
        const expected = 'prompt' in row ? row.prompt : 'text' in row ? row.text : (row.messages as Message[]).slice(0, -1);
        expect(x.prompt).toEqual(expected);
        expect(x.source).toMatchObject({ row: i, line: i + 1 });
      });
    },
  );

  it('explicit preference rows map field for field', async () => {
    for (const style of ['standard', 'conversational']) {
      const raw = jsonl(`${ZEN}zen_${style}_preference.jsonl`);
      const r = await load(`${ZEN}zen_${style}_preference.jsonl`);
      r.records.forEach((x, i) => {
        expect(x).toMatchObject({ prompt: raw[i]!.prompt, chosen: raw[i]!.chosen, rejected: raw[i]!.rejected });
      });
    }
  });

  it('implicit prompts are extracted as TRL extract_prompt does', async () => {
    for (const style of ['standard', 'conversational']) {
      const raw = jsonl(`${ZEN}zen_${style}_implicit_prompt_preference.jsonl`);
      const r = await load(`${ZEN}zen_${style}_implicit_prompt_preference.jsonl`);
      r.records.forEach((x, i) => {
        const want = trlExtractPrompt(raw[i]!.chosen as string | Message[], raw[i]!.rejected as string | Message[]);
        expect({ prompt: x.prompt, chosen: (x as PairRecord).chosen, rejected: (x as PairRecord).rejected }).toEqual(want);
      });
    }
    // Known TRL outputs: the space before the difference goes to the responses; a cut can fall
    // inside a word.
    const r = await load(`${ZEN}zen_standard_implicit_prompt_preference.jsonl`);
    expect(r.records[0]).toMatchObject({ prompt: 'Beautiful is better than', chosen: ' ugly.', rejected: ' the moon.' });
    expect(r.records[7]).toMatchObject({ prompt: "Special cases aren't special enough to b", chosen: 'reak the rules.', rejected: 'ecome unicorns.' });
    const c = await load(`${ZEN}zen_conversational_implicit_prompt_preference.jsonl`);
    expect(c.records[0]).toMatchObject({
      prompt: [{ role: 'user', content: 'What is better than ugly?' }],
      chosen: [{ role: 'assistant', content: 'Beautiful.' }],
      rejected: [{ role: 'assistant', content: 'Acceptable.' }],
    });
  });

  it('stepwise: the first false label is the rejected step, steps before it are accepted', async () => {
    const raw = jsonl(`${ZEN}zen_standard_stepwise_supervision.jsonl`);
    const r = await load(`${ZEN}zen_standard_stepwise_supervision.jsonl`);
    (r.records as StepwiseRecord[]).forEach((x, i) => {
      const steps = raw[i]!.completions as string[];
      const labels = raw[i]!.labels as boolean[];
      const bad = labels.indexOf(false);
      if (bad === -1) {
        expect(x.steps).toEqual(steps.slice(0, -1));
        expect(x.chosenStep).toBe(steps.at(-1));
        expect(x.rejectedStep).toBeNull();
      } else {
        expect(x.steps).toEqual(steps.slice(0, bad));
        expect(x.rejectedStep).toBe(steps[bad]);
        expect(x.chosenStep).toBeNull();
        expect((x.laterSteps ?? []).map((s) => s.step)).toEqual(steps.slice(bad + 1));
        expect((x.laterSteps ?? []).map((s) => s.good)).toEqual(labels.slice(bad + 1));
      }
    });
    // Row 1: labels [false, true, false].
    expect(r.records[1]).toMatchObject({ steps: [], rejectedStep: ', of course,', laterSteps: [{ step: ' implicit.', good: true }, { step: ' because clarity matters.', good: false }] });
  });

  it('unpaired labels and prompt-completion default label', async () => {
    const raw = jsonl(`${ZEN}zen_standard_unpaired_preference.jsonl`);
    const r = await load(`${ZEN}zen_standard_unpaired_preference.jsonl`);
    expect((r.records as UnpairedRecord[]).map((x) => x.label)).toEqual(raw.map((x) => x.label));
    const pc = await load(`${ZEN}zen_standard_prompt_completion.jsonl`);
    expect((pc.records as UnpairedRecord[]).every((x) => x.label === true)).toBe(true);
  });
});

/** A line-by-line port of TRL's extract_prompt (Python semantics: the loop variable keeps its
 *  last value, negative indexes wrap), as an independent reference. */
function trlExtractPrompt<T extends string | Message[]>(chosen: T, rejected: T) {
  const at = (s: T, i: number) => (i < 0 ? s[s.length + i] : s[i]);
  const eq = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  let idx = 0;
  const n = Math.min(chosen.length, rejected.length);
  for (let k = 0; k < n; k++) {
    idx = k;
    if (!eq(at(chosen, k), at(rejected, k))) {
      if (at(chosen, idx - 1) === ' ') idx -= 1;
      break;
    }
  }
  return { prompt: chosen.slice(0, idx), chosen: chosen.slice(idx), rejected: rejected.slice(idx) };
}
