// `prefstudio generate --model <dir> [--adapter <dir>] --prompts <file> --n 4 [sampling flags]
// --out candidates.jsonl`: K candidates for every prompt of a prompt set (any file the importer
// reads: TRL prompt-only or language-modelling data, a plain list of prompts, or any preference
// data, whose prompts are used), batched on the GPU with the KV cache (engine/loop/candidates.ts).
// Candidate k of prompt i draws from its own generator seeded by (--seed, i, k), so the output does
// not depend on --batch, and a run continued with --resume gives what one run would have.
//
// Output: one PrefStudio `candidates` record per prompt, as JSON lines (the importer reads them
// back; `prefstudio judge` takes them): the prompt (every turn, system apart), the K responses,
// the split of the prompt's record, and the provenance (model, adapter, round, prompt index,
// sampling settings). Ctrl-C stops after the current batch and writes the sets done; --resume
// keeps the sets already in --out and generates the missing ones. The file is written under a
// temporary name and renamed at the end (src/cli/output.ts).

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { importAll } from '../data/import/pipeline.js';
import { inflateLimitsHelp } from '../data/io/limits.js';
import { fileSource } from '../data/io/node-file.js';
import type { CandidatesRecord, PrefRecord } from '../data/records.js';
import { generateCandidateSets, type CandidatePrompt } from '../engine/loop/candidates.js';
import { candidateRecordOf } from '../engine/loop/records.js';
import { GenerationSettingsSchema, LoopConfigError, parseWith, type GenerationSettings, type GenerationSettingsInput } from '../engine/loop/config.js';
import type { LoadedModel } from '../engine/model/load.js';
import { KV_CACHE_CHOICES, type KvCacheChoice } from '../engine/transformer/kv-dtype.js';
import { planOutput, writeOutputFile } from './output.js';
import { modelInput } from './hub-model.js';
import { configFrom, err, openSession, readModel, readPeftAdapter, readRecords, runCommand, UsageError } from './train.js';

const USAGE = `usage: prefstudio generate --model <dir> [--adapter <dir>] --prompts <file> --n 4 [options] --out candidates.jsonl

  --model <dir or org/name>  model folder (ONNX + config.json + tokenizer.json), or a Hugging Face Hub id
                             (fetched once into PREFSTUDIO_CACHE)
  --adapter <dir>            PEFT LoRA adapter to generate with (default: the base model)
  --prompts <file>           a prompt set: TRL prompt-only or language-modelling data, a plain list
                             (.txt, one prompt per line), a CSV column of prompts, or any dataset
                             (each record's prompt, every turn, and its system prompt)
  --split <name>             only prompts of this split (train or test)
  --limit <n>                at most n prompts
  --n <k>                    candidates per prompt, at least 2 (default 4)
  --temperature <t>          0 = greedy (default 1)
  --top-p <p>                in (0, 1] (default 1, off)
  --top-k <k>                (default 0, off)
  --min-p <p>                in [0, 1] (default 0, off): keep tokens at least p times the most likely
  --repetition-penalty <r>   > 0 (default 1, off): Hugging Face's, on the prompt and the completion
  --max-new-tokens <n>       tokens per candidate at most (default 48)
  --stop <text>              stop a candidate at this text (repeatable; cut before it)
  --seed <s>                 0 to 4294967295 (default 0): candidate k of prompt i draws from (s, i, k)
  --chat-template            prompts through the tokenizer's chat template (text prompts become a
                             user turn and the candidates are stored as a conversation)
  --no-chat-template         text prompts as plain text (default: as training tokenizes them:
                             conversations and system prompts through the template, text as text)
  --batch <rows>             prompt x candidate rows generated together (default 16)
  --kv-cache <auto|f32|f16>  the KV cache's dtype (default auto: f16 where the GPU has shader-f16,
                             half the memory; f32 elsewhere)
  --round <k>                the loop round to record in the provenance
  --out <file>               the candidate sets, JSON lines (a new file; --force replaces one)
  --resume                   keep the sets already in --out, generate the prompts not done yet
  --force                    replace an existing --out

Progress (prompts, tokens, tokens/s, ETA) goes to stderr. Ctrl-C stops after the current batch and
writes the sets done (continue with --resume).

${inflateLimitsHelp()}`;

export function run(args: string[]): Promise<number> {
  return runCommand('generate', USAGE, args, generateCommand);
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got "${v}"`);
  return n;
}

/** --kv-cache: one of KV_CACHE_CHOICES. */
export function kvCacheFlag(v: string | undefined): KvCacheChoice | undefined {
  if (v === undefined) return undefined;
  if (!(KV_CACHE_CHOICES as readonly string[]).includes(v)) throw new UsageError(`--kv-cache expects ${KV_CACHE_CHOICES.join(', ')}, got "${v}"`);
  return v as KvCacheChoice;
}

/** Sampling flags into GenerationSettings (validated by the loop's schema, each bad one named by its flag). */
export function samplingFrom(o: Record<string, unknown>): GenerationSettings {
  const input: GenerationSettingsInput = {};
  const set = <K extends keyof GenerationSettingsInput>(k: K, v: GenerationSettingsInput[K] | undefined) => {
    if (v !== undefined) input[k] = v;
  };
  set('n', num('--n', o.n as string | undefined));
  set('temperature', num('--temperature', o.temperature as string | undefined));
  set('topP', num('--top-p', o['top-p'] as string | undefined));
  set('topK', num('--top-k', o['top-k'] as string | undefined));
  set('minP', num('--min-p', o['min-p'] as string | undefined));
  set('repetitionPenalty', num('--repetition-penalty', o['repetition-penalty'] as string | undefined));
  set('maxNewTokens', num('--max-new-tokens', o['max-new-tokens'] as string | undefined));
  set('seed', num('--seed', o.seed as string | undefined));
  if (Array.isArray(o.stop)) input.stopStrings = o.stop as string[];
  if (typeof o['chat-template'] === 'boolean') input.chatTemplate = o['chat-template'];
  set('kvCache', kvCacheFlag(o['kv-cache'] as string | undefined));
  try {
    return parseWith(GenerationSettingsSchema, input);
  } catch (e) {
    if (!(e instanceof LoopConfigError)) throw e;
    const flag: Record<string, string> = { n: '--n', topP: '--top-p', topK: '--top-k', minP: '--min-p', repetitionPenalty: '--repetition-penalty', maxNewTokens: '--max-new-tokens', stopStrings: '--stop' };
    throw new UsageError(e.issues.map((i) => `${flag[i.field.split('.')[0]!] ?? `--${i.field}`}: ${i.reason}`).join('; '));
  }
}

/** The prompts of a set's records, numbered by their place in the file. */
export function promptsOf(records: readonly PrefRecord[], split?: string, limit?: number): (CandidatePrompt & { split: PrefRecord['split'] })[] {
  const out: (CandidatePrompt & { split: PrefRecord['split'] })[] = [];
  records.forEach((r, index) => {
    if (split !== undefined && r.split !== split) return;
    out.push({ index, prompt: r.prompt, ...(r.system !== undefined ? { system: r.system } : {}), split: r.split });
  });
  return limit !== undefined ? out.slice(0, limit) : out;
}

/** Candidate records already in a file (--resume), by prompt index. */
async function existingSets(file: string): Promise<Map<number, CandidatesRecord>> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return new Map();
  const r = await importAll(await fileSource(file));
  const out = new Map<number, CandidatesRecord>();
  for (const x of r.records) if (x.kind === 'candidates' && x.source.type === 'generated' && x.source.promptIndex !== undefined) out.set(x.source.promptIndex, x);
  return out;
}

export interface GenerateRun {
  model: LoadedModel;
  modelName: string;
  adapterDir?: string;
  prompts: (CandidatePrompt & { split: PrefRecord['split'] })[];
  settings: GenerationSettings;
  round?: number;
  batch?: number;
  tag: string;
  /** Sets already done (kept, not generated again). */
  done?: ReadonlyMap<number, CandidatesRecord>;
  signal?: AbortSignal;
}

/** Generates the missing sets; returns every set in prompt order (the done ones included) and what was skipped. */
export async function generateSets(g: GenerateRun): Promise<{ records: CandidatesRecord[]; skipped: { index: number; reason: string }[]; aborted: boolean }> {
  const tok = g.model.tokenizer!;
  const todo = g.prompts.filter((p) => !g.done?.has(p.index));
  const lora = g.adapterDir ? (await readPeftAdapter(g.adapterDir)).lora : undefined;
  const session = await openSession(g.model, configFrom({ method: 'sft', ...(lora ? { lora } : {}) }), g.tag, g.adapterDir);
  const made = new Map<number, CandidatesRecord>(g.done ?? []);
  try {
    if (!g.adapterDir) session.adapter.enabled = false;
    const split = new Map(g.prompts.map((p) => [p.index, p.split]));
    const eos = [...new Set([...g.model.config.eosIds, ...tok.eosIds])];
    let last = 0;
    const r = await generateCandidateSets(session.model, tok, todo, g.settings, {
      batchRows: g.batch ?? 16,
      eosIds: eos,
      ...(g.signal ? { signal: g.signal } : {}),
      onSet: (set) => void made.set(set.index, candidateRecordOf(set, split.get(set.index) ?? 'train', { model: g.modelName, ...(g.adapterDir ? { adapter: g.adapterDir } : {}), ...(g.round !== undefined ? { round: g.round } : {}), settings: g.settings })),
      onProgress: (p) => {
        const now = performance.now();
        if (now - last < 1000 && p.done < p.total) return;
        last = now;
        const rate = p.tokens / Math.max(1e-3, p.ms / 1000);
        err(`${g.tag}: ${p.done}/${p.total} prompts, ${p.tokens} tokens, ${rate.toFixed(0)} tokens/s${p.etaMs !== null && p.done < p.total ? `, ETA ${(p.etaMs / 1000).toFixed(0)} s` : ''}`);
      },
    });
    for (const s of r.skipped) err(`${g.tag}: prompt ${s.index + 1}: skipped: ${s.reason}`);
    const order = g.prompts.map((p) => p.index).filter((i) => made.has(i));
    return { records: order.map((i) => made.get(i)!), skipped: r.skipped, aborted: r.aborted };
  } finally {
    session.close();
  }
}

async function generateCommand(args: string[]): Promise<number> {
  const tag = 'generate';
  const { values: o } = parseArgs({
    args,
    strict: true,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      prompts: { type: 'string' },
      split: { type: 'string' },
      limit: { type: 'string' },
      n: { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      'min-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      stop: { type: 'string', multiple: true },
      seed: { type: 'string' },
      'chat-template': { type: 'boolean' },
      'kv-cache': { type: 'string' },
      batch: { type: 'string' },
      round: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      force: { type: 'boolean' },
    },
    allowNegative: true,
  });
  for (const k of ['model', 'prompts', 'out'] as const) if (!o[k]) throw new UsageError(`--${k} is required`);
  if (o.resume && o.force) throw new UsageError('--resume keeps --out and --force replaces it: give one');
  const settings = samplingFrom(o);
  const limit = num('--limit', o.limit);
  const batch = num('--batch', o.batch) ?? 16;
  const round = num('--round', o.round);
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= 4096)) throw new UsageError(`--batch must be a whole number from 1 to 4096, got ${o.batch}`);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new UsageError(`--limit must be a whole number of at least 1, got ${o.limit}`);
  if (round !== undefined && !(Number.isInteger(round) && round >= 1)) throw new UsageError(`--round must be a whole number of at least 1, got ${o.round}`);
  if (o.split !== undefined && o.split !== 'train' && o.split !== 'test') throw new UsageError(`--split must be train or test, got "${o.split}"`);
  const plan = await planOutput({ flag: '--out', path: o.out!, kind: 'file' }, {
    force: o.force === true || o.resume === true,
    inputs: [await modelInput(o.model), ['--adapter', o.adapter], ['--prompts', o.prompts]],
    existsHint: 'pass --resume to continue it, or --force to replace it',
  });

  const records = await readRecords(o.prompts!, tag);
  const prompts = promptsOf(records, o.split, limit);
  if (prompts.length === 0) throw new Error(`${o.prompts}: no prompt${o.split ? ` in split ${o.split}` : ''}`);
  const done = o.resume ? await existingSets(plan.target) : new Map<number, CandidatesRecord>();
  if (o.resume) err(`${tag}: --resume: ${done.size} of ${prompts.length} prompts already have candidates in ${o.out}`);
  const model = await readModel(o.model!, tag);
  if (settings.maxNewTokens > model.config.maxPositions) throw new UsageError(`--max-new-tokens ${settings.maxNewTokens} is more than the model's context of ${model.config.maxPositions} positions`);

  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) process.exit(130);
    err(`${tag}: stopping after this batch (Ctrl-C again to quit at once)`);
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  let r;
  try {
    r = await generateSets({ model, modelName: basename(o.model!.replace(/\/+$/, '')), ...(o.adapter ? { adapterDir: o.adapter } : {}), prompts, settings, ...(round !== undefined ? { round } : {}), batch, tag, done, signal: stop.signal });
  } finally {
    process.off('SIGINT', onSigint);
  }
  await writeOutputFile(plan, r.records.map((x) => `${JSON.stringify(x)}\n`));
  const missing = prompts.length - r.records.length - r.skipped.length;
  err(`${tag}: ${r.records.length} candidate sets of ${settings.n} in ${o.out}${r.skipped.length ? `, ${r.skipped.length} prompts skipped` : ''}${r.aborted ? `; stopped with ${missing} prompts to go (continue with --resume)` : ''}`);
  if (r.records.length === 0) return 1;
  return 0;
}
