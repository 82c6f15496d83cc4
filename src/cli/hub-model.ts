// --model <org/name>: a model by its Hugging Face Hub id. When no such local folder exists, the
// repo's files for one variant (the --onnx or --dtype one, else the one the GPU memory budget
// recommends, else the preferred: fp16, fp32, ...) are fetched
// through src/hub/client.ts into a cache folder (PREFSTUDIO_CACHE, default ~/.cache/prefstudio)
// and loaded from there; files already there with the Hub's size are skipped, so an interrupted
// download resumes. A Hub id that does not exist, or a repo with no ONNX file, is one error and
// leaves nothing in the cache. PREFSTUDIO_HUB_URL points at another Hub (a mirror; the tests'
// loopback server); HF_TOKEN reads private repos.
// Every command that takes --model goes through here: openModel (fetch, then load) and, for its
// output checks before anything is fetched, modelInput (a Hub id's input is its cache folder).
// Without --onnx or --dtype, a command that runs the model passes its GPU memory budget
// (variantBudget: --memory-budget, else the adapter's, budget.ts) and gets the variant the Models
// page recommends for it (variant-choice.ts), with the reason on stderr.
// Offline: when the Hub cannot be reached, a variant downloaded whole before (listed in the cache
// folder's DOWNLOADED file once all its files were in) is used, and the log says so.

import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { memoryBudget, type MemoryBudget } from '../engine/gpu/budget.js';
import { detectLayout, findVariants, onnxVariants, type OnnxDtype } from '../engine/model/layout.js';
import { loadModel, type LoadedModel, type LoadOptions } from '../engine/model/load.js';
import { chooseVariant } from '../engine/model/variant-choice.js';
import { nodeAdapterReport } from '../engine/node.js';
import { normalizePath } from '../engine/model/source.js';
import { nodeDirSource } from '../engine/model/source-node.js';
import { downloadModelFiles, HubError, isHubError } from '../hub/client.js';
import type { InputSpec } from './output.js';

/** org/name as the Hub spells repo ids. */
export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export function hubCacheDir(id: string): string {
  return join(process.env.PREFSTUDIO_CACHE || join(homedir(), '.cache', 'prefstudio'), 'hub', ...id.split('/'));
}

/**
 * A Hub id that cannot be fetched: "cannot load --model <id> from the Hugging Face Hub: <detail>",
 * with a code (hub-not-found, hub-no-files, ...) for --json reports.
 */
export class HubModelError extends Error {
  override readonly name = 'HubModelError';
  constructor(
    readonly id: string,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`cannot load --model ${id} from the Hugging Face Hub: ${detail}`);
  }
}

/**
 * --model names a Hub model: shaped like org/name, and no such local file or folder (at `local`:
 * the path itself, or where a config file's relative path points).
 */
export async function isHubModel(model: string, local = model): Promise<boolean> {
  return HUB_ID.test(model) && !(await fs.stat(local).catch(() => null));
}

/**
 * --model as an input of a command's output checks (src/cli/output.ts), before anything is
 * fetched: a local path as it is; a Hub id is its cache folder, compared even before it exists
 * (no output may go inside it, nor replace a folder that holds it).
 */
export async function modelInput(model: string | undefined | null, flag = '--model'): Promise<InputSpec> {
  if (!model || !(await isHubModel(model))) return [flag, model];
  return [flag, hubCacheDir(model), true];
}

/**
 * The GPU memory budget a model variant is chosen by when a folder or Hub repo has several and
 * neither --onnx nor --dtype names one: asked for only then, once.
 */
export type VariantBudget = () => Promise<MemoryBudget>;

/**
 * A command's VariantBudget: `configured` (--memory-budget, a config's memory_budget_bytes) when
 * set, else what this machine's adapter allows, read before the command's engine exists. The same
 * budget.ts memoryBudget as the command's own memory checks and the Worker's import, so the CLI
 * picks the variant the Models page recommends on the same adapter.
 */
export function variantBudget(configured?: number | null): VariantBudget {
  let budget: Promise<MemoryBudget> | undefined;
  return () => (budget ??= nodeAdapterReport().then((report) => memoryBudget(report, configured)));
}

/** The line that says which variant was chosen under the budget and why (the Models page's "recommended" and its reason). */
function recommendedLine(label: string, count: number, file: string, reason: string, budget: MemoryBudget): string {
  return `${label}: ${file} recommended (of ${count} variants): ${reason}; the budget is ${budget.source}`;
}

/** The cache folder's record of the variants downloaded whole (their ONNX files), newest last. */
const DOWNLOADED = '.prefstudio-downloaded.json';

async function downloadedVariants(dir: string): Promise<string[]> {
  try {
    const v = (JSON.parse(await fs.readFile(join(dir, DOWNLOADED), 'utf8')) as { variants?: unknown }).variants;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** The variant an offline run may use: the one asked for (--onnx, --dtype) or the last downloaded, if it was downloaded whole. */
function offlineChoice(variants: string[], dtype: OnnxDtype | undefined, onnx: string | undefined): string | undefined {
  if (onnx !== undefined) return variants.find((f) => f === normalizePath(onnx));
  if (dtype) return onnxVariants(variants).find((x) => x.dtype === dtype)?.file;
  return variants.at(-1);
}

/**
 * The folder to load for --model: the path itself, or a Hub id's cached download of one variant:
 * the `onnx` file when given (as the loader's --onnx, it wins over dtype), else the `dtype` one,
 * else, with a `budget`, the one variant-choice.ts recommends from the listed sizes, else the
 * preferred.
 */
export async function modelFolder(model: string, dtype: OnnxDtype | undefined, log: (line: string) => void, onnx?: string, budget?: VariantBudget): Promise<string> {
  if (!(await isHubModel(model))) return model;
  const dir = hubCacheDir(model);
  let last = -1;
  let picked = '';
  try {
    await downloadModelFiles(model, {
      hubUrl: process.env.PREFSTUDIO_HUB_URL || undefined,
      accessToken: process.env.HF_TOKEN || undefined,
      pick: async (files, sizes) => {
        const variants = onnxVariants(files, sizes);
        const has = () => variants.map((x) => `${x.file} (${x.dtype ?? 'unknown'})`).join(', ');
        if (onnx !== undefined) {
          const want = normalizePath(onnx);
          const v = variants.find((x) => x.file === want);
          if (!v) throw new HubError('no-files', `--onnx ${onnx}: no such file in ${model}: it has ${has()}`);
          log(`${model}: ${v.file}, as asked`);
          picked = v.file;
          return v.file;
        }
        if (!dtype && budget && variants.length > 1) {
          const b = await budget();
          const choice = chooseVariant(variants, b.bytes);
          log(recommendedLine(model, variants.length, choice.file, choice.reason, b));
          picked = choice.file;
          return choice.file;
        }
        const v = dtype ? variants.find((x) => x.dtype === dtype) : variants[0];
        if (!v) throw new HubError('no-files', `no ${dtype} variant in ${model}: it has ${has()}`);
        log(`${model}: ${v.file}${dtype ? '' : ` (of ${files.length} variant${files.length > 1 ? 's' : ''})`}`);
        picked = v.file;
        return v.file;
      },
      have: async (path, size) => (await fs.stat(join(dir, path)).catch(() => null))?.size === size,
      save: async (path, blob) => {
        const to = join(dir, path);
        await fs.mkdir(dirname(to), { recursive: true });
        await fs.writeFile(`${to}.part`, new Uint8Array(await blob.arrayBuffer()));
        await fs.rename(`${to}.part`, to);
      },
      onProgress: (p) => {
        const pct = Math.floor((100 * p.loaded) / Math.max(1, p.total));
        if (pct !== last) log(`${model}: ${p.path} (${pct}% of ${(p.total / 2 ** 20).toFixed(1)} MiB)`);
        last = pct;
      },
    });
  } catch (e) {
    const downloaded = isHubError(e) && e.kind === 'network' ? await downloadedVariants(dir) : [];
    const cached = offlineChoice(downloaded, dtype, onnx);
    if (cached) {
      // With a budget and nothing forced, openModel chooses among the downloaded variants (and says which).
      const what = budget && dtype === undefined && onnx === undefined && downloaded.length > 1 ? `the ${downloaded.length} variants` : cached;
      log(`${model}: the Hub cannot be reached (${(e as Error).message}); using ${what} downloaded before into ${dir}`);
      return dir;
    }
    throw new HubModelError(model, isHubError(e) ? `hub-${e.kind}` : 'hub-other', `${(e as Error).message}${isHubError(e) && e.kind === 'not-found' ? ' (no such local folder either)' : ''}`);
  }
  const variants = (await downloadedVariants(dir)).filter((f) => f !== picked);
  // Written whole or not at all, as the model files are (.part, then renamed).
  await fs.writeFile(join(dir, `${DOWNLOADED}.part`), `${JSON.stringify({ variants: [...variants, picked] })}\n`);
  await fs.rename(join(dir, `${DOWNLOADED}.part`), join(dir, DOWNLOADED));
  return dir;
}

/**
 * --model loaded, by every command: a local folder, or a Hub id fetched first (modelFolder, with
 * the --onnx / --dtype choice). Without either, a command that passes `budget` (those that run the
 * model on the GPU) gets the variant the Models page recommends: the first in the preferred order
 * whose weights fit the budget, else the smallest (variant-choice.ts, through the loader's
 * budgetBytes), said on `log` before the weights are read; without `budget`, the preferred one.
 * Returns the folder it was loaded from (a Hub id's cache folder). A load error is the loader's
 * ModelLoadError, for the command to report as it does.
 */
export async function openModel(model: string, options: LoadOptions & { budget?: VariantBudget }, log: (line: string) => void): Promise<{ model: LoadedModel; folder: string }> {
  const { budget: askBudget, ...load } = options;
  const choosing = askBudget && load.onnx === undefined && load.dtype === undefined ? askBudget : undefined;
  // Said once: by the Hub's pick (before the download) when it chose among the repo's variants.
  let said = false;
  const pickBudget: VariantBudget | undefined = choosing && (() => {
    said = true;
    return choosing();
  });
  const folder = await modelFolder(model, load.dtype, log, load.onnx, pickBudget);
  const source = nodeDirSource(folder);
  if (choosing) {
    // A local folder; or a Hub id's cache folder, which may hold variants fetched before: the same
    // choice among them (the one the pick chose is among them, and the better ones did not fit).
    const variants = await findVariants(source);
    if (variants.length > 1) {
      const b = await choosing();
      load.budgetBytes = b.bytes;
      if (!said) {
        const layout = await detectLayout(source, { budgetBytes: b.bytes });
        log(recommendedLine(model, variants.length, layout.onnx, layout.reason, b));
      }
    }
  }
  return { model: await loadModel(source, load), folder };
}
