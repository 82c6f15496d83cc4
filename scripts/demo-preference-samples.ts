// Do the tuned adapter's samples show the learned preference? Samples the demo model with and
// without an adapter on the same prompts with the same seeds (`prefstudio sample`), and scores
// every completion with the tone lexicon the demo dataset was built from
// (scripts/demo-model/tone-lexicon.json): mean tone base vs tuned, and how many
// prompts' tuned samples score higher, equal, lower.
//
//   npx tsx scripts/demo-preference-samples.ts --adapter <dir> [--model <dir>] [--data <file>]
//       [--split test] [--limit all] [--n 4] [--max-new-tokens 40] [--temperature 1] [--seed 0]
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { tone, toneWords } from './demo-model/tone.js';

function countWords(lines: Line[]): { hopeful: number; gloomy: number } {
  const n = { hopeful: 0, gloomy: 0 };
  for (const l of lines) {
    const w = toneWords(l.completion);
    n.hopeful += w.hopeful;
    n.gloomy += w.gloomy;
  }
  return n;
}

interface Line {
  prompt: string;
  sample: number;
  completion: string;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

async function sample(args: string[]): Promise<Line[]> {
  const r = await run(process.execPath, [join(root, 'bin/prefstudio.mjs'), 'sample', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }).catch((e: Error & { stderr?: string }) => {
    throw new Error(`prefstudio sample ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
  });
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

export interface SampleComparison {
  samples: number;
  prompts: number;
  meanToneBase: number;
  meanToneTuned: number;
  positiveShareBase: number;
  positiveShareTuned: number;
  /** Lexicon words over all samples: the share of hopeful ones is what the pairs taught. */
  wordsBase: { hopeful: number; gloomy: number };
  wordsTuned: { hopeful: number; gloomy: number };
  promptsTunedHigher: number;
  promptsTunedLower: number;
  promptsEqual: number;
  settings: { split: string; limit: number | null; n: number; maxNewTokens: number; temperature: number; seed: number };
  /** The first few prompts' samples, base and tuned. */
  examples: { prompt: string; base: string; tuned: string }[];
}

export interface SampleOptions {
  adapter: string;
  model?: string;
  data?: string;
  split?: string;
  limit?: number;
  n?: number;
  maxNewTokens?: number;
  temperature?: number;
  seed?: number;
  /** Rows sampled together (`sample --batch`; its default when absent): each batch draws its own seed. */
  batch?: number;
}

/** Samples with and without the adapter (same prompts, same seeds) and compares their tone. */
export async function compareSamples(options: SampleOptions): Promise<SampleComparison> {
  const settings = {
    split: options.split ?? 'test',
    limit: options.limit ?? null,
    n: options.n ?? 4,
    maxNewTokens: options.maxNewTokens ?? 40,
    temperature: options.temperature ?? 1,
    seed: options.seed ?? 0,
  };
  const common = [
    '--model', options.model ?? join(root, 'public/models/demo-fortunes'),
    '--prompts-from', options.data ?? join(root, 'public/datasets/demo-fortunes-positive.jsonl'),
    '--split', settings.split, ...(settings.limit === null ? [] : ['--limit', String(settings.limit)]), '--n', String(settings.n),
    '--max-new-tokens', String(settings.maxNewTokens), '--temperature', String(settings.temperature), '--seed', String(settings.seed),
    ...(options.batch === undefined ? [] : ['--batch', String(options.batch)]),
  ];
  const base = await sample(common);
  const tuned = await sample([...common, '--adapter', options.adapter]);
  if (base.length !== tuned.length) throw new Error(`${base.length} base samples but ${tuned.length} tuned`);
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
  return {
    samples: base.length,
    prompts: byPrompt.size,
    meanToneBase: mean(baseTone),
    meanToneTuned: mean(tunedTone),
    positiveShareBase: mean(baseTone.map((t) => (t > 0 ? 1 : 0))),
    positiveShareTuned: mean(tunedTone.map((t) => (t > 0 ? 1 : 0))),
    wordsBase: countWords(base),
    wordsTuned: countWords(tuned),
    promptsTunedHigher: higher,
    promptsTunedLower: lower,
    promptsEqual: byPrompt.size - higher - lower,
    settings,
    examples: base.slice(0, 4).map((l, i) => ({ prompt: l.prompt, base: l.completion, tuned: tuned[i]!.completion })),
  };
}

async function main(): Promise<void> {
  const { values: o } = parseArgs({
    options: {
      adapter: { type: 'string' },
      model: { type: 'string' },
      data: { type: 'string' },
      split: { type: 'string' },
      limit: { type: 'string' },
      n: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      batch: { type: 'string' },
    },
  });
  if (!o.adapter) throw new Error('--adapter <dir> is required (a PEFT folder from `prefstudio train --out`)');
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const { examples, ...summary } = await compareSamples({
    adapter: o.adapter,
    model: o.model,
    data: o.data,
    split: o.split,
    limit: num(o.limit),
    n: num(o.n),
    maxNewTokens: num(o['max-new-tokens']),
    temperature: num(o.temperature),
    seed: num(o.seed),
    batch: num(o.batch),
  });
  for (const x of examples) console.log(`${JSON.stringify(x.prompt)}\n  base  (${tone(x.base)}): ${x.base}\n  tuned (${tone(x.tuned)}): ${x.tuned}`);
  console.log(JSON.stringify(summary, null, 2));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: Error) => {
    console.error(`demo-preference-samples: ${e.message}`);
    process.exit(1);
  });
}
