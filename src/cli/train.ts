// `prefstudio train --model <dir> --data <file> --method <name> [options] --out <dir>`: LoRA
// preference tuning headless (Dawn in Node), the engine's Trainer (src/engine/training) end to
// end. Writes into --out:
//   adapter_config.json, adapter_model.safetensors   the PEFT adapter (loads with PeftModel)
//   metrics.jsonl        one JSON line per optimizer step, TRL's metric names (eval_* when evaluated)
//   training_config.json the run's whole configuration (TRL/PEFT names)
//   checkpoint.safetensors  the last checkpoint (every --save-steps and at the end or on Ctrl-C);
//                           `--resume <out>/checkpoint.safetensors` continues the run bit for bit
// Progress goes to stderr. Exit 0 when done (or stopped by Ctrl-C with a checkpoint), 1 on an
// error, 2 on a usage error. The helpers below are shared with `prefstudio eval`.

import { appendFileSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describeRowError } from '../data/errors.js';
import { importAll } from '../data/import/pipeline.js';
import { fileSource } from '../data/io/node-file.js';
import type { PrefRecord } from '../data/records.js';
import type { Engine } from '../engine/gpu/engine.js';
import { ktoBalanceWarning } from '../engine/losses/methods.js';
import { LoraAdapter } from '../engine/lora/adapter.js';
import { formatBytes, isModelLoadError } from '../engine/model/errors.js';
import { loadModel, type LoadedModel } from '../engine/model/load.js';
import { nodeDirSource } from '../engine/model/source-node.js';
import { createNodeEngine } from '../engine/node.js';
import { loraAdapterConfig, loraBackend } from '../engine/training/backend.js';
import { TrainingConfigError, methodConfig, parseTrainingConfig, type TrainingConfig } from '../engine/training/config.js';
import { TrainingMemoryError } from '../engine/training/memory.js';
import { parseAdapterConfig, peftAdapterFiles, readSafetensors } from '../engine/training/peft.js';
import { sha256Hex, type RefLogpCache, type RefLogps } from '../engine/training/ref-cache.js';
import { tokenizeRecords, type Example } from '../engine/training/tokenize.js';
import { Trainer, decodeCheckpoint, encodeCheckpoint, type StepMetrics, type TrainerOptions } from '../engine/training/trainer.js';
import { TransformerModel } from '../engine/transformer/model.js';

export class UsageError extends Error {}

/** A command-line flag and the configuration field it sets. */
interface Flag {
  field: string;
  kind: 'int' | 'number' | 'string' | 'list' | 'numbers' | 'switch' | 'targets' | 'bytes' | 'nullable-number';
  help: string;
}

/** Objective and run flags, TRL's names in brackets. */
export const CONFIG_FLAGS: Record<string, Flag> = {
  '--beta': { field: 'beta', kind: 'number', help: 'β of the objective [beta] (method default: 0.1)' },
  '--loss-type': { field: 'loss_type', kind: 'list', help: 'DPO loss types, comma-separated [loss_type] (sigmoid, ipo, hinge, ...)' },
  '--loss-weights': { field: 'loss_weights', kind: 'numbers', help: 'one weight per loss type [loss_weights]' },
  '--label-smoothing': { field: 'label_smoothing', kind: 'number', help: '[label_smoothing] (cdpo, robust, exo_pair, simpo)' },
  '--rpo-alpha': { field: 'rpo_alpha', kind: 'number', help: 'weight of the SFT term [rpo_alpha]' },
  '--discopop-tau': { field: 'discopop_tau', kind: 'number', help: '[discopop_tau]' },
  '--simpo-gamma': { field: 'simpo_gamma', kind: 'number', help: 'SimPO margin [simpo_gamma] (0.5)' },
  '--cpo-alpha': { field: 'cpo_alpha', kind: 'number', help: 'CPO-SimPO NLL weight [cpo_alpha]' },
  '--desirable-weight': { field: 'desirable_weight', kind: 'number', help: 'KTO [desirable_weight] (1)' },
  '--undesirable-weight': { field: 'undesirable_weight', kind: 'number', help: 'KTO [undesirable_weight] (1)' },
  '--lr': { field: 'learning_rate', kind: 'number', help: 'peak learning rate [learning_rate] (1e-6, TRL\'s; LoRA wants ~1e-4..1e-3)' },
  '--steps': { field: 'max_steps', kind: 'int', help: 'optimizer steps [max_steps] (overrides --epochs)' },
  '--epochs': { field: 'num_train_epochs', kind: 'number', help: 'epochs [num_train_epochs] (3)' },
  '--batch-size': { field: 'per_device_train_batch_size', kind: 'int', help: 'records per micro-batch [per_device_train_batch_size] (8)' },
  '--eval-batch-size': { field: 'per_device_eval_batch_size', kind: 'int', help: '[per_device_eval_batch_size] (default: --batch-size)' },
  '--grad-accum': { field: 'gradient_accumulation_steps', kind: 'int', help: 'micro-batches per step [gradient_accumulation_steps] (1)' },
  '--max-length': { field: 'max_length', kind: 'int', help: 'prompt + completion tokens per sequence [max_length] (1024)' },
  '--max-prompt-length': { field: 'max_prompt_length', kind: 'int', help: '[max_prompt_length] (off)' },
  '--max-completion-length': { field: 'max_completion_length', kind: 'int', help: '[max_completion_length] (off)' },
  '--truncation-mode': { field: 'truncation_mode', kind: 'string', help: 'keep_start (default) or keep_end [truncation_mode]' },
  '--step-separator': { field: 'step_separator', kind: 'string', help: 'joins step-wise prompts and steps [step_separator] ("\\n")' },
  '--warmup-ratio': { field: 'warmup_ratio', kind: 'number', help: '[warmup_ratio] (0)' },
  '--warmup-steps': { field: 'warmup_steps', kind: 'int', help: '[warmup_steps] (0)' },
  '--scheduler': { field: 'lr_scheduler_type', kind: 'string', help: 'linear, cosine, constant, constant_with_warmup [lr_scheduler_type]' },
  '--weight-decay': { field: 'weight_decay', kind: 'number', help: 'AdamW [weight_decay] (0)' },
  '--max-grad-norm': { field: 'max_grad_norm', kind: 'nullable-number', help: 'clip the global gradient norm [max_grad_norm] (1; 0 = off)' },
  '--seed': { field: 'seed', kind: 'int', help: 'data order, LoRA init and dropout [seed] (42)' },
  '--eval-steps': { field: 'eval_steps', kind: 'int', help: 'evaluate on the test split every N steps [eval_steps] (at the end)' },
  '--save-steps': { field: 'save_steps', kind: 'int', help: 'checkpoint every N steps [save_steps] (500)' },
  '--memory-budget': { field: 'memory_budget_bytes', kind: 'bytes', help: 'GPU memory the run may use, e.g. 6GiB [memory_budget_bytes] (4GiB)' },
  '--lora-r': { field: 'lora.r', kind: 'int', help: 'LoRA rank [r] (8)' },
  '--lora-alpha': { field: 'lora.lora_alpha', kind: 'number', help: '[lora_alpha] (8)' },
  '--lora-dropout': { field: 'lora.lora_dropout', kind: 'number', help: '[lora_dropout] (0)' },
  '--rslora': { field: 'lora.use_rslora', kind: 'switch', help: 'scale alpha/√r [use_rslora]' },
  '--targets': { field: 'lora.target_modules', kind: 'targets', help: 'comma-separated modules or all-linear [target_modules] (q_proj,v_proj)' },
};

const FIELD_FLAG = new Map(Object.entries(CONFIG_FLAGS).map(([flag, f]) => [f.field, flag]));

function parseBytes(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(v.trim());
  if (!m) return null;
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Math.round(Number(m[1]) * mult[unit]!);
}

function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const [head, ...rest] = path.split('.');
  if (rest.length === 0) o[head!] = v;
  else setPath((o[head!] ??= {}) as Record<string, unknown>, rest.join('.'), v);
}

export interface ParsedArgs {
  /** --model, --data, --out, ... (flags that are not configuration). */
  plain: Record<string, string>;
  switches: Set<string>;
  /** Configuration fields from flags. */
  config: Record<string, unknown>;
  /** Flags given, for messages. */
  given: string[];
}

/** Parses flags: configuration flags (CONFIG_FLAGS) and the command's own `plain` and `switches`. */
export function parseFlags(args: string[], plain: readonly string[], switches: readonly string[] = []): ParsedArgs {
  const out: ParsedArgs = { plain: {}, switches: new Set(), config: {}, given: [] };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (!flag.startsWith('--')) throw new UsageError(`unexpected argument "${flag}"`);
    out.given.push(flag);
    if (switches.includes(flag)) {
      out.switches.add(flag);
      continue;
    }
    const f = CONFIG_FLAGS[flag];
    if (f?.kind === 'switch') {
      setPath(out.config, f.field, true);
      continue;
    }
    if (!f && !plain.includes(flag)) throw new UsageError(`unknown option ${flag}`);
    const value = args[++i];
    if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`${flag} needs a value`);
    if (!f) {
      out.plain[flag] = value;
      continue;
    }
    let v: unknown;
    const num = (s: string) => {
      const n = Number(s);
      if (s.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got "${s}"`);
      return n;
    };
    switch (f.kind) {
      case 'int': {
        const n = num(value);
        if (!Number.isInteger(n)) throw new UsageError(`${flag} expects a whole number, got "${value}"`);
        v = n;
        break;
      }
      case 'number':
        v = num(value);
        break;
      case 'nullable-number':
        v = num(value) === 0 ? null : num(value);
        break;
      case 'string':
        v = value;
        break;
      case 'list':
        v = value.split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case 'numbers':
        v = value.split(',').map((s) => num(s));
        break;
      case 'targets':
        v = value === 'all-linear' ? 'all-linear' : value.split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case 'bytes': {
        const b = parseBytes(value);
        if (b === null) throw new UsageError(`${flag} expects a size like 4GiB or 512MiB, got "${value}"`);
        v = b;
        break;
      }
      default:
        throw new Error(`flag kind ${f.kind}`);
    }
    setPath(out.config, f.field, v);
  }
  return out;
}

/** parseTrainingConfig with each bad field also named by its flag. */
export function configFrom(input: Record<string, unknown>): TrainingConfig {
  try {
    return parseTrainingConfig(input);
  } catch (e) {
    if (!(e instanceof TrainingConfigError)) throw e;
    const lines = e.issues.map((i) => {
      const flag = FIELD_FLAG.get(i.field) ?? FIELD_FLAG.get(i.field.replace(/\.\d+$/, ''));
      return `${i.field || '(config)'}${flag ? ` (${flag})` : ''}: ${i.reason}`;
    });
    throw new UsageError(`invalid settings:\n  ${lines.join('\n  ')}`);
  }
}

export function flagsHelp(): string {
  return Object.entries(CONFIG_FLAGS)
    .map(([flag, f]) => `  ${`${flag}${f.kind === 'switch' ? '' : ' <v>'}`.padEnd(26)} ${f.help}`)
    .join('\n');
}

export const err = (s: string) => process.stderr.write(`${s}\n`);

/** Reads a dataset file in any format the importer reads; bad rows are listed (file:line). */
export async function readRecords(file: string, tag: string): Promise<PrefRecord[]> {
  const source = await fileSource(file).catch((e: Error) => {
    throw new Error(`cannot read --data ${file}: ${e.message}`);
  });
  const r = await importAll(source).catch((e: Error) => {
    throw new Error(`${file}: ${e.message}`);
  });
  const MAX = 10;
  r.errors.slice(0, MAX).forEach((e) => err(`${tag}: ${file}: bad row, ${describeRowError(e)}`));
  if (r.errors.length > MAX) err(`${tag}: ${file}: ... and ${r.errors.length - MAX} more bad rows`);
  if (r.fatal) err(`${tag}: ${file}: the file breaks off: ${r.fatal.message} (the rows before it are used)`);
  if (r.records.length === 0) throw new Error(`${file}: no usable record (${r.errors.length} bad rows)`);
  const fmt = r.detection.mapping ? `${r.detection.mapping.format}, ${r.detection.mapping.kind}` : '?';
  err(`${tag}: ${file}: ${r.records.length} records (${fmt})${r.errors.length ? `, ${r.errors.length} bad rows skipped` : ''}`);
  return r.records;
}

export async function readModel(dir: string, tag: string, onnx?: string): Promise<LoadedModel> {
  try {
    const m = await loadModel(nodeDirSource(dir), { onnx });
    if (!m.tokenizer) throw new Error(`${dir} has no tokenizer.json: the data cannot be tokenized`);
    err(`${tag}: model ${dir}: ${m.arch}, ${m.parameterCount.toLocaleString('en-US')} parameters`);
    return m;
  } catch (e) {
    if (isModelLoadError(e)) throw new Error(`cannot load --model ${dir}: ${e.message} [${e.code}]`);
    throw e;
  }
}

/** Identifies the base model's weights (reference cache and checkpoints): SHA-256 of its files' bytes. */
export async function modelFingerprint(m: LoadedModel): Promise<string> {
  const parts = [m.onnx.modelBytes, ...m.externalData().map((d) => d.data)];
  const hashes = await Promise.all(parts.map((p) => sha256Hex(p)));
  return sha256Hex(hashes.join(','));
}

/** Tokenizes records for the run; reports skipped records by reason with their lines. */
export function tokenizeForRun(records: PrefRecord[], m: LoadedModel, config: TrainingConfig, tag: string, file: string): Example[] {
  const t = tokenizeRecords(records, m.tokenizer!, config);
  const where = (i: number) => {
    const s = records[i]!.source;
    return s.type === 'import' && s.line !== undefined ? `line ${s.line}` : `record ${i}`;
  };
  const skipped = [...t.skipped];
  // What the model cannot take: ids outside its vocabulary, GPT-2 positions past its table.
  const c = m.config;
  const examples = t.examples.filter((e) => {
    for (const s of e.sequences) {
      const ids = [...s.promptIds, ...s.completionIds];
      const outside = ids.find((id) => id >= c.vocabSize);
      if (outside !== undefined) {
        skipped.push({ record: e.record, reason: `the tokenizer gives id ${outside}, outside the model's vocabulary of ${c.vocabSize}` });
        return false;
      }
      if (c.arch === 'gpt2' && ids.length > c.maxPositions) {
        skipped.push({ record: e.record, reason: `${ids.length} tokens is past GPT-2's ${c.maxPositions} positions (lower --max-length)` });
        return false;
      }
    }
    return true;
  });
  skipped.slice(0, 10).forEach((s) => err(`${tag}: ${file}: ${where(s.record)}: skipped: ${s.reason}`));
  if (skipped.length > 10) err(`${tag}: ${file}: ... and ${skipped.length - 10} more skipped`);
  for (const w of t.warnings) err(`${tag}: warning: ${w}`);
  if (examples.length === 0) throw new Error(`${file}: no record can train with ${config.method}`);
  return examples;
}

/** A reference cache in a folder: one small JSON file per example. */
export function dirRefCache(dir: string): RefLogpCache {
  const path = (key: string) => join(dir, `${key.replace(/[^a-z0-9]/gi, '_')}.json`);
  return {
    async get(key) {
      const text = await fs.readFile(path(key), 'utf8').catch(() => null);
      return text ? (JSON.parse(text) as RefLogps) : undefined;
    },
    async set(key, value) {
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path(key), JSON.stringify(value));
    },
  };
}

export interface Session {
  engine: Engine;
  model: TransformerModel;
  adapter: LoraAdapter;
  /** GPU bytes of the uploaded weights. */
  weightBytes: number;
  close(): void;
}

let sharedEngine: Engine | null = null;

/** Tests run several commands on one engine (pipelines compile once); null: a new one per command. */
export function useEngine(engine: Engine | null): void {
  sharedEngine = engine;
}

/** The GPU side: engine, model weights and a LoRA adapter (fresh, or loaded from a PEFT folder). */
export async function openSession(m: LoadedModel, config: TrainingConfig, tag: string, adapterDir?: string): Promise<Session> {
  const shared = sharedEngine;
  const engine = shared ?? (await createNodeEngine());
  err(`${tag}: GPU ${engine.report.vendor || '?'} / ${engine.report.architecture || '?'}`);
  const model = TransformerModel.create(engine, m.config, m.transformerWeights());
  const weightBytes = engine.pool.stats.bytesAllocated;
  let adapter: LoraAdapter;
  try {
    adapter = LoraAdapter.create(model, loraAdapterConfig(config.lora, config.seed));
    if (adapterDir) adapter.load((await readPeftAdapter(adapterDir)).tensors);
  } catch (e) {
    model.destroy();
    if (!shared) engine.destroy();
    throw e;
  }
  return {
    engine,
    model,
    adapter,
    weightBytes,
    close() {
      adapter.destroy();
      model.destroy();
      if (!shared) engine.destroy();
    },
  };
}

/** Trainer options for a session's model and adapter, with progress lines on stderr under `tag`. */
export async function sessionTrainerOptions(
  session: Session,
  m: LoadedModel,
  config: TrainingConfig,
  examples: Example[],
  tag: string,
  refCache?: RefLogpCache,
): Promise<TrainerOptions> {
  return {
    backend: loraBackend(session.model, session.adapter, session.weightBytes),
    config,
    examples,
    modelFingerprint: await modelFingerprint(m),
    refCache,
    onProgress: (msg) => err(`${tag}: ${msg}`),
  };
}

/** A PEFT adapter folder: its LoRA settings and tensors by PEFT name. */
export async function readPeftAdapter(dir: string): Promise<{ lora: TrainingConfig['lora']; tensors: Map<string, Float32Array> }> {
  const cfgFile = join(dir, 'adapter_config.json');
  const text = await fs.readFile(cfgFile, 'utf8').catch((e: Error) => {
    throw new Error(`cannot read ${cfgFile}: ${e.message}`);
  });
  const { lora } = parseAdapterConfig(text, cfgFile);
  const stFile = join(dir, 'adapter_model.safetensors');
  const bytes = await fs.readFile(stFile).catch((e: Error) => {
    throw new Error(`cannot read ${stFile}: ${e.message}`);
  });
  const st = readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), stFile);
  return { lora, tensors: new Map([...st.tensors].map(([k, t]) => [k, t.data])) };
}

export async function writePeftAdapter(dir: string, trainer: Trainer, adapter: LoraAdapter, config: TrainingConfig, baseModel: string): Promise<void> {
  const files = peftAdapterFiles(config.lora, baseModel, adapter.targetModuleNames, adapter.fanInFanOut, await trainer.adapterTensors());
  await fs.mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeAtomic(join(dir, name), bytes);
}

export async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

/** Known errors become one clear line; others propagate with their stack under PREFSTUDIO_DEBUG. */
function reportError(tag: string, e: unknown, usage: string): number {
  // node:util parseArgs rejects unknown or malformed flags with a TypeError coded ERR_PARSE_ARGS_*.
  const badFlags = e instanceof Error && e.name === 'TypeError' && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS');
  if (e instanceof UsageError || badFlags) {
    process.stderr.write(`prefstudio ${tag}: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (e instanceof TrainingMemoryError) {
    err(`prefstudio ${tag}: ${e.message}`);
    return 1;
  }
  throw e;
}

const fmt = (v: number | undefined, digits = 4) => (v === undefined ? '-' : Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(digits) : v.toExponential(2));

export function progressLine(m: StepMetrics, total: number): string {
  const parts = [
    `step ${m.step}/${total}`,
    `loss ${fmt(m.loss)}`,
    m['rewards/accuracies'] !== undefined ? `acc ${fmt(m['rewards/accuracies'], 2)}` : null,
    m['rewards/margins'] !== undefined ? `margin ${fmt(m['rewards/margins'])}` : null,
    m.kl !== undefined ? `kl ${fmt(m.kl)}` : null,
    `grad ${fmt(m.grad_norm)}`,
    `lr ${m.learning_rate!.toExponential(2)}`,
    `${(m.tokens_per_second ?? 0).toFixed(0)} tok/s`,
    `${((m.step_time_ms ?? 0) / 1000).toFixed(2)} s`,
    `GPU ${formatBytes(m.gpu_memory_bytes ?? 0)}`,
  ];
  if (m.eval_loss !== undefined) {
    parts.push(`| eval loss ${fmt(m.eval_loss)}${m['eval_rewards/accuracies'] !== undefined ? ` acc ${fmt(m['eval_rewards/accuracies'], 2)}` : ''}`);
  }
  return parts.filter(Boolean).join('  ');
}

const USAGE = `usage: prefstudio train --model <dir> --data <file> --method <name> --out <dir> [options]

  --model <dir>              model folder (ONNX, config.json, tokenizer.json), as for inspect
  --data <file>              preference data in any format convert reads (TRL JSONL, CSV, Parquet, ...);
                             a \`split\` field (train/test) sets the held-out records
  --method <name>            dpo, cdpo, rpo, step_dpo, orpo, simpo, cpo_simpo, kto, listwise, sft
  --out <dir>                where the adapter, metrics.jsonl and checkpoint.safetensors go
  --config <file.json>       settings as JSON with TRL/PEFT names (flags override them)
  --init-adapter <dir>       start from this PEFT adapter (iterative rounds) instead of a fresh one
  --resume <checkpoint>      continue a stopped run (its settings come from the checkpoint)
  --ref-cache <dir>          keep reference log-probs here between runs
  --onnx <file>              the .onnx file of the folder to use

settings:
${flagsHelp()}

Ctrl-C stops after the current step and writes a checkpoint and the adapter.
`;

/** A command's entry point: --help prints its usage; usage and memory errors become exit codes (reportError). */
export async function runCommand(tag: string, usage: string, args: string[], command: (args: string[]) => Promise<number>): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage);
    return 0;
  }
  try {
    return await command(args);
  } catch (e) {
    return reportError(tag, e, usage);
  }
}

export function run(args: string[]): Promise<number> {
  return runCommand('train', USAGE, args, (a) => train(a, 'train'));
}

async function train(args: string[], tag: string): Promise<number> {
  const p = parseFlags(args, ['--model', '--data', '--method', '--out', '--config', '--init-adapter', '--resume', '--ref-cache', '--onnx']);
  for (const k of ['--model', '--data', '--out'] as const) if (!p.plain[k]) throw new UsageError(`${k} is required`);
  const out = p.plain['--out']!;
  const resume = p.plain['--resume'] ? decodeCheckpoint(new Uint8Array(await fs.readFile(p.plain['--resume']))) : null;
  // Iterative rounds start from an adapter: its LoRA settings unless flags say otherwise.
  const init = p.plain['--init-adapter'] ? await readPeftAdapter(p.plain['--init-adapter']) : null;
  let config: TrainingConfig;
  if (resume) {
    const extra = p.given.filter((f) => CONFIG_FLAGS[f] || f === '--config' || f === '--method' || f === '--init-adapter');
    if (extra.length) throw new UsageError(`--resume takes its settings from the checkpoint; drop ${extra.join(', ')}`);
    config = resume.config;
  } else {
    if (!p.plain['--method']) throw new UsageError('--method is required');
    let base: Record<string, unknown> = {};
    if (p.plain['--config']) {
      const file = p.plain['--config'];
      try {
        base = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new UsageError(`--config ${file}: ${(e as Error).message}`);
      }
    }
    const lora = { ...(init?.lora ?? {}), ...(base.lora as object), ...(p.config.lora as object) };
    const input: Record<string, unknown> = { ...base, ...p.config, lora, method: p.plain['--method'] };
    // The eval batch follows the training batch unless set.
    if (input.per_device_eval_batch_size === undefined && input.per_device_train_batch_size !== undefined) input.per_device_eval_batch_size = input.per_device_train_batch_size;
    config = configFrom(input);
  }
  if (init) {
    const names = (t: TrainingConfig['lora']['target_modules']) => (t === 'all-linear' ? t : [...t].sort().join(','));
    if (init.lora.r !== config.lora.r || names(init.lora.target_modules) !== names(config.lora.target_modules)) {
      throw new UsageError(`--init-adapter has r ${init.lora.r} and target_modules ${JSON.stringify(init.lora.target_modules)}; --lora-r and --targets must match`);
    }
  }

  const data = p.plain['--data']!;
  const records = await readRecords(data, tag);
  const loaded = await readModel(p.plain['--model']!, tag, p.plain['--onnx']);
  const examples = tokenizeForRun(records, loaded, config, tag, data);
  const split = { train: examples.filter((e) => e.split === 'train').length, test: examples.filter((e) => e.split === 'test').length };
  err(`${tag}: ${split.train} training and ${split.test} held-out examples for ${config.method}`);
  if (config.method === 'kto') {
    const trainEx = examples.filter((e) => e.split === 'train');
    const w = ktoBalanceWarning(methodConfig(config), trainEx.filter((e) => e.label).length, trainEx.filter((e) => !e.label).length);
    if (w) err(`${tag}: warning: ${w}`);
  }

  const session = await openSession(loaded, config, tag, p.plain['--init-adapter']);
  try {
    const options = await sessionTrainerOptions(session, loaded, config, examples, tag, p.plain['--ref-cache'] ? dirRefCache(p.plain['--ref-cache']) : undefined);
    const trainer = resume ? await Trainer.resume(options, resume) : await Trainer.create(options);
    const mem = trainer.memory;
    err(`${tag}: ${session.adapter.parameterCount.toLocaleString('en-US')} LoRA parameters; ${trainer.totalSteps} steps; estimated GPU memory ${formatBytes(mem.total)} ` +
      `(weights ${formatBytes(mem.weights)}, LoRA + AdamW ${formatBytes(mem.adapter)}, activations ${formatBytes(mem.activations)})`);
    await fs.mkdir(out, { recursive: true });
    await writeAtomic(join(out, 'training_config.json'), JSON.stringify(config, null, 2) + '\n');
    // metrics.jsonl holds the whole history: a resumed run rewrites the lines before its step.
    const metricsFile = join(out, 'metrics.jsonl');
    await fs.writeFile(metricsFile, trainer.history.map((m) => JSON.stringify(m) + '\n').join(''));

    const stop = new AbortController();
    const onSigint = () => {
      if (stop.signal.aborted) process.exit(130);
      err(`${tag}: stopping after this step (Ctrl-C again to quit at once)`);
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    let result;
    try {
      result = await trainer.run(
        (m) => {
          err(`${tag}: ${progressLine(m, trainer.totalSteps)}`);
          appendFileSync(metricsFile, JSON.stringify(m) + '\n');
        },
        {
          signal: stop.signal,
          onCheckpoint: async (c) => {
            await writeAtomic(join(out, 'checkpoint.safetensors'), encodeCheckpoint(c));
            await writePeftAdapter(out, trainer, session.adapter, config, p.plain['--model']!);
          },
        },
      );
    } finally {
      process.off('SIGINT', onSigint);
    }
    trainer.destroy();
    if (result.reason === 'aborted') {
      err(`${tag}: stopped at step ${result.step}/${result.totalSteps}; resume with --resume ${join(out, 'checkpoint.safetensors')}`);
    } else {
      err(`${tag}: done, ${result.step} steps; adapter, metrics.jsonl and checkpoint in ${out}`);
    }
    return 0;
  } finally {
    session.close();
  }
}
