// `prefstudio export`: take a PEFT adapter elsewhere (src/engine/export): a merged ONNX model
// (onnxruntime / transformers.js without LoRA), a llama.cpp GGUF LoRA adapter, a PEFT zip, or a
// TRL hand-off folder (dataset + recipe + train.py + multi-GPU launch configs). Host-only: no GPU.

import { isMethodId, type MethodId } from '../engine/methods/registry.js';
import { createWriteStream, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { mergeOnnx } from '../engine/export/merge.js';
import { ggufLoraAdapter } from '../engine/export/gguf.js';
import { adapterModules, type AdapterData } from '../engine/export/modules.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, peftFiles, readPeftFiles, readPeftZip, zipFiles } from '../engine/export/peft.js';
import { trlHandoff } from '../engine/export/trl.js';
import { formatBytes, isModelLoadError } from '../engine/model/errors.js';
import { HUB_ID_EXAMPLE, resolveHubBaseModel, type BaseModelInput } from '../hub-id.js';
import { loadModel, type LoadedModel } from '../engine/model/load.js';
import { nodeDirSource } from '../engine/model/source-node.js';
import { UsageError, configFile, configFrom, err, flagsHelp, parseFlags, readRecords, runCommand, writeAtomic } from './train.js';

const TAG = 'export';
const BASE_MODEL: BaseModelInput = { name: '--base-model', example: `--base-model ${HUB_ID_EXAMPLE}` };

const USAGE = `usage: prefstudio export --model <dir> --adapter <dir|zip> <output>... [options]

  --model <dir>              the ONNX model folder the adapter was trained on
  --adapter <dir|zip>        a PEFT adapter (adapter_config.json + adapter_model.safetensors), or a zip of one

outputs (one or more):
  --merged <out.onnx|dir>    the model's ONNX with the adapter merged into its weights (same graph, inputs,
                             outputs); a folder gets the whole model folder (config, tokenizer) too
  --gguf <out.gguf>          a llama.cpp LoRA adapter (llama-cli -m base.gguf --lora out.gguf)
  --peft <out.zip|dir>       the PEFT adapter again, as one zip or a folder
  --trl <dir>                TRL hand-off: data/*.jsonl, recipe.json, train.py, accelerate configs, README.md

options:
  --onnx <file>              the .onnx file of the model folder to use
  --external-data <on|off>   merged: force external weight data on or off (default: as the model, or when > 2 GiB)
  --gguf-type <f32|f16>      GGUF tensor type (default f32, as convert_lora_to_gguf.py)
  --data <file>              --trl: the dataset (any format convert reads; split: test rows → data/test.jsonl)
  --base-model <hub id>      --trl: the Hugging Face Hub id of the model TRL trains, such as
                             ${HUB_ID_EXAMPLE} (default: the adapter's base_model_name_or_path,
                             else config.json's _name_or_path, when it is a namespace/name Hub id);
                             a local path is refused: TRL downloads the model on its own machine
  --method <name>            --trl: the method; with the settings flags below it overrides the run's
                             training_config.json when the adapter folder has one (written by prefstudio train)

settings for --trl:
${flagsHelp()}
`;

export function run(args: string[]): Promise<number> {
  return runCommand(TAG, USAGE, args, exportCommand);
}

/** A PEFT adapter from a folder or a zip. */
export async function readAdapter(path: string): Promise<AdapterData> {
  const st = await fs.stat(path).catch(() => null);
  if (!st) throw new UsageError(`--adapter ${path}: no such file or folder`);
  if (st.isFile()) return readPeftZip(new Uint8Array(await fs.readFile(path)), path);
  const files: Record<string, Uint8Array> = {};
  for (const name of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) {
    const b = await fs.readFile(join(path, name)).catch(() => null);
    if (b) files[name] = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  return readPeftFiles(files, path);
}

async function readModel(dir: string, onnx: string | undefined, weights: boolean): Promise<LoadedModel> {
  try {
    return await loadModel(nodeDirSource(dir), { onnx, readWeights: weights, tokenizer: false });
  } catch (e) {
    if (isModelLoadError(e)) throw new Error(`cannot load --model ${dir}: ${e.message} [${e.code}]`);
    throw e;
  }
}

async function writeChunks(file: string, chunks: Uint8Array[]): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const out = createWriteStream(tmp);
  for (const c of chunks) if (!out.write(c)) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  await fs.rename(tmp, file);
}

async function exportCommand(args: string[]): Promise<number> {
  const p = parseFlags(args, ['--model', '--adapter', '--merged', '--gguf', '--peft', '--trl', '--onnx', '--external-data', '--gguf-type', '--data', '--base-model', '--method', '--config']);
  for (const k of ['--model', '--adapter'] as const) if (!p.plain[k]) throw new UsageError(`${k} is required`);
  const outputs = (['--merged', '--gguf', '--peft', '--trl'] as const).filter((k) => p.plain[k]);
  if (outputs.length === 0) throw new UsageError('give at least one of --merged, --gguf, --peft, --trl');
  const ext = p.plain['--external-data'];
  if (ext !== undefined && ext !== 'on' && ext !== 'off') throw new UsageError(`--external-data is on or off, got "${ext}"`);
  const ggufType = p.plain['--gguf-type'] ?? 'f32';
  if (ggufType !== 'f32' && ggufType !== 'f16') throw new UsageError(`--gguf-type is f32 or f16, got "${ggufType}"`);
  if (p.plain['--trl'] && !p.plain['--data']) throw new UsageError('--trl needs --data <file> (the dataset to hand off)');
  const onlyTrl = outputs.length === 1 && outputs[0] === '--trl';
  if (!p.plain['--trl'] && (p.plain['--data'] || p.plain['--method'] || p.plain['--base-model'] || Object.keys(p.config).length)) {
    throw new UsageError('--data, --method, --base-model and training settings only apply to --trl');
  }
  // A bad --base-model fails before anything is read or written.
  const given = p.plain['--base-model'] ? resolveHubBaseModel({ given: p.plain['--base-model'] }, BASE_MODEL) : null;
  if (given && !given.ok) throw new UsageError(given.message);

  const modelDir = p.plain['--model']!;
  const adapterPath = p.plain['--adapter']!;
  const adapter = await readAdapter(adapterPath);
  const model = await readModel(modelDir, p.plain['--onnx'], !!p.plain['--merged']);
  // Checked against the model whatever the output: names, partners, shapes.
  const modules = adapterModules(model, adapter);
  err(`${TAG}: adapter ${adapterPath}: r ${adapter.lora.r}, alpha ${adapter.lora.lora_alpha}${adapter.lora.use_rslora ? ' (rsLoRA)' : ''}, ${modules.length} modules, on ${model.arch} ${modelDir}`);
  // The hand-off's base model: its Hub id, found before any output is written.
  const nameOrPath = model.configFiles.config?._name_or_path;
  const base = p.plain['--trl']
    ? resolveHubBaseModel({ given: p.plain['--base-model'], adapter: adapter.baseModel, config: typeof nameOrPath === 'string' ? nameOrPath : undefined }, BASE_MODEL)
    : null;
  if (base && !base.ok) throw new UsageError(base.message);

  if (p.plain['--merged']) {
    const target = p.plain['--merged'];
    const asFolder = !target.endsWith('.onnx');
    const file = asFolder ? join(target, model.onnx.file) : target;
    const merged = mergeOnnx(model, adapter, { fileName: basename(file), externalData: ext === undefined ? undefined : ext === 'on' });
    await fs.mkdir(dirname(file), { recursive: true });
    if (asFolder) {
      // The rest of the model folder (configs, tokenizer), so the folder loads as a model.
      const skip = new Set([model.onnx.file, ...model.externalData().map((d) => join(dirname(model.onnx.file), d.path))]);
      for (const f of (await model.source.list()) ?? []) {
        if (skip.has(f) || f.endsWith('.onnx') || /\.onnx[._]data$/.test(f)) continue;
        await fs.mkdir(dirname(join(target, f)), { recursive: true });
        await fs.copyFile(join(modelDir, f), join(target, f));
      }
    }
    await writeAtomic(file, merged.onnx);
    if (merged.data) await writeChunks(join(dirname(file), merged.data.fileName), merged.data.chunks);
    err(`${TAG}: merged ${merged.merged.length} weights into ${file} (${formatBytes(merged.onnx.byteLength)}${merged.data ? ` + ${merged.data.fileName} ${formatBytes(merged.data.size)}` : ''})`);
    for (const u of merged.unshared) err(`${TAG}: un-shared ${u}`);
  }
  if (p.plain['--gguf']) {
    const file = p.plain['--gguf'];
    const method = await savedMethod(adapterPath);
    const bytes = ggufLoraAdapter(modules, { family: model.family, alpha: adapter.lora.lora_alpha, r: adapter.lora.r, useRslora: adapter.lora.use_rslora, dtype: ggufType, name: basename(adapterPath), method });
    await fs.mkdir(dirname(file), { recursive: true });
    await writeAtomic(file, bytes);
    err(`${TAG}: GGUF LoRA adapter ${file} (${formatBytes(bytes.byteLength)}, ${2 * modules.length} tensors ${ggufType})`);
  }
  if (p.plain['--peft']) {
    const target = p.plain['--peft'];
    const files = peftFiles(model, adapter, modules);
    if (target.endsWith('.zip')) {
      await fs.mkdir(dirname(target), { recursive: true });
      await writeAtomic(target, zipFiles(files));
    } else {
      await fs.mkdir(target, { recursive: true });
      for (const [name, bytes] of Object.entries(files)) await writeAtomic(join(target, name), bytes);
    }
    err(`${TAG}: PEFT adapter ${target}`);
  }
  if (p.plain['--trl']) {
    const dir = p.plain['--trl'];
    const config = await trlConfig(p, adapterPath, adapter);
    const records = await readRecords(p.plain['--data']!, TAG);
    const { id: baseModel, from } = base as Extract<typeof base, { ok: true }>;
    const h = trlHandoff({ config, records, baseModel, baseModelFrom: from });
    for (const [name, text] of Object.entries(h.files)) {
      await fs.mkdir(dirname(join(dir, name)), { recursive: true });
      await writeAtomic(join(dir, name), text);
    }
    if (h.skipped.length) err(`${TAG}: ${h.skipped.length} records left out of the TRL data, e.g. record ${h.skipped[0]!.index}: ${h.skipped[0]!.reason}`);
    err(`${TAG}: TRL hand-off in ${dir}: ${h.trainer}Trainer on ${baseModel} (from ${from}), ${h.rows.train} training${h.rows.test ? ` and ${h.rows.test} test` : ''} rows; see ${join(dir, 'README.md')}`);
  }
  if (onlyTrl) err(`${TAG}: done`);
  return 0;
}

/** The method of the run that wrote the adapter (its training_config.json), when there is one. */
async function savedMethod(adapterPath: string): Promise<MethodId | undefined> {
  const text = await fs.readFile(join(adapterPath, 'training_config.json'), 'utf8').catch(() => null);
  if (text === null) return undefined;
  try {
    const method = (JSON.parse(text) as { method?: unknown }).method;
    return typeof method === 'string' && isMethodId(method) ? method : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The run's settings for TRL: training_config.json next to the adapter (prefstudio train writes
 * it), else --method; flags override either. LoRA settings are the adapter's own.
 */
async function trlConfig(p: ReturnType<typeof parseFlags>, adapterPath: string, adapter: AdapterData) {
  const runFile = join(adapterPath, 'training_config.json');
  const saved = (await fs.stat(runFile).catch(() => null)) ? await configFile(runFile, p.plain['--method'], TAG) : null;
  const extra = p.plain['--config'] ? await configFile(p.plain['--config'], p.plain['--method'], TAG) : null;
  const method = p.plain['--method'] ?? extra?.method ?? saved?.method;
  if (!method) throw new UsageError(`--trl needs --method (no training_config.json in ${adapterPath})`);
  const lora = { ...(saved?.input.lora as object), ...(extra?.input.lora as object), ...(p.config.lora as object), ...adapter.lora };
  return configFrom({ ...saved?.input, ...extra?.input, ...p.config, lora, method });
}
