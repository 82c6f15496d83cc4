// Do the tuned adapter's samples show the learned preference? Samples the demo model with and
// without an adapter on the same prompts with the same seeds (`prefstudio sample`), and scores
// every completion with the sentiment lexicon that ranked the demo dataset (tone() of
// scripts/demo-model/build_demo_dataset.py, ported below): mean tone base vs tuned, and how many
// prompts' tuned samples score higher, equal, lower.
//
//   npx tsx scripts/demo-preference-samples.ts --adapter <dir> [--model <dir>] [--data <file>]
//       [--split test] [--limit 49] [--n 4] [--max-new-tokens 40] [--temperature 1] [--seed 0]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// Word lists exactly as build_demo_dataset.py's POSITIVE and NEGATIVE.
const POSITIVE = new Set(
  `love loves loved loving kind kindness joy joyful happy happiness hope hopeful smile smiles laugh
laughter friend friends friendship good great best wonderful beautiful beauty bright peace gentle
warm gift gifts grateful gratitude trust wise wisdom courage brave free freedom success succeed
win wins help helps heart hearts light shine sun sunshine dream dreams delight glad bless blessed
sweet fine grow grows learn learns true truth together care cares generous thank thanks calm`.split(/\s+/),
);
const NEGATIVE = new Set(
  `hate hates hated sad sadness fear fears afraid war death die dies dead kill kills killed pain
cruel evil bad worst worse fail fails failure lose loses lost lonely angry anger misery miserable
sorrow tears cry cries grief wrong ugly poor sick disease enemy enemies stupid fool fools foolish
dark darkness hell crime guilty lie lies liar despair doom broken nothing never nobody trouble`.split(/\s+/),
);

/** Positive minus negative lexicon words, as build_demo_dataset.py's tone(). */
export function tone(text: string): number {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  return words.reduce((s, w) => s + (POSITIVE.has(w) ? 1 : 0) - (NEGATIVE.has(w) ? 1 : 0), 0);
}

interface Line {
  prompt: string;
  sample: number;
  completion: string;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function sample(args: string[]): Line[] {
  const r = spawnSync(process.execPath, [join(root, 'bin/prefstudio.mjs'), 'sample', ...args], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`prefstudio sample ${args.join(' ')} exited with ${r.status}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

async function main(): Promise<void> {
  const { values: o } = parseArgs({
    options: {
      adapter: { type: 'string' },
      model: { type: 'string', default: join(root, 'public/models/demo-fortunes') },
      data: { type: 'string', default: join(root, 'public/datasets/demo-fortunes-positive.jsonl') },
      split: { type: 'string', default: 'test' },
      limit: { type: 'string', default: '49' },
      n: { type: 'string', default: '4' },
      'max-new-tokens': { type: 'string', default: '40' },
      temperature: { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' },
    },
  });
  if (!o.adapter) throw new Error('--adapter <dir> is required (a PEFT folder from `prefstudio train --out`)');
  const common = ['--model', o.model!, '--prompts-from', o.data!, '--split', o.split!, '--limit', o.limit!, '--n', o.n!, '--max-new-tokens', o['max-new-tokens']!, '--temperature', o.temperature!, '--seed', o.seed!];
  const base = sample(common);
  const tuned = sample([...common, '--adapter', o.adapter]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const baseTone = base.map((l) => tone(l.completion));
  const tunedTone = tuned.map((l) => tone(l.completion));
  // Per prompt: the mean tone of its samples, tuned against base.
  const byPrompt = new Map<string, { base: number[]; tuned: number[] }>();
  base.forEach((l, i) => {
    const e = byPrompt.get(l.prompt) ?? { base: [], tuned: [] };
    e.base.push(baseTone[i]!);
    e.tuned.push(tunedTone[i]!);
    byPrompt.set(l.prompt, e);
  });
  let higher = 0;
  let lower = 0;
  for (const e of byPrompt.values()) {
    const d = mean(e.tuned) - mean(e.base);
    if (d > 0) higher++;
    else if (d < 0) lower++;
  }
  const summary = {
    samples: base.length,
    prompts: byPrompt.size,
    meanToneBase: mean(baseTone),
    meanToneTuned: mean(tunedTone),
    positiveShareBase: mean(baseTone.map((t) => (t > 0 ? 1 : 0))),
    positiveShareTuned: mean(tunedTone.map((t) => (t > 0 ? 1 : 0))),
    promptsTunedHigher: higher,
    promptsTunedLower: lower,
    promptsEqual: byPrompt.size - higher - lower,
    settings: { split: o.split, limit: Number(o.limit), n: Number(o.n), maxNewTokens: Number(o['max-new-tokens']), temperature: Number(o.temperature), seed: Number(o.seed) },
  };
  for (let i = 0; i < Math.min(4, base.length); i++) {
    console.log(`${JSON.stringify(base[i]!.prompt)}\n  base  (${baseTone[i]}): ${base[i]!.completion}\n  tuned (${tunedTone[i]}): ${tuned[i]!.completion}`);
  }
  console.log(JSON.stringify(summary, null, 2));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: Error) => {
    console.error(`demo-preference-samples: ${e.message}`);
    process.exit(1);
  });
}
