// --model <org/name>: a model by its Hugging Face Hub id. When no such local folder exists, the
// repo's files for one variant (the --dtype one, else the preferred: fp16, fp32, ...) are fetched
// through src/hub/client.ts into a cache folder (PREFSTUDIO_CACHE, default ~/.cache/prefstudio)
// and loaded from there; files already there with the Hub's size are skipped, so an interrupted
// download resumes. A Hub id that does not exist, or a repo with no ONNX file, is one error and
// leaves nothing in the cache. PREFSTUDIO_HUB_URL points at another Hub (a mirror; the tests'
// loopback server); HF_TOKEN reads private repos.

import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { onnxVariants, type OnnxDtype } from '../engine/model/layout.js';
import { downloadModelFiles, isHubError } from '../hub/client.js';

/** org/name as the Hub spells repo ids. */
export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export function hubCacheDir(id: string): string {
  return join(process.env.PREFSTUDIO_CACHE || join(homedir(), '.cache', 'prefstudio'), 'hub', ...id.split('/'));
}

/** The folder to load for --model: the path itself, or a Hub id's cached download. */
export async function modelFolder(model: string, dtype: OnnxDtype | undefined, log: (line: string) => void): Promise<string> {
  if (!HUB_ID.test(model) || (await fs.stat(model).catch(() => null))) return model;
  const dir = hubCacheDir(model);
  let last = -1;
  try {
    await downloadModelFiles(model, {
      hubUrl: process.env.PREFSTUDIO_HUB_URL || undefined,
      accessToken: process.env.HF_TOKEN || undefined,
      pick: (files) => {
        const variants = onnxVariants(files);
        const v = dtype ? variants.find((x) => x.dtype === dtype) : variants[0];
        if (!v) throw new Error(`no ${dtype} variant in ${model}: it has ${variants.map((x) => `${x.file} (${x.dtype ?? 'unknown'})`).join(', ')}`);
        log(`${model}: ${v.file}${dtype ? '' : ` (of ${files.length} variant${files.length > 1 ? 's' : ''})`}`);
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
    throw new Error(`cannot load --model ${model} from the Hugging Face Hub: ${(e as Error).message}${isHubError(e) && e.kind === 'not-found' ? ' (no such local folder either)' : ''}`);
  }
  return dir;
}
