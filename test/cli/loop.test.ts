// `prefstudio loop` (issue 13) as a user runs it, tiny: the demo model, 3 training prompts a round
// (promptsPerRound), 2 candidates of 4 tokens, one training step, 2 held-out prompts. Checks: a
// bad loop.json is refused naming the field, before anything is written; a JavaScript rule that
// throws stops the loop at the judge with the candidates kept, and `--resume` after the rule is
// fixed goes on from there (the candidates are not generated again) to the end of round 2; the
// candidates do not depend on `batch`. The learning itself is test/demo/loop-learning.test.ts.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DATA = join(ROOT, 'public/datasets/demo-fortunes-positive.jsonl');

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prefstudio-cli-loop-'));
  const lines = (await readFile(DATA, 'utf8')).split('\n').filter((l) => l.trim());
  const test = lines.filter((l) => l.includes('"split": "test"')).slice(0, 2);
  await writeFile(join(dir, 'held.jsonl'), test.map((l) => `${JSON.stringify({ prompt: (JSON.parse(l) as { prompt: string }).prompt })}\n`).join(''));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Four tokens seldom hold a tone word: a hash of the text scores distinct candidates apart.
const HASH = { type: 'javascript', name: 'hash', source: 'let h = 0; for (const c of response) h = (h * 31 + c.codePointAt(0)) % 1000003; return h;' };

function loopFile(over: Record<string, unknown> = {}) {
  return {
    model: join(ROOT, 'public/models/demo-fortunes'),
    prompts: DATA,
    heldOut: 'held.jsonl', // relative to the file's folder
    rounds: 2,
    promptsPerRound: 3,
    batch: 1,
    generation: { n: 2, temperature: 1, maxNewTokens: 4, seed: 3 },
    judge: { type: 'rule', rule: HASH },
    pairs: { rule: 'all-gaps' },
    training: { method: 'dpo', learning_rate: 1e-2, max_steps: 1, per_device_train_batch_size: 2, max_length: 32, lora: { r: 4, lora_alpha: 8 } },
    evaluation: { samples: 1, seed: 1 },
    ...over,
  };
}

async function writeLoop(name: string, config: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(config));
  return file;
}

interface State {
  rounds: { round: number; stage: string; candidates?: number; judged?: number; pairs?: number; policy?: string; evaluation?: { samples: number; winRate: number } }[];
}
const state = async (out: string) => JSON.parse(await readFile(join(out, 'state.json'), 'utf8')) as State;
const responses = async (file: string) =>
  (await readFile(file, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { prompt: unknown; responses: unknown }).responses);

describe('prefstudio loop', () => {
  it('a bad loop.json is refused naming each field, and a person judge is sent to the studio; no --out is made', async () => {
    const bad = await writeLoop('bad.json', loopFile({ generation: { n: 1 }, rounds: 0 }));
    const r = await runCli(['loop', '--config', bad, '--out', join(dir, 'bad-out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/generation\.n: .*2/);
    expect(r.stderr).toMatch(/rounds: /);
    const person = await writeLoop('person.json', loopFile({ judge: { type: 'person' } }));
    const p = await runCli(['loop', '--config', person, '--out', join(dir, 'bad-out')]);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/judge "person" judges in the studio/);
    const training = await writeLoop('training.json', loopFile({ training: { method: 'dpo', learning_rate: -1 } }));
    const t = await runCli(['loop', '--config', training, '--out', join(dir, 'bad-out')]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/training: learning_rate/);
    expect(existsSync(join(dir, 'bad-out'))).toBe(false);
  });

  it('a rule that throws stops at the judge with the candidates kept; --resume after the fix goes on from there to the end', async () => {
    const out = join(dir, 'run');
    const throwing = await writeLoop('loop.json', loopFile({ judge: { type: 'rule', rule: { type: 'javascript', name: 'broken', source: 'throw new Error("no score for " + response.length)' } } }));
    const first = await runCli(['loop', '--config', throwing, '--out', out], { timeoutMs: 180_000 });
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toMatch(/round 1: the judge stopped: .*no score for/);
    expect(first.stderr).toMatch(/--resume/);
    const s1 = await state(out);
    expect(s1.rounds.map((r) => [r.round, r.stage])).toEqual([[1, 'judge']]);
    const candidates = await readFile(join(out, 'round-1/candidates.jsonl'), 'utf8');
    expect(candidates.trim().split('\n')).toHaveLength(3);

    // Without --resume or --force the folder is not touched.
    const again = await runCli(['loop', '--config', throwing, '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--resume/);

    const fixed = await writeLoop('loop.json', loopFile());
    const resumed = await runCli(['loop', '--config', fixed, '--out', out, '--resume'], { timeoutMs: 300_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at round 1, stage judge/);
    expect(await readFile(join(out, 'round-1/candidates.jsonl'), 'utf8')).toBe(candidates);
    const s2 = await state(out);
    expect(s2.rounds.map((r) => [r.round, r.stage])).toEqual([[1, 'done'], [2, 'done']]);
    expect(s2.rounds[1]!.policy).toBe(join(out, 'round-1/adapter'));
    for (const r of s2.rounds) {
      expect(r.candidates).toBe(3);
      expect(r.judged).toBe(3);
      expect(r.evaluation?.samples).toBe(2);
      expect(r.evaluation?.winRate).toBeGreaterThanOrEqual(0);
      expect(r.evaluation?.winRate).toBeLessThanOrEqual(1);
      const files = readdirSync(join(out, `round-${r.round}`));
      for (const f of ['candidates.jsonl', 'judged.jsonl', 'pairs.jsonl', 'eval.jsonl', 'adapter']) expect(files).toContain(f);
      expect(existsSync(join(out, `round-${r.round}/adapter/adapter_model.safetensors`))).toBe(true);
    }
    // With heldOut, the prompt set's own test split is generated for too: its pairs train.
    const pairSplits = (await readFile(join(out, 'round-1/pairs.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { split?: string }).split);
    expect(new Set(pairSplits)).toEqual(new Set(['train']));
    // Round 2 draws with seed + 1 from round 1's adapter, on the next 3 prompts.
    const [c1, c2] = [await responses(join(out, 'round-1/candidates.jsonl')), await responses(join(out, 'round-2/candidates.jsonl'))];
    expect(c2).not.toEqual(c1);

    // The same loop with 16 rows a batch: round 1's candidates are the same.
    const batched = join(dir, 'batched');
    const one = await writeLoop('one.json', loopFile({ rounds: 1, batch: 16 }));
    const b = await runCli(['loop', '--config', one, '--out', batched], { timeoutMs: 180_000 });
    expect(b.code, b.stderr).toBe(0);
    expect(await responses(join(batched, 'round-1/candidates.jsonl'))).toEqual(c1);
  }, 600_000);
});
