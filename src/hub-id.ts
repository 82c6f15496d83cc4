// Hugging Face Hub repository ids, in one place: the TRL hand-off names the base model TRL
// downloads by its Hub id (`model_name_or_path`), never by a local path. The CLI (`prefstudio
// export --trl --base-model`), the export service and the Export page all check ids here, and
// take a model's own id from its metadata with `resolveHubBaseModel`.
//
// The rule is huggingface_hub's validate_repo_id: `name` or `namespace/name`; each part letters,
// digits, '-', '_' and '.', at most 96 characters, not starting or ending with '-' or '.', with
// no '--' or '..'; not ending in '.git'. A bare name (`gpt2`) is a canonical Hub model.

/** An id to show in messages: what a good value looks like. */
export const HUB_ID_EXAMPLE = 'HuggingFaceTB/SmolLM2-135M-Instruct';

const PART = /^[A-Za-z0-9_.-]{1,96}$/;
const HUB_HOST = /^(?:www\.)?(?:huggingface\.co|hf\.co)$/;

/** Why a part of an id is not valid, or null. */
function partProblem(part: string, what: string): string | null {
  if (part.length === 0) return `an empty ${what}`;
  if (part.length > 96) return `a ${what} of ${part.length} characters (at most 96)`;
  const bad = part.match(/[^A-Za-z0-9_.-]/);
  if (bad) return `a ${what} with "${bad[0]}" (only letters, digits, "-", "_" and "." are allowed)`;
  if (part.includes('--') || part.includes('..')) return `a ${what} with "${part.includes('--') ? '--' : '..'}"`;
  if (/^[-.]|[-.]$/.test(part)) return `a ${what} that starts or ends with "-" or "."`;
  return PART.test(part) ? null : `not a valid ${what}`;
}

/**
 * What is wrong with `value` as a Hub repo id ("a local path", "a URL", ...), or null when it is
 * one. The words fit "<value> is <problem>".
 */
export function hubRepoIdProblem(value: string): string | null {
  if (value.trim() === '') return 'empty';
  if (value !== value.trim()) return 'padded with spaces';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return 'a URL';
  if (value.startsWith('/') || value.startsWith('~') || /^[A-Za-z]:[\\/]/.test(value) || value.includes('\\')) return 'a local path';
  const parts = value.split('/');
  if (parts.some((p) => p === '.' || p === '..') || value.startsWith('./')) return 'a local path';
  if (parts.length > 2) return 'a path (a Hub id is "namespace/name")';
  if (value.endsWith('.git')) return 'a name ending in ".git"';
  if (parts.length === 2) return partProblem(parts[0]!, 'namespace') ?? partProblem(parts[1]!, 'name');
  return partProblem(parts[0]!, 'name');
}

export function isHubRepoId(value: string): boolean {
  return hubRepoIdProblem(value) === null;
}

/** The repo id of a Hub URL (`https://huggingface.co/org/name/resolve/main/` → `org/name`), or null. */
export function hubRepoIdFromUrl(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' || !HUB_HOST.test(u.hostname)) return null;
  const segments = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (['datasets', 'spaces', 'api'].includes(segments[0] ?? '')) return null;
  const marker = segments.findIndex((s) => s === 'resolve' || s === 'tree' || s === 'blob');
  const repo = (marker > 0 ? segments.slice(0, marker) : segments).slice(0, 2);
  const id = repo.join('/');
  return repo.length === 2 && isHubRepoId(id) ? id : null;
}

/** Where a base model's id may come from, most trusted first. */
export interface BaseModelSources {
  /** What the user gave (`--base-model`, the Export page's field); checked, never skipped. */
  given?: string;
  /** The adapter's base_model_name_or_path. */
  adapter?: string;
  /** The model's config.json `_name_or_path`. */
  config?: string;
  /** The URL the studio loaded the model from. */
  url?: string;
}

export type BaseModelResolution =
  /** `from`: which source it came from, in fixed words (no value of the user's in it). */
  | { ok: true; id: string; from: string }
  /** `found`: what each source held and why it is not an id; `message` says it in one line. */
  | { ok: false; found: string[]; message: string };

/** How the user gives the id where the message is shown: `--base-model`, or a field's name. */
export interface BaseModelInput {
  /** "--base-model", "the Hugging Face model id field". */
  name: string;
  /** A good value as the user would give it: "--base-model HuggingFaceTB/SmolLM2-135M-Instruct". */
  example: string;
  /** Where a given id came from, for the hand-off's README (default: `name`). */
  source?: string;
}

/**
 * The Hub id of the base model: the given one (refused when it is not an id), else the first of
 * the model's own metadata that is a `namespace/name` id. A bare name found in metadata is not
 * taken: it reads the same as a local folder's name (a studio model is named after its folder).
 */
export function resolveHubBaseModel(s: BaseModelSources, input: BaseModelInput): BaseModelResolution {
  const advice = `TRL downloads the base model from the Hugging Face Hub: pass its Hub id, e.g. ${input.example}`;
  const quote = (v: string) => JSON.stringify(v);
  if (s.given !== undefined && s.given.trim() !== '') {
    const problem = hubRepoIdProblem(s.given);
    if (problem === null) return { ok: true, id: s.given, from: input.source ?? input.name };
    const found = [`${input.name} ${quote(s.given)} is ${problem}`];
    return { ok: false, found, message: `${found[0]}, not a Hugging Face Hub repo id (namespace/name). ${advice}` };
  }
  const found: string[] = [];
  const candidates: [string, string | undefined][] = [
    ["the adapter's base_model_name_or_path", s.adapter],
    ["config.json's _name_or_path", s.config],
  ];
  for (const [where, value] of candidates) {
    if (!value) continue;
    const problem = hubRepoIdProblem(value) ?? (value.includes('/') ? null : 'a bare name, as likely a local folder as a Hub model');
    if (problem === null) return { ok: true, id: value, from: where };
    found.push(`${where} is ${quote(value)} (${problem})`);
  }
  if (s.url) {
    const id = hubRepoIdFromUrl(s.url);
    if (id) return { ok: true, id, from: 'the Hub repository the model was loaded from' };
    found.push(`the model was loaded from ${s.url}, not from the Hugging Face Hub`);
  }
  const what = found.length ? `no Hub id for the base model: ${found.join('; ')}` : "no Hub id for the base model: neither the adapter nor the model's config.json names one";
  return { ok: false, found, message: `${what}. ${advice}` };
}
