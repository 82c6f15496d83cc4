// `prefstudio train --model <dir> --data <file> --method <name> [options] --out <dir>`: LoRA
// preference tuning headless (Dawn in Node), the engine's Trainer (src/engine/training) end to
// end. Writes into --out:
//   adapter_config.json, adapter_model.safetensors   the PEFT adapter (loads with PeftModel)
//   metrics.jsonl        one JSON line per optimizer step, TRL's metric names (eval_* when evaluated)
//   training_config.json the run's whole configuration (TRL/PEFT names)
//   checkpoint.safetensors  the last checkpoint (every --save-steps and at the end or on Ctrl-C);
//                           `--resume <out>/checkpoint.safetensors` continues the run bit for bit
// Progress goes to stderr. Exit 0 when done (or stopped by Ctrl-C with a checkpoint), 1 on an
// error, 2 on a usage error. An existing non-empty --out is refused unless --resume continues the
// run there or --force replaces it (its run files are removed first); each file is written
// atomically (src/cli/output.ts). The helpers below are shared with `prefstudio eval`.

import { appendFileSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { countBadRows, describeRowError } from '../data/errors.js';
import { importAll } from '../data/import/pipeline.js';
import { inflateLimitsHelp } from '../data/io/limits.js';
import { fileSource } from '../data/io/node-file.js';
import type { PrefRecord } from '../data/records.js';
import type { Engine } from '../engine/gpu/engine.js';
import { LoraAdapter, LoraRankError, loraScale, planLora } from '../engine/lora/adapter.js';
import { formatBytes, isModelLoadError } from '../engine/model/errors.js';
import type { LoadedModel } from '../engine/model/load.js';
import { tuneForModel } from './tune-cache.js';
import { TRAINING_TUNED_KERNELS, trainingTuneRows } from '../engine/tuning/training-tune.js';
import { createNodeEngine } from '../engine/node.js';
import { loraAdapterConfig, loraBackend } from '../engine/training/backend.js';
import { LORA_TARGETS, TrainingConfigError, parseTrainingConfig, type TrainingConfig } from '../engine/training/config.js';
import { prepareRun, recordPlace } from '../engine/training/prepare.js';
import { ConfigImportError, importConfig, type ImportedConfig } from '../engine/methods/import-config.js';
import { isMethodId, METHOD_IDS, METHODS } from '../engine/methods/registry.js';
import { SETTING_GROUPS, SETTING_PATHS, SETTINGS, type SettingInput, type SettingPath } from '../engine/methods/settings.js';
import { SettingTextError, valueFromText } from '../engine/methods/text.js';
import { NonFiniteError } from '../engine/finite.js';
import { checkpointingNote, configAsRun, TrainingMemoryError } from '../engine/training/memory.js';
import { memoryBudget } from '../engine/gpu/budget.js';
import { peftAdapterFiles } from '../engine/training/peft.js';
import { referenceFromAdapter } from '../engine/training/reference.js';
import { checkRefLogps, RefCacheError, sha256Hex, type RefLogpCache } from '../engine/training/ref-cache.js';
import type { Example } from '../engine/training/tokenize.js';
import { Trainer, decodeCheckpoint, encodeCheckpoint, type StepMetrics, type TrainerOptions } from '../engine/training/trainer.js';
import { TransformerModel } from '../engine/transformer/model.js';
import { modelInput, openModel, variantBudget } from './hub-model.js';
import { DTYPE_BUDGET_USAGE, F16_WEIGHTS_USAGE, INPUT_LIMITS, parseDtype, readAdapterFrom, readCheckpointBytes, readOptionalText, readSettingsText } from './input.js';
import { OutputError, planOutput, prepareRunFolder, writeOutputFile } from './output.js';

export class UsageError extends Error {}

/** A configuration flag: the registry's setting it sets (src/engine/methods/settings.ts). */
interface Flag {
  field: SettingPath;
  input: SettingInput;
}

/** Every setting's flag, from the registry; TRL's names in brackets in the help. */
export const CONFIG_FLAGS: Record<string, Flag> = Object.fromEntries(SETTING_PATHS.map((p) => [SETTINGS[p].flag, { field: p, input: SETTINGS[p].input }]));

const FIELD_FLAG = new Map(Object.entries(CONFIG_FLAGS).map(([flag, f]) => [f.field as string, flag]));

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

/** A flag's text as the setting's value (the registry's codec); the schema checks the range. */
function flagValue(flag: string, input: SettingInput, value: string): unknown {
  try {
    return valueFromText(input, value);
  } catch (e) {
    if (e instanceof SettingTextError) throw new UsageError(`${flag} ${e.message}`);
    throw e;
  }
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
    if (f?.input === 'switch' || f?.input === 'optional-switch') {
      setPath(out.config, f.field, true);
      continue;
    }
    // --no-<switch> sets it off (over a --config file, or an automatic default).
    const negated = flag.startsWith('--no-') ? CONFIG_FLAGS[`--${flag.slice(5)}`] : undefined;
    if (negated?.input === 'switch' || negated?.input === 'optional-switch') {
      setPath(out.config, negated.field, false);
      continue;
    }
    if (!f && !plain.includes(flag)) throw new UsageError(`unknown option ${flag}`);
    const value = args[++i];
    if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`${flag} needs a value`);
    if (!f) {
      out.plain[flag] = value;
      continue;
    }
    setPath(out.config, f.field, flagValue(flag, f.input, value));
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

/** The settings' flags by group: TRL/PEFT name, default (and methods' own), then the help. */
export function flagsHelp(): string {
  const groups = new Map<string, string[]>();
  for (const p of SETTING_PATHS) {
    const st = SETTINGS[p];
    const name = p.replace(/^lora\./, '');
    const own = METHOD_IDS.flatMap((m) => {
      const d = (METHODS[m].defaults as Record<string, unknown> | undefined)?.[p];
      return d === undefined ? [] : [`${m} ${shownDefault(d)}`];
    });
    const def = `default ${shownDefault(st.default, st.input)}${own.length ? ` (${own.join(', ')})` : ''}`;
    const choices = st.input === 'choice' || st.input === 'choices' ? ` One of: ${st.choices!.join(', ')}.` : '';
    const flag = st.input === 'switch' || st.input === 'optional-switch' ? `--[no-]${st.flag.slice(2)}` : `${st.flag} <v>`;
    const head = `  ${flag.padEnd(30)} [${name}] ${def}`;
    const title = SETTING_GROUPS[st.group];
    groups.set(title, [...(groups.get(title) ?? []), `${head}\n${' '.repeat(33)}${st.help}${choices}`]);
  }
  return [...groups].map(([title, lines]) => `${title}:\n${lines.join('\n')}`).join('\n\n');
}

function shownDefault(v: unknown, input?: SettingInput): string {
  if (v === null) return input === 'optional-switch' ? 'auto' : 'none';
  if (typeof v === 'number' && v >= 1024 ** 3 && v % 1024 ** 3 === 0) return `${v / 1024 ** 3}GiB`;
  if (typeof v === 'string') return JSON.stringify(v);
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** The methods, one line each (usage of train and eval). */
export function methodsHelp(): string {
  return METHOD_IDS.map((m) => `  ${m.padEnd(10)} ${METHODS[m].label}: ${METHODS[m].summary}`).join('\n');
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
  // Errors are listed, rows counted: a row with several field errors is one bad row.
  const listedRows = countBadRows(r.errors.slice(0, MAX));
  if (r.badRows > listedRows) err(`${tag}: ${file}: ... and ${r.badRows - listedRows} more bad rows`);
  if (r.fatal) err(`${tag}: ${file}: the file breaks off: ${r.fatal.message} (the rows before it are used)`);
  if (r.records.length === 0) throw new Error(`${file}: no usable record (${r.badRows} bad rows)${r.fatal ? `: ${r.fatal.message}` : ''}`);
  const fmt = r.detection.mapping ? `${r.detection.mapping.format}, ${r.detection.mapping.kind}` : '?';
  err(`${tag}: ${file}: ${r.records.length} records (${fmt})${r.badRows ? `, ${r.badRows} bad rows skipped` : ''}`);
  return r.records;
}

/**
 * --model for a command that runs it on the GPU: --onnx's file, --dtype's variant, else the one the
 * GPU memory budget recommends (`memoryBudgetBytes`, the run's memory_budget_bytes, else the
 * adapter's; src/cli/hub-model.ts openModel).
 */
export async function readModel(dir: string, tag: string, onnx?: string, dtype?: string, f16Weights = false, memoryBudgetBytes: number | null = null): Promise<LoadedModel> {
  let d;
  try {
    d = parseDtype(dtype);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  try {
    const { model: m } = await openModel(dir, { onnx, dtype: d, f16Weights, budget: variantBudget(memoryBudgetBytes) }, (line) => err(`${tag}: ${line}`));
    if (!m.tokenizer) throw new Error(`${dir} has no tokenizer.json: the data cannot be tokenized`);
    err(`${tag}: model ${dir}: ${m.arch}, ${m.parameterCount.toLocaleString('en-US')} parameters, ${m.layout.onnx} (${m.layout.reason})${f16Weights ? ', linear weights converted to f16 on load' : ''}`);
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

/** The run preparation every surface shares; reports what was left out (file lines) and warnings on stderr. */
export function tokenizeForRun(records: PrefRecord[], m: LoadedModel, config: TrainingConfig, tag: string, file: string): Example[] {
  const run = prepareRun(records, m.tokenizer!, m.config, config);
  const MAX = 10;
  run.skipped.slice(0, MAX).forEach((s) => err(`${tag}: ${file}: ${recordPlace(records, s.record)}: skipped: ${s.reason}`));
  if (run.skipped.length > MAX) err(`${tag}: ${file}: ... and ${run.skipped.length - MAX} more skipped`);
  for (const w of run.warnings) err(`${tag}: warning: ${w}`);
  if (run.examples.length === 0) throw new Error(`${file}: no record can train with ${config.method} (it needs ${METHODS[config.method].needs}; ${run.counts.skipped} left out)`);
  return run.examples;
}

/** A reference cache in a folder: one small JSON file per example. */
export function dirRefCache(dir: string): RefLogpCache {
  const path = (key: string) => join(dir, `${key.replace(/[^a-z0-9]/gi, '_')}.json`);
  return {
    async get(key) {
      const file = path(key);
      const text = await readOptionalText(file, INPUT_LIMITS.refCacheEntry, 'a reference-cache entry');
      if (text === undefined) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new RefCacheError(`reference-cache entry ${file}: not JSON (${(e as Error).message}); delete it (it is recomputed) or the whole cache`);
      }
      return checkRefLogps(value, file);
    },
    async set(key, value) {
      await fs.mkdir(dir, { recursive: true });
      // Atomic (a reader never sees half an entry); not synced: an entry lost in a crash is recomputed.
      await writeOutputFile(path(key), JSON.stringify(value), { sync: false });
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
  // Kernel variants for this model on this adapter (issue 16): from the tuning cache, or measured
  // at first use (a few seconds; not on software adapters unless PREFSTUDIO_TUNE=on).
  await tuneForModel(engine, m.config, trainingTuneRows(config.per_device_train_batch_size, config.max_length), {
    kernels: TRAINING_TUNED_KERNELS,
    loraRank: config.lora.r,
    weights: model.weights,
    log: (l) => err(`${tag}: ${l}`),
  });
  const weightBytes = engine.pool.stats.bytesAllocated;
  let adapter: LoraAdapter;
  try {
    // The adapter's size from the model's shapes, checked before any of it is allocated: the rank
    // against the layers (planLora) and, with gradients and AdamW moments, against the budget.
    const loraConfig = loraAdapterConfig(config.lora, config.seed);
    const plan = planLora(model, loraConfig);
    const adapterBytes = 16 * plan.parameterCount;
    const budget = memoryBudget(engine.report, config.memory_budget_bytes);
    if (weightBytes + adapterBytes > budget.bytes) {
      throw new LoraRankError(
        `LoRA rank r = ${config.lora.r} gives ${plan.parameterCount.toLocaleString('en-US')} LoRA parameters: ${formatBytes(adapterBytes)} with their gradients and AdamW moments, ` +
          `which with the weights (${formatBytes(weightBytes)}) is more than the GPU memory budget of ${formatBytes(budget.bytes)} (${budget.source}): lower r (--lora-r) or target fewer modules`,
      );
    }
    adapter = LoraAdapter.create(model, loraConfig);
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

/**
 * Settings from a JSON file: a PrefStudio training_config.json, a TRL hand-off's recipe.json, or
 * a TRL DPOConfig/KTOConfig/CPOConfig dump (registry import); fields it cannot use are listed.
 */
export async function configFile(file: string, method: string | undefined, tag: string): Promise<ImportedConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readSettingsText(file));
  } catch (e) {
    throw new UsageError(`--config ${file}: ${(e as Error).message}`);
  }
  try {
    const r = importConfig(json, method !== undefined && isMethodId(method) ? method : undefined);
    err(`${tag}: settings from ${file} (${r.from})`);
    for (const i of r.ignored) err(`${tag}: ${file}: not used: ${i.field} (${i.reason})`);
    return r;
  } catch (e) {
    if (e instanceof ConfigImportError) throw new UsageError(`--config ${file}: ${e.message}`);
    throw e;
  }
}

/** A PEFT adapter folder (or a zip of one; src/cli/input.ts): its LoRA settings and tensors by PEFT name. */
export async function readPeftAdapter(dir: string): Promise<{ lora: TrainingConfig['lora']; tensors: Map<string, Float32Array> }> {
  const a = await readAdapterFrom(dir);
  if (!a) throw new Error(`cannot read adapter ${dir}: no such file or folder`);
  return { lora: a.lora, tensors: a.tensors };
}

/** The adapter files into a run folder the command owns, each written atomically. */
export async function writePeftAdapter(dir: string, trainer: Trainer, adapter: LoraAdapter, config: TrainingConfig, baseModel: string): Promise<void> {
  const files = peftAdapterFiles(config.lora, baseModel, adapter.targetModuleNames, adapter.fanInFanOut, await trainer.adapterTensors());
  for (const [name, bytes] of Object.entries(files)) await writeOutputFile(join(dir, name), bytes);
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
  if (e instanceof OutputError) {
    err(`prefstudio ${tag}: ${e.message}`);
    return 2;
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

  --model <dir or org/name>  model folder (ONNX, config.json, tokenizer.json), as for inspect, or a Hugging Face Hub id (fetched once into PREFSTUDIO_CACHE)
  --data <file>              preference data in any format convert reads (TRL JSONL, CSV, Parquet, ...);
                             a \`split\` field (train/test) sets the held-out records
  --method <name>            one of the methods below
  --out <dir>                where the adapter, metrics.jsonl and checkpoint.safetensors go: a new or
                             empty folder (its parent must exist), never inside --model
  --force                    train into a non-empty --out: its run files (adapter, metrics.jsonl,
                             training_config.json, checkpoint) are removed when the new run starts
  --config <file.json>       settings as JSON: a run's training_config.json, a TRL hand-off's recipe.json,
                             or a TRL DPOConfig/KTOConfig/CPOConfig dump (flags override them)
  --init-adapter <dir>       start from this PEFT adapter (iterative rounds) instead of a fresh one
  --ref-adapter <dir>        the reference is the base model plus this PEFT adapter (iterative DPO:
                             the previous round's policy); reference log-probs are cached under it
  --resume <checkpoint>      continue a stopped run (its settings come from the checkpoint); --out may
                             be the run's own folder
  --ref-cache <dir>          keep reference log-probs here between runs
  --onnx <file>              the .onnx file of the folder to use
${DTYPE_BUDGET_USAGE}
${F16_WEIGHTS_USAGE}

methods:
${methodsHelp()}

settings (TRL/PEFT names in brackets):

${flagsHelp()}

Ctrl-C stops after the current step and writes a checkpoint and the adapter. A NaN or an infinity
in the loss, the gradient norm or the weights stops the run at that step: nothing is written from it,
and the last checkpoint (every --save-steps) stays as it was.

${inflateLimitsHelp()}`;

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

/** The files a run writes into --out; --force removes them before a new run starts there. */
export const RUN_FILES = ['adapter_config.json', 'adapter_model.safetensors', 'metrics.jsonl', 'training_config.json', 'checkpoint.safetensors'] as const;

async function train(args: string[], tag: string): Promise<number> {
  const p = parseFlags(args, ['--model', '--data', '--method', '--out', '--config', '--init-adapter', '--ref-adapter', '--resume', '--ref-cache', '--onnx', '--dtype'], ['--force', '--f16-weights']);
  for (const k of ['--model', '--data', '--out'] as const) if (!p.plain[k]) throw new UsageError(`${k} is required`);
  const out = p.plain['--out']!;
  // --out before anything is read: a run folder is new or empty, continued by --resume from its own
  // checkpoint, or replaced with --force; never an input or inside one.
  const resumeFile = p.plain['--resume'];
  const real = (f: string) => fs.realpath(f).catch(() => null);
  const resumesHere = !!resumeFile && (await real(dirname(resumeFile))) !== null && (await real(dirname(resumeFile))) === (await real(out));
  const plan = await planOutput({ flag: '--out', path: out, kind: 'folder' }, {
    force: p.switches.has('--force'),
    reuse: resumesHere,
    inputs: [await modelInput(p.plain['--model']), ['--data', p.plain['--data']], ['--init-adapter', p.plain['--init-adapter']], ['--ref-adapter', p.plain['--ref-adapter']], ['--config', p.plain['--config']], ['--resume', resumesHere ? null : resumeFile]],
    existsHint: `pass --resume ${join(out, 'checkpoint.safetensors')} to continue the run there, or --force to replace it`,
  });
  // A checkpoint is checked whole before use: its settings as if given on the command line, its state and tensors.
  const resume = resumeFile ? decodeCheckpoint(await readCheckpointBytes(resumeFile), `--resume ${resumeFile}`) : null;
  // Iterative rounds start from an adapter: its LoRA settings unless flags say otherwise.
  const init = p.plain['--init-adapter'] ? await readPeftAdapter(p.plain['--init-adapter']) : null;
  let config: TrainingConfig;
  if (resume) {
    const extra = p.given.filter((f) => CONFIG_FLAGS[f] || CONFIG_FLAGS[f.replace(/^--no-/, '--')] || f === '--config' || f === '--method' || f === '--init-adapter');
    if (extra.length) throw new UsageError(`--resume takes its settings from the checkpoint; drop ${extra.join(', ')}`);
    config = resume.config;
  } else {
    const base = p.plain['--config'] ? await configFile(p.plain['--config'], p.plain['--method'], tag) : null;
    const method = p.plain['--method'] ?? base?.method;
    if (!method) throw new UsageError('--method is required (or a --config file that names it)');
    const lora = { ...(init?.lora ?? {}), ...(base?.input.lora as object), ...(p.config.lora as object) };
    config = configFrom({ ...base?.input, ...p.config, lora, method });
  }
  const data = p.plain['--data']!;
  const records = await readRecords(data, tag);
  const loaded = await readModel(p.plain['--model']!, tag, p.plain['--onnx'], p.plain['--dtype'], p.switches.has('--f16-weights'), config.memory_budget_bytes);
  if (init) {
    // PEFT writes all-linear as the list of modules it found: all-linear equals that list.
    const present = [...new Set([...loaded.weights.keys()].flatMap((n) => /\.([a-z_]+)\.weight$/.exec(n)?.[1] ?? []).filter((m) => (LORA_TARGETS as readonly string[]).includes(m)))];
    const names = (t: TrainingConfig['lora']['target_modules']) => [...(t === 'all-linear' ? present : t)].sort().join(',');
    if (init.lora.r !== config.lora.r || names(init.lora.target_modules) !== names(config.lora.target_modules)) {
      throw new UsageError(`--init-adapter has r ${init.lora.r} and target_modules ${JSON.stringify(init.lora.target_modules)}; --lora-r and --targets must match`);
    }
  }
  const examples = tokenizeForRun(records, loaded, config, tag, data);
  const split = { train: examples.filter((e) => e.split === 'train').length, test: examples.filter((e) => e.split === 'test').length };
  err(`${tag}: ${split.train} training and ${split.test} held-out examples for ${config.method}`);

  const session = await openSession(loaded, config, tag, p.plain['--init-adapter']);
  try {
    const options = await sessionTrainerOptions(session, loaded, config, examples, tag, p.plain['--ref-cache'] ? dirRefCache(p.plain['--ref-cache']) : undefined);
    if (p.plain['--ref-adapter']) {
      // Iterative DPO: the reference is the base plus the previous round's adapter (a resumed run
      // takes the reference saved in its checkpoint).
      const ref = await readPeftAdapter(p.plain['--ref-adapter']);
      options.backend = loraBackend(session.model, session.adapter, session.weightBytes, referenceFromAdapter(ref.tensors, ref.lora.r, loraScale({ r: ref.lora.r, alpha: ref.lora.lora_alpha, useRslora: ref.lora.use_rslora })));
      err(`${tag}: reference: the base model plus ${p.plain['--ref-adapter']}`);
    }
    const trainer = resume ? await Trainer.resume(options, resume) : await Trainer.create(options);
    const mem = trainer.memory;
    err(`${tag}: ${session.adapter.parameterCount.toLocaleString('en-US')} LoRA parameters; ${trainer.totalSteps} steps; estimated GPU memory ${formatBytes(mem.total)} ` +
      `(weights ${formatBytes(mem.weights)}, LoRA + AdamW ${formatBytes(mem.adapter)}, activations ${formatBytes(mem.activations)}) ` +
      `of a ${formatBytes(memoryBudget(session.engine.report, config.memory_budget_bytes).bytes)} budget (${memoryBudget(session.engine.report, config.memory_budget_bytes).source}); ${checkpointingNote(mem)}`);
    // Nothing in --out is touched before this point: a run that fails to start leaves it as it was.
    await prepareRunFolder(plan, RUN_FILES, plan.exists && !resumesHere);
    // The configuration as it runs: gradient_checkpointing as the Trainer decided it (the checkpoint keeps the setting as given).
    await writeOutputFile(join(out, 'training_config.json'), JSON.stringify(configAsRun(config, mem), null, 2) + '\n');
    // metrics.jsonl holds the whole history: a resumed run rewrites the lines before its step.
    const metricsFile = join(out, 'metrics.jsonl');
    await writeOutputFile(metricsFile, trainer.history.map((m) => JSON.stringify(m) + '\n').join(''));

    const stop = new AbortController();
    const onSigint = () => {
      if (stop.signal.aborted) process.exit(130);
      err(`${tag}: stopping after this step (Ctrl-C again to quit at once)`);
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    let result;
    let saved = resume ? resume.step : 0;
    try {
      result = await trainer.run(
        (m) => {
          err(`${tag}: ${progressLine(m, trainer.totalSteps)}`);
          appendFileSync(metricsFile, JSON.stringify(m) + '\n');
        },
        {
          signal: stop.signal,
          onCheckpoint: async (c) => {
            await writeOutputFile(join(out, 'checkpoint.safetensors'), encodeCheckpoint(c));
            await writePeftAdapter(out, trainer, session.adapter, config, p.plain['--model']!);
            saved = c.step;
          },
        },
      );
    } catch (e) {
      if (!(e instanceof NonFiniteError)) throw e;
      // Nothing is written from the bad state: the last good checkpoint (if any) stays as it was.
      const kept = saved > 0
        ? `the checkpoint and adapter of step ${saved} in ${out} are kept (resume with --resume ${join(out, 'checkpoint.safetensors')} and a lower --lr)`
        : `no adapter or checkpoint was written to ${out}`;
      throw new NonFiniteError(`${e.message}; ${kept}`);
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
