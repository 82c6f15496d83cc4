// `prefstudio export`: take a PEFT adapter elsewhere (src/engine/export): a merged ONNX model
// (onnxruntime / transformers.js without LoRA), a llama.cpp GGUF LoRA adapter, a PEFT zip, or a
// TRL hand-off folder (dataset + recipe + train.py + multi-GPU launch configs). Host-only: no GPU.
// Every output is checked before anything is read (src/cli/output.ts): not an input or inside one
// (the model folder, the adapter), not over an existing file or folder without --force, its
// folder there; each file is written under a temporary name and each folder built as a
// temporary folder, renamed into place at the end. The merged folder copies the model folder's
// regular files only, never what a link out of it points to (src/data/io/node-read.ts).
// --model may be a Hugging Face Hub id (src/cli/hub-model.ts): fetched into the cache first, its
// cache folder then an input like a model folder (no output inside it).

import { inflateLimitsHelp } from '../data/io/limits.js';
import { isMethodId, type MethodId } from '../engine/methods/registry.js';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NodeFolder } from '../data/io/node-read.js';
import { mergeOnnx } from '../engine/export/merge.js';
import { ggufLoraAdapter } from '../engine/export/gguf.js';
import { ggufArchitectureOf } from '../engine/export/gguf-arch.js';
import { assertGgufExportable, ggufModel, GGUF_MODEL_TYPES, type GgufModelType } from '../engine/export/gguf-model.js';
import { adapterModules, type AdapterData } from '../engine/export/modules.js';
import { peftFiles, zipFiles } from '../engine/export/peft.js';
import { trlHandoff } from '../engine/export/trl.js';
import { formatBytes, isModelLoadError } from '../engine/model/errors.js';
import { HUB_ID_EXAMPLE, resolveHubBaseModel, type BaseModelInput } from '../hub-id.js';
import type { LoadedModel } from '../engine/model/load.js';
import { modelInput, openModel } from './hub-model.js';
import { UsageError, configFile, configFrom, err, flagsHelp, parseFlags, readRecords, runCommand } from './train.js';
import { DTYPE_USAGE, parseDtype, readAdapterFrom, readOptionalText, INPUT_LIMITS } from './input.js';
import { planOutput, planOutputs, writeInto, writeOutputFile, writeOutputFolder, type InputSpec, type OutputSpec } from './output.js';

const TAG = 'export';
const BASE_MODEL: BaseModelInput = { name: '--base-model', example: `--base-model ${HUB_ID_EXAMPLE}` };

const USAGE = `usage: prefstudio export --model <dir> --adapter <dir|zip> <output>... [options]

  --model <dir or org/name>  the ONNX model folder the adapter was trained on, or a Hugging Face Hub id
                             (fetched once into PREFSTUDIO_CACHE)
  --adapter <dir|zip>        a PEFT adapter (adapter_config.json + adapter_model.safetensors), or a zip of one

outputs (one or more):
  --merged <out.onnx|dir>    the model's ONNX with the adapter merged into its weights (same graph, inputs,
                             outputs); a folder gets the whole model folder (config, tokenizer) too
  --gguf <out.gguf>          a llama.cpp LoRA adapter (llama-cli -m base.gguf --lora out.gguf)
  --gguf-merged <out.gguf>   the whole tuned model as one llama.cpp GGUF (adapter merged; tokenizer and chat
                             template in the file): llama.cpp, Ollama, LM Studio
  --gguf-base <out.gguf>     the base model alone as a llama.cpp GGUF (f32), for --gguf's adapter to go on
  --peft <out.zip|dir>       the PEFT adapter again, as one zip or a folder
  --trl <dir>                TRL hand-off: data/*.jsonl, recipe.json, train.py, accelerate configs, README.md

options:
  --force                    replace outputs that exist (never the model's or the adapter's own files)
  --onnx <file>              the .onnx file of the model folder to use
${DTYPE_USAGE}
  --external-data <on|off>   merged: force external weight data on or off (default: as the model, or when > 2 GiB)
  --gguf-type <f32|f16>      GGUF tensor type (default f32, as convert_lora_to_gguf.py)
  --gguf-merged-type <f32|f16|q8_0>
                             --gguf-merged weight type (default f16, as convert_hf_to_gguf.py; q8_0: 8-bit
                             blocks, rows whose length is not a multiple of 32 stay f16)
  --data <file>              --trl: the dataset (any format convert reads; split: test rows → data/test.jsonl)
  --base-model <hub id>      --trl: the Hugging Face Hub id of the model TRL trains, such as
                             ${HUB_ID_EXAMPLE} (default: the adapter's base_model_name_or_path,
                             else config.json's _name_or_path, when it is a namespace/name Hub id);
                             a local path is refused: TRL downloads the model on its own machine
  --method <name>            --trl: the method; with the settings flags below it overrides the run's
                             training_config.json when the adapter folder has one (written by prefstudio train)

settings for --trl:
${flagsHelp()}

${inflateLimitsHelp()}`;

export function run(args: string[]): Promise<number> {
  return runCommand(TAG, USAGE, args, exportCommand);
}

/** A PEFT adapter from a folder or a zip (src/cli/input.ts). */
export async function readAdapter(path: string): Promise<AdapterData> {
  const a = await readAdapterFrom(path);
  if (!a) throw new UsageError(`--adapter ${path}: no such file or folder`);
  return a;
}

/** --model loaded (a Hub id fetched first), and the folder it was loaded from. */
async function readModel(dir: string, onnx: string | undefined, weights: boolean, tokenizer = false, dtype?: string): Promise<{ model: LoadedModel; folder: string }> {
  let d;
  try {
    d = parseDtype(dtype);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  try {
    return await openModel(dir, { onnx, dtype: d, readWeights: weights, tokenizer, acknowledge: ['tokenizer-vocab-mismatch'] }, (line) => err(`${TAG}: ${line}`));
  } catch (e) {
    if (isModelLoadError(e)) throw new Error(`cannot load --model ${dir}: ${e.message} [${e.code}]`);
    throw e;
  }
}

async function exportCommand(args: string[]): Promise<number> {
  const p = parseFlags(args, ['--model', '--adapter', '--merged', '--gguf', '--gguf-merged', '--gguf-base', '--peft', '--trl', '--onnx', '--dtype', '--external-data', '--gguf-type', '--gguf-merged-type', '--data', '--base-model', '--method', '--config'], ['--force']);
  for (const k of ['--model', '--adapter'] as const) if (!p.plain[k]) throw new UsageError(`${k} is required`);
  const outputs = (['--merged', '--gguf', '--gguf-merged', '--gguf-base', '--peft', '--trl'] as const).filter((k) => p.plain[k]);
  if (outputs.length === 0) throw new UsageError('give at least one of --merged, --gguf, --gguf-merged, --gguf-base, --peft, --trl');
  const mergedType = (p.plain['--gguf-merged-type'] ?? 'f16') as GgufModelType;
  if (!GGUF_MODEL_TYPES.includes(mergedType)) throw new UsageError(`--gguf-merged-type is ${GGUF_MODEL_TYPES.join(', ')}, got "${mergedType}"`);
  const wholeGguf = !!(p.plain['--gguf-merged'] || p.plain['--gguf-base']);
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
  if (!(await fs.stat(adapterPath).catch(() => null))) throw new UsageError(`--adapter ${adapterPath}: no such file or folder`);
  // Every output checked before anything is read or written.
  const force = p.switches.has('--force');
  const inputs: InputSpec[] = [await modelInput(modelDir), ['--adapter', adapterPath], ['--data', p.plain['--data']], ['--config', p.plain['--config']]];
  const specs: OutputSpec[] = [];
  const mergedTarget = p.plain['--merged'];
  if (mergedTarget) specs.push({ flag: '--merged', path: mergedTarget, kind: mergedTarget.endsWith('.onnx') ? 'file' : 'folder' });
  for (const flag of ['--gguf', '--gguf-merged', '--gguf-base'] as const) if (p.plain[flag]) specs.push({ flag, path: p.plain[flag], kind: 'file' });
  if (p.plain['--peft']) specs.push({ flag: '--peft', path: p.plain['--peft'], kind: p.plain['--peft'].endsWith('.zip') ? 'file' : 'folder' });
  if (p.plain['--trl']) specs.push({ flag: '--trl', path: p.plain['--trl'], kind: 'folder' });
  const plans = new Map((await planOutputs(specs, { force, inputs })).map((o) => [o.flag, o]));
  const adapter = await readAdapter(adapterPath);
  const { model, folder: modelFolder } = await readModel(modelDir, p.plain['--onnx'], !!p.plain['--merged'] || wholeGguf, wholeGguf, p.plain['--dtype']);
  // Checked against the model whatever the output: names, partners, shapes.
  const modules = adapterModules(model, adapter);
  // A GGUF llama.cpp could not run (its architecture, the tokenizer) is refused before any output.
  if (wholeGguf) assertGgufExportable(model);
  else if (p.plain['--gguf']) ggufArchitectureOf(model.family, model.config);
  err(`${TAG}: adapter ${adapterPath}: r ${adapter.lora.r}, alpha ${adapter.lora.lora_alpha}${adapter.lora.use_rslora ? ' (rsLoRA)' : ''}, ${modules.length} modules, on ${model.arch} ${modelDir}`);
  // The hand-off's base model: its Hub id, found before any output is written.
  const nameOrPath = model.configFiles.config?._name_or_path;
  const base = p.plain['--trl']
    ? resolveHubBaseModel({ given: p.plain['--base-model'], adapter: adapter.baseModel, config: typeof nameOrPath === 'string' ? nameOrPath : undefined }, BASE_MODEL)
    : null;
  if (base && !base.ok) throw new UsageError(base.message);

  const mergedPlan = plans.get('--merged');
  if (mergedPlan) {
    const target = mergedPlan.path;
    const asFolder = mergedPlan.kind === 'folder';
    const file = asFolder ? join(target, model.onnx.file) : target;
    const merged = mergeOnnx(model, adapter, { fileName: basename(file), externalData: ext === undefined ? undefined : ext === 'on' });
    if (asFolder) {
      await writeOutputFolder(mergedPlan, async (dir) => {
        // The rest of the model folder (configs, tokenizer), so the folder loads as a model: its
        // regular files, each resolved inside the folder (a link out of it is refused, not copied).
        const skip = new Set([model.onnx.file, ...model.externalData().map((d) => join(dirname(model.onnx.file), d.path))]);
        const folder = await NodeFolder.open(modelFolder);
        for (const f of (await folder?.list(2)) ?? []) {
          if (skip.has(f) || f.endsWith('.onnx') || /\.onnx[._]data$/.test(f)) continue;
          const resolved = await folder!.resolve(f);
          if (!resolved) continue;
          await fs.mkdir(dirname(join(dir, f)), { recursive: true });
          await fs.copyFile(resolved.real, join(dir, f));
        }
        await writeInto(dir, model.onnx.file, merged.onnx);
        if (merged.data) await writeInto(dir, join(dirname(model.onnx.file), merged.data.fileName), merged.data.chunks);
      });
    } else {
      // The data file beside the .onnx is an output too: checked like the others, written first.
      const dataPlan = merged.data ? await planOutput({ flag: '--merged', path: join(dirname(target), merged.data.fileName), kind: 'file' }, { force, inputs }) : null;
      if (dataPlan) await writeOutputFile(dataPlan, merged.data!.chunks);
      await writeOutputFile(mergedPlan, merged.onnx);
    }
    err(`${TAG}: merged ${merged.merged.length} weights into ${file} (${formatBytes(merged.onnx.byteLength)}${merged.data ? ` + ${merged.data.fileName} ${formatBytes(merged.data.size)}` : ''})`);
    for (const u of merged.unshared) err(`${TAG}: un-shared ${u}`);
    if (merged.dequantized.length) err(`${TAG}: the base is quantized: the merged ONNX is float16, its ${merged.dequantized.length} quantized weights dequantized (not re-quantized)`);
  }
  const ggufPlan = plans.get('--gguf');
  if (ggufPlan) {
    const file = ggufPlan.path;
    const method = await savedMethod(adapterPath);
    const bytes = ggufLoraAdapter(modules, { family: model.family, config: model.config, alpha: adapter.lora.lora_alpha, r: adapter.lora.r, useRslora: adapter.lora.use_rslora, dtype: ggufType, name: basename(adapterPath), method });
    await writeOutputFile(ggufPlan, bytes);
    err(`${TAG}: GGUF LoRA adapter ${file} (${formatBytes(bytes.byteLength)}, ${2 * modules.length} tensors ${ggufType})`);
  }
  for (const flag of ['--gguf-merged', '--gguf-base'] as const) {
    const plan = plans.get(flag);
    if (!plan) continue;
    const merged = flag === '--gguf-merged';
    const type = merged ? mergedType : 'f32';
    const g = ggufModel(model, merged ? adapter : null, { type, name: basename(plan.path).replace(/\.gguf$/, ''), method: merged ? await savedMethod(adapterPath) : undefined });
    await writeOutputFile(plan, g.chunks);
    err(`${TAG}: GGUF ${merged ? `model with the adapter merged (${g.merged.length} weights)` : 'base model'} ${plan.path} (${formatBytes(g.size)}, ${g.tensors} tensors, ${type})`);
    for (const f of g.fallbacks) err(`${TAG}: ${f}`);
  }
  const peftPlan = plans.get('--peft');
  if (peftPlan) {
    const target = peftPlan.path;
    const files = peftFiles(model, adapter, modules);
    if (peftPlan.kind === 'file') await writeOutputFile(peftPlan, zipFiles(files));
    else {
      await writeOutputFolder(peftPlan, async (dir) => {
        for (const [name, bytes] of Object.entries(files)) await writeInto(dir, name, bytes);
      });
    }
    err(`${TAG}: PEFT adapter ${target}`);
  }
  const trlPlan = plans.get('--trl');
  if (trlPlan) {
    const dir = trlPlan.path;
    const config = await trlConfig(p, adapterPath, adapter);
    const records = await readRecords(p.plain['--data']!, TAG);
    const { id: baseModel, from } = base as Extract<typeof base, { ok: true }>;
    const h = trlHandoff({ config, records, baseModel, baseModelFrom: from });
    await writeOutputFolder(trlPlan, async (tmp) => {
      for (const [name, text] of Object.entries(h.files)) await writeInto(tmp, name, text);
    });
    if (h.skipped.length) err(`${TAG}: ${h.skipped.length} records left out of the TRL data, e.g. record ${h.skipped[0]!.index}: ${h.skipped[0]!.reason}`);
    err(`${TAG}: TRL hand-off in ${dir}: ${h.trainer}Trainer on ${baseModel} (from ${from}), ${h.rows.train} training${h.rows.test ? ` and ${h.rows.test} test` : ''} rows; see ${join(dir, 'README.md')}`);
  }
  if (onlyTrl) err(`${TAG}: done`);
  return 0;
}

/** The method of the run that wrote the adapter (its training_config.json), when there is one. */
async function savedMethod(adapterPath: string): Promise<MethodId | undefined> {
  const text = await readOptionalText(join(adapterPath, 'training_config.json'), INPUT_LIMITS.settings, 'a settings file').catch(() => undefined);
  if (text === undefined) return undefined;
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
