// `prefstudio logprobs --model <dir> --data <file> --out <file.jsonl> [--max-length N]`: the summed
// completion log-probabilities of every record of a preference dataset under a model, computed by
// our WGSL engine (Dawn in Node), one JSON line per record:
//   pairs     {index, line, prompt_ids, chosen_ids, rejected_ids, chosen_logps, rejected_logps,
//              chosen_tokens, rejected_tokens}
//   unpaired  {index, line, label, prompt_ids, completion_ids, completion_logps, completion_tokens}
// Tokenisation is the trainer's (src/engine/training/tokenize.ts: TRL 1.x, chat template for
// conversational records, then max_length truncation); log-probs are TRL's (targets shifted by
// one, prompt and padding masked; src/engine/transformer/logprobs.ts). Under keep_end the two
// sequences of a pair may keep different prompt tails: then `rejected_prompt_ids` is added.
// Progress and problems (file and line of each bad or skipped row) go to stderr. --out is checked
// before anything is read (never the data or the model, never over a file without --force) and
// written under a temporary name, renamed at the end (src/cli/output.ts). --model may be a Hugging
// Face Hub id (src/cli/hub-model.ts): fetched into the cache, whose folder is then the input --out
// may not be inside. Without --onnx or --dtype, a folder's (or repo's) variant is the one the GPU
// memory budget recommends (--memory-budget, else the adapter's), said on stderr.
import { inflateLimitsHelp } from '../data/io/limits.js';
import { countBadRows, DataFormatError, describeRowError, type RowError } from '../data/errors.js';
import { detectFormat } from '../data/import/detect.js';
import { importRecords } from '../data/import/pipeline.js';
import { fileSource } from '../data/io/node-file.js';
import type { PrefRecord } from '../data/records.js';
import { isModelLoadError } from '../engine/model/errors.js';
import { modelInput, openModel, variantBudget } from './hub-model.js';
import { tuneForModel } from './tune-cache.js';
import { createNodeEngine } from '../engine/node.js';
import { TRUNCATION_MODES, type TruncationMode } from '../engine/training/config.js';
import { tokenizeRecords, type TokenizeSettings } from '../engine/training/tokenize.js';
import { sequenceLogprobs, type SequencePair } from '../engine/transformer/logprobs.js';
import { TransformerModel } from '../engine/transformer/model.js';
import { OutputError, OutputFile, planOutput } from './output.js';
import { DTYPE_BUDGET_USAGE, MEMORY_BUDGET_USAGE, parseDtype, parseMemoryBudget } from './input.js';
import type { OnnxDtype } from '../engine/model/layout.js';

/** Most sequences in one forward pass (WebGPU's guaranteed workgroups per dimension, 65535, with room). */
const MAX_BATCH_SEQUENCES = 4096;

const USAGE = `usage: prefstudio logprobs --model <dir> --data <file> --out <file.jsonl> [options]

  --model <dir or org/name>  model folder (ONNX, config, tokenizer.json), as for inspect, or a Hugging
                             Face Hub id (fetched once into PREFSTUDIO_CACHE)
  --data <file>              preference pairs (prompt/chosen/rejected) or unpaired records
                             (prompt/completion/label), TRL standard or conversational; JSON,
                             JSON Lines, CSV or Parquet, optionally .gz (any format convert reads)
  --out <file.jsonl>         one JSON line per scored record (never --data or inside --model)
  --force                    replace --out if it exists (kept as it was when the run fails)
  --max-length <n>           TRL max_length: prompt + completion tokens per sequence (default 1024)
  --truncation-mode <mode>   keep_start (default, TRL's) or keep_end
  --batch-size <n>           sequences per forward pass, at most 4096 (default 8)
  --onnx <file>              the .onnx file in the folder to use (default: the layout's choice)
${DTYPE_BUDGET_USAGE}
${MEMORY_BUDGET_USAGE}
  --allow-vocab-mismatch     load a model whose tokenizer has ids past its vocabulary; records
                             that tokenise to such ids are skipped (and listed)

${inflateLimitsHelp()}`;

interface Args {
  model: string;
  data: string;
  out: string;
  maxLength: number;
  truncation: TruncationMode;
  batchSize: number;
  onnx?: string;
  dtype?: OnnxDtype;
  /** --memory-budget: bytes, or null for the adapter's. */
  memoryBudget: number | null;
  allowVocabMismatch: boolean;
  force: boolean;
}

function parseArgs(args: string[]): Args | 'help' | string {
  const a: Partial<Args> = { maxLength: 1024, truncation: 'keep_start', batchSize: 8, memoryBudget: null, allowVocabMismatch: false, force: false };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (flag === '--help' || flag === '-h') return 'help';
    if (flag === '--allow-vocab-mismatch') {
      a.allowVocabMismatch = true;
      continue;
    }
    if (flag === '--force') {
      a.force = true;
      continue;
    }
    const value = args[i + 1];
    if (!flag.startsWith('--')) return `unexpected argument "${flag}"`;
    if (value === undefined || value.startsWith('--')) return `${flag} needs a value`;
    i++;
    const int = (name: string): number | string => {
      const n = Number(value);
      return Number.isInteger(n) && n >= 1 ? n : `${name} must be a whole number >= 1, got "${value}"`;
    };
    switch (flag) {
      case '--model': a.model = value; break;
      case '--data': a.data = value; break;
      case '--out': a.out = value; break;
      case '--onnx': a.onnx = value; break;
      case '--dtype': {
        try {
          a.dtype = parseDtype(value);
        } catch (e) {
          return (e as Error).message;
        }
        break;
      }
      case '--memory-budget': {
        try {
          a.memoryBudget = parseMemoryBudget(value);
        } catch (e) {
          return (e as Error).message;
        }
        break;
      }
      case '--max-length': {
        const n = int(flag);
        if (typeof n === 'string') return n;
        a.maxLength = n;
        break;
      }
      case '--batch-size': {
        const n = int(flag);
        if (typeof n === 'string') return n;
        // Sequences of one forward pass: each kernel launches a workgroup row per sequence.
        if (n > MAX_BATCH_SEQUENCES) return `--batch-size ${n} is more than ${MAX_BATCH_SEQUENCES} sequences per forward pass`;
        a.batchSize = n;
        break;
      }
      case '--truncation-mode':
        if (!(TRUNCATION_MODES as readonly string[]).includes(value)) return `--truncation-mode must be one of ${TRUNCATION_MODES.join(', ')}, got "${value}"`;
        a.truncation = value as TruncationMode;
        break;
      default:
        return `unknown option ${flag}`;
    }
  }
  for (const k of ['model', 'data', 'out'] as const) if (!a[k]) return `--${k} is required`;
  return a as Args;
}

/** Problems listed one by one before they are only counted. */
const MAX_LISTED = 20;

/** One record ready to score: its place in the file and its sequences. */
interface Pending {
  index: number;
  where: string;
  line: number | null;
  kind: 'pair' | 'unpaired';
  label?: boolean;
  sequences: SequencePair[];
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`prefstudio logprobs: ${parsed}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await logprobs(parsed);
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    process.stderr.write(`prefstudio logprobs: ${e.message}\n`);
    return 2;
  }
}

async function logprobs(a: Args): Promise<number> {
  const err = (s: string) => process.stderr.write(`${s}\n`);
  // The output first: a bad --out is reported before anything is read, and never names an input.
  const plan = await planOutput({ flag: '--out', path: a.out, kind: 'file' }, { force: a.force, inputs: [['--data', a.data], await modelInput(a.model)] });

  // The data first: a wrong file is reported before the model is loaded and the GPU started.
  const source = await fileSource(a.data).catch((e: Error) => {
    throw new Error(`cannot read --data ${a.data}: ${e.message}`);
  });
  const detection = await detectFormat(source).catch((e: Error) => {
    throw new Error(`${a.data}: ${e.message}`);
  });
  if (!detection.mapping) {
    err(`prefstudio logprobs: ${a.data}: ${detection.problem ?? 'not a preference dataset this tool reads'}`);
    return 1;
  }
  const mapping = detection.mapping;
  if (mapping.kind !== 'pair' && mapping.kind !== 'unpaired') {
    err(`prefstudio logprobs: ${a.data}: holds ${mapping.kind} records (read as ${mapping.format}); logprobs scores preference pairs and unpaired records`);
    return 1;
  }

  let loaded;
  try {
    ({ model: loaded } = await openModel(a.model, { onnx: a.onnx, dtype: a.dtype, budget: variantBudget(a.memoryBudget), acknowledge: a.allowVocabMismatch ? ['tokenizer-vocab-mismatch'] : [] }, (l) => err(`logprobs: ${l}`)));
  } catch (e) {
    if (!isModelLoadError(e)) throw e;
    const hint = e.code === 'tokenizer-vocab-mismatch' ? ' (--allow-vocab-mismatch scores the records whose ids fit)' : '';
    err(`prefstudio logprobs: cannot load --model ${a.model}: ${e.message} [${e.code}]${hint}`);
    return 1;
  }
  const tokenizer = loaded.tokenizer;
  if (!tokenizer) {
    err(`prefstudio logprobs: ${a.model} has no tokenizer.json: the data cannot be tokenised`);
    return 1;
  }
  const config = loaded.config;
  const settings = (method: 'dpo' | 'kto'): TokenizeSettings => ({
    method,
    max_length: a.maxLength,
    max_prompt_length: null,
    max_completion_length: null,
    truncation_mode: a.truncation,
    step_separator: '\n',
    per_device_train_batch_size: 1,
    per_device_eval_batch_size: 1,
  });

  const engine = await createNodeEngine();
  const adapter = `${engine.report.vendor || '?'} / ${engine.report.architecture || '?'}`;
  const model = TransformerModel.create(engine, config, loaded.transformerWeights());
  // Matmul variants for the forward pass on this adapter (issue 16; see src/cli/tune-cache.ts).
  await tuneForModel(engine, config, 256, { kernels: ['matmul_forward', 'attention_forward', 'logprobs_forward'], weights: model.weights, log: (l) => err(`logprobs: ${l}`) });
  const out = await OutputFile.create(plan);
  const counts = { rows: 0, scored: 0, badRows: 0, skipped: 0, tokens: 0 };
  const started = performance.now();
  let lastProgress = started;
  const progress = (final = false) => {
    const now = performance.now();
    if (!final && now - lastProgress < 1000) return;
    lastProgress = now;
    const s = (now - started) / 1000;
    err(`logprobs: ${counts.scored} records scored (${counts.tokens} tokens, ${(counts.tokens / Math.max(s, 1e-3)).toFixed(0)} tokens/s)` +
      `${counts.badRows ? `, ${counts.badRows} bad rows` : ''}${counts.skipped ? `, ${counts.skipped} skipped` : ''}${final ? `, ${s.toFixed(1)} s` : ''}`);
  };

  // Each problem is listed with its place, up to MAX_LISTED; the rest are counted by reason.
  const unlisted = new Map<string, number>();
  let listed = 0;
  const problem = (message: string, reason: string) => {
    if (listed++ < MAX_LISTED) err(`${a.data}: ${message}`);
    else unlisted.set(reason, (unlisted.get(reason) ?? 0) + 1);
  };
  // Each error is listed; rows are counted once however many of their fields are bad.
  const bad = (e: RowError) => {
    problem(`bad row, ${describeRowError(e)}`, `bad row: ${e.field ? `field ${e.field}: ` : ''}${e.reason}`);
  };
  const skip = (p: { where: string }, reason: string) => {
    counts.skipped++;
    problem(`${p.where}: skipped: ${reason}`, `skipped: ${reason}`);
  };

  let warnedPositions = false;
  /** Tokenises one record with the trainer's rules; null (and a message) when it is skipped. */
  const prepare = (rec: PrefRecord, index: number): Pending | null => {
    const ref = rec.source.type === 'import' ? rec.source : null;
    const line = ref?.line ?? null;
    const where = line !== null ? `line ${line}` : `row ${ref?.row ?? index}`;
    if (rec.kind !== 'pair' && rec.kind !== 'unpaired') {
      skip({ where }, `a ${rec.kind} record; logprobs scores pairs and unpaired records`);
      return null;
    }
    const t = tokenizeRecords([rec], tokenizer, settings(rec.kind === 'pair' ? 'dpo' : 'kto'));
    if (t.skipped.length) {
      skip({ where }, t.skipped[0]!.reason);
      return null;
    }
    for (const w of t.warnings) err(`${a.data}: ${where}: warning: ${w}`);
    // kto examples carry a KL completion as their second sequence: not scored here.
    const sequences = rec.kind === 'pair' ? t.examples[0]!.sequences : [t.examples[0]!.sequences[0]!];
    for (const s of sequences) {
      const ids = [...s.promptIds, ...s.completionIds];
      const outside = ids.find((id) => id >= config.vocabSize);
      if (outside !== undefined) {
        skip({ where }, `the tokenizer gives id ${outside}, outside the model's vocabulary of ${config.vocabSize}`);
        return null;
      }
      if (config.arch === 'gpt2' && ids.length > config.maxPositions) {
        skip({ where }, `${ids.length} tokens is past GPT-2's ${config.maxPositions} positions (lower --max-length)`);
        return null;
      }
      if (ids.length > config.maxPositions && !warnedPositions) {
        // RoPE runs past it, but the model was not trained there.
        warnedPositions = true;
        err(`${a.data}: ${where}: warning: ${ids.length} tokens is past the model's max_position_embeddings ${config.maxPositions} (lower --max-length to stay within it)`);
      }
    }
    return { index, where, line, kind: rec.kind, ...(rec.kind === 'unpaired' ? { label: rec.label } : {}), sequences };
  };

  const write = async (p: Pending, results: { logp: number; tokens: number }[]) => {
    const [first, second] = p.sequences;
    let row: Record<string, unknown>;
    if (p.kind === 'pair') {
      row = {
        index: p.index,
        line: p.line,
        prompt_ids: first!.promptIds,
        ...(sameIds(first!.promptIds, second!.promptIds) ? {} : { rejected_prompt_ids: second!.promptIds }),
        chosen_ids: first!.completionIds,
        rejected_ids: second!.completionIds,
        chosen_logps: results[0]!.logp,
        rejected_logps: results[1]!.logp,
        chosen_tokens: results[0]!.tokens,
        rejected_tokens: results[1]!.tokens,
      };
    } else {
      row = {
        index: p.index,
        line: p.line,
        label: p.label,
        prompt_ids: first!.promptIds,
        completion_ids: first!.completionIds,
        completion_logps: results[0]!.logp,
        completion_tokens: results[0]!.tokens,
      };
    }
    await out.write(`${JSON.stringify(row)}\n`);
  };

  let queue: Pending[] = [];
  const flush = async () => {
    if (queue.length === 0) return;
    const batch = queue.flatMap((p) => p.sequences);
    const results = await sequenceLogprobs(model, batch);
    let k = 0;
    for (const p of queue) {
      const r = results.slice(k, k + p.sequences.length);
      k += p.sequences.length;
      await write(p, r);
      counts.scored++;
      counts.tokens += p.sequences.reduce((n, s) => n + s.promptIds.length + s.completionIds.length, 0);
    }
    queue = [];
    progress();
  };

  let fatal: string | null = null;
  let written = false;
  try {
    let index = 0;
    try {
      for await (const b of importRecords(source, mapping)) {
        b.errors.forEach(bad);
        const badRows = countBadRows(b.errors);
        counts.badRows += badRows;
        counts.rows += b.records.length + badRows;
        for (const rec of b.records) {
          const p = prepare(rec, index++);
          if (!p) continue;
          queue.push(p);
          if (queue.reduce((n, q) => n + q.sequences.length, 0) >= a.batchSize) await flush();
        }
      }
    } catch (e) {
      if (!(e instanceof DataFormatError)) throw e;
      fatal = e.message;
    }
    await flush();
    await out.commit();
    written = true;
  } finally {
    if (!written) await out.discard();
    model.destroy();
    engine.destroy();
  }
  for (const [what, n] of unlisted) err(`${a.data}: ${n} more row(s): ${what}`);
  progress(true);
  if (fatal) err(`${a.data}: the file breaks off: ${fatal} (the records before it were scored)`);
  err(`wrote ${counts.scored} lines to ${a.out} (${counts.rows} rows read; adapter ${adapter})`);
  return counts.scored > 0 && counts.badRows === 0 && !fatal ? 0 : 1;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
