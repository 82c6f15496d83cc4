// The on-policy loop learns, end to end through the CLI (`prefstudio loop`, issue 13): two rounds
// on the demo model with the demo's tone lexicon as the rule judge (scripts/demo-model/
// tone-lexicon.json: hopeful minus gloomy words). Each round generates K = 4 candidates of 24
// tokens for 64 training prompts from the previous round's adapter (round 1: the base), pairs
// every two candidates whose scores differ (all-gaps: about 190 pairs from 64 sets, where
// best-worst gives about 45), trains DPO from the previous adapter with the previous policy as
// the reference, and samples the 57 held-out prompts of the demo set with round k's and round
// k-1's policies (same seeds). The hopeful share of the tone words in those samples rises in
// round 1 (against the base) and again in round 2 (against round 1), and round 2 wins against
// round 1 by the same judge.
//
// Runs on Mesa's lavapipe where it is set up (the node project, like the demo learning check).
// Sizing (the same loop through the CLI on lavapipe, 2026-12-07; hopeful share base -> round 1
// -> round 2, round 2's win rate against round 1):
//   seed 0: 0.54 -> 0.66 -> 0.79, 0.531;  seed 1: 0.54 -> 0.55 -> 0.74, 0.526;
//   seed 2: 0.54 -> 0.65 -> 0.68, 0.522.
// With best-worst pairs seed 1 fell in round 2 (0.63 -> 0.48, win rate 0.456). Seed 1's round 1
// rise is the thinnest margin: 57 held-out prompts x 2 samples hold only 35-75 tone words.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { wordsRuleFromLexicon, type Lexicon } from '../../src/engine/loop/rules.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/prefstudio.mjs');
const run = promisify(execFile);
const SEED = Number(process.env.PREFSTUDIO_LOOP_SEED ?? 0);

let out = '';
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

interface Round {
  round: number;
  stage: string;
  pairs?: number;
  evaluation?: { samples: number; winRate: number; wins: number; ties: number; losses: number; words?: { current: { good: number; bad: number }; previous: { good: number; bad: number } } };
}

describe('on-policy loop learning check', () => {
  it('two rounds judged by the tone lexicon: the hopeful share rises each round and round 2 beats round 1', async () => {
    out = await mkdtemp(join(tmpdir(), 'prefstudio-loop-'));
    const lexicon = JSON.parse(await readFile(join(ROOT, 'scripts/demo-model/tone-lexicon.json'), 'utf8')) as Lexicon;
    const config = {
      model: join(ROOT, 'public/models/demo-fortunes'),
      prompts: join(ROOT, 'public/datasets/demo-fortunes-positive.jsonl'),
      rounds: 2,
      promptsPerRound: 64,
      batch: 64,
      generation: { n: 4, temperature: 1, maxNewTokens: 24, seed: SEED },
      judge: { type: 'rule', rule: wordsRuleFromLexicon(lexicon) },
      pairs: { rule: 'all-gaps' },
      training: { method: 'dpo', learning_rate: 1e-2, max_steps: 10, per_device_train_batch_size: 8, max_length: 48, seed: SEED, lora: { r: 8, lora_alpha: 16, target_modules: 'all-linear' } },
      reference: 'previous',
      evaluation: { samples: 2, seed: 1 },
    };
    await writeFile(join(out, 'loop.json'), JSON.stringify(config));
    await run(process.execPath, [BIN, 'loop', '--config', join(out, 'loop.json'), '--out', join(out, 'run')], { maxBuffer: 64 << 20 });
    const state = JSON.parse(await readFile(join(out, 'run/state.json'), 'utf8')) as { rounds: Round[] };
    const [r1, r2] = state.rounds as [Round, Round];
    const share = (w: { good: number; bad: number }) => w.good / Math.max(1, w.good + w.bad);
    const e1 = r1.evaluation!;
    const e2 = r2.evaluation!;
    console.log(`[loop] seed ${SEED}: ${JSON.stringify(state.rounds.map((r) => ({ round: r.round, pairs: r.pairs, winRate: r.evaluation?.winRate, wins: r.evaluation?.wins, ties: r.evaluation?.ties, losses: r.evaluation?.losses, words: r.evaluation?.words })))}`);
    expect(state.rounds.map((r) => r.stage)).toEqual(['done', 'done']);
    expect(e1.samples).toBe(2 * 57);
    // The base does use gloomy words; each round's samples hold more hopeful ones, as a share.
    expect(e1.words!.previous.bad).toBeGreaterThan(5);
    expect(share(e1.words!.current)).toBeGreaterThan(share(e1.words!.previous));
    expect(share(e2.words!.current)).toBeGreaterThan(share(e2.words!.previous));
    // Round 2's "previous" is round 1's policy with the same seeds: the same samples round 1 scored.
    expect(e2.words!.previous).toEqual(e1.words!.current);
    // Round 2 against round 1 by the tone rule: more wins than losses (ties count half).
    expect(e2.winRate).toBeGreaterThan(0.5);
    expect(e2.wins).toBeGreaterThan(e2.losses);
  }, 900_000);
});
