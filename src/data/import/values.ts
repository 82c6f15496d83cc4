// Reading typed values out of source rows. Cells of a CSV are strings, so each reader also accepts
// the string form of its type (a JSON list in a cell, "true"/"false", "0.5"). A value of the wrong
// shape throws a FieldError naming the field; text is never altered (no trimming, no escaping).
import type { Message, Role, Split, Turns } from '../records.js';
import { isPlainObject } from '../read/rows.js';

export class FieldError extends Error {
  override name = 'FieldError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** A column by name, or a dotted path into nested objects ("input.messages", "data.prompt").
 *  An exact key wins over a path, so flattened names like "preference.responses" work too. */
export function getPath(row: unknown, path: string): unknown {
  if (!isPlainObject(row)) return undefined;
  if (own(row, path)) return row[path];
  const dot = path.indexOf('.');
  if (dot === -1) return undefined;
  // Longest matching key prefix first: {"a.b": {"c": 1}} with "a.b.c".
  for (let cut = path.lastIndexOf('.'); cut > 0; cut = path.lastIndexOf('.', cut - 1)) {
    const head = path.slice(0, cut);
    if (own(row, head)) {
      const rest = path.slice(cut + 1);
      const v = row[head];
      if (Array.isArray(v) && /^\d+$/.test(rest.split('.')[0]!)) {
        const [i, ...more] = rest.split('.');
        const item = v[Number(i)];
        return more.length ? getPath(item, more.join('.')) : item;
      }
      return getPath(v, rest);
    }
  }
  return undefined;
}

export function isMissing(v: unknown): boolean {
  return v === undefined || v === null;
}

export function asText(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  throw new FieldError(field, `expected text, got ${describe(v)}`);
}

export function asOptionalText(v: unknown, field: string): string | undefined {
  return isMissing(v) || v === '' ? undefined : asText(v, field);
}

export function asBool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'y', 't'].includes(s)) return true;
    if (['false', '0', 'no', 'n', 'f'].includes(s)) return false;
  }
  throw new FieldError(field, `expected true or false, got ${describe(v)}`);
}

export function asNumber(v: unknown, field: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new FieldError(field, `expected a number, got ${describe(v)}`);
}

/** An array, or a JSON array in a string (CSV cells). */
export function asList(v: unknown, field: string): unknown[] {
  if (Array.isArray(v)) return v;
  const parsed = jsonCell(v);
  if (Array.isArray(parsed)) return parsed;
  throw new FieldError(field, `expected a list, got ${describe(v)}`);
}

/** An object, or a JSON object in a string (CSV cells). */
export function asObject(v: unknown, field: string): Record<string, unknown> {
  if (isPlainObject(v)) return v;
  const parsed = jsonCell(v);
  if (isPlainObject(parsed)) return parsed;
  throw new FieldError(field, `expected an object, got ${describe(v)}`);
}

export function jsonCell(v: unknown): unknown {
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (!(s.startsWith('[') || s.startsWith('{'))) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

export function asTags(v: unknown, field: string): string[] {
  if (isMissing(v) || v === '') return [];
  if (Array.isArray(v)) return v.map((t, i) => asText(t, `${field}.${i}`));
  if (typeof v === 'string') {
    const parsed = jsonCell(v);
    if (Array.isArray(parsed)) return asTags(parsed, field);
    return v
      .split(/[,;]/)
      .map((t) => t.trim())
      .filter((t) => t !== '');
  }
  throw new FieldError(field, `expected a list of tags, got ${describe(v)}`);
}

const SPLIT_NAMES: Record<string, Split> = {
  train: 'train',
  training: 'train',
  test: 'test',
  testing: 'test',
  eval: 'test',
  evaluation: 'test',
  validation: 'test',
  valid: 'test',
  val: 'test',
  dev: 'test',
};

export function asSplit(v: unknown, field: string): Split | undefined {
  if (isMissing(v) || v === '') return undefined;
  const s = typeof v === 'string' ? SPLIT_NAMES[v.trim().toLowerCase()] : undefined;
  if (s) return s;
  throw new FieldError(field, `expected a split (train or test), got ${describe(v)}`);
}

/** Role names used by other tools, mapped to ours (LLaMA-Factory, ShareGPT, Gemini, HH). */
export const ROLE_ALIASES: Record<string, Role> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  human: 'user',
  prompter: 'user',
  assistant: 'assistant',
  gpt: 'assistant',
  bot: 'assistant',
  model: 'assistant',
  chatgpt: 'assistant',
  function_call: 'assistant',
  tool: 'tool',
  function: 'tool',
  observation: 'tool',
  ipython: 'tool',
};

export interface MessageKeys {
  role: string;
  content: string;
}

/** Which keys a message object uses: {role, content} or ShareGPT's {from, value}. */
export function messageKeys(m: unknown): MessageKeys | null {
  if (!isPlainObject(m)) return null;
  if ('role' in m && 'content' in m) return { role: 'role', content: 'content' };
  if ('from' in m && 'value' in m) return { role: 'from', content: 'value' };
  return null;
}

export function looksLikeMessages(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0 && v.every((m) => messageKeys(m) !== null);
}

export function asMessage(v: unknown, field: string): Message {
  const keys = messageKeys(v);
  if (!keys) throw new FieldError(field, `expected a message {role, content}, got ${describe(v)}`);
  const m = v as Record<string, unknown>;
  const rawRole = m[keys.role];
  const role = typeof rawRole === 'string' ? ROLE_ALIASES[rawRole.toLowerCase()] : undefined;
  if (!role) throw new FieldError(`${field}.${keys.role}`, `unknown role ${describe(rawRole)}`);
  return { role, content: messageContent(m[keys.content], `${field}.${keys.content}`) };
}

/** Message content: text, or OpenAI-style parts [{type: "text", text}] joined. */
function messageContent(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((p) => isPlainObject(p) && typeof p.text === 'string' && (p.type === undefined || p.type === 'text'))) {
    return v.map((p) => (p as { text: string }).text).join('');
  }
  throw new FieldError(field, `expected text content, got ${describe(v)}`);
}

export function asMessages(v: unknown, field: string): Message[] {
  const list = Array.isArray(v) ? v : jsonCell(v);
  if (!Array.isArray(list)) throw new FieldError(field, `expected a list of messages, got ${describe(v)}`);
  return list.map((m, i) => asMessage(m, `${field}.${i}`));
}

/** Text, or a list of messages. A single message object counts as a one-message list
 *  (LLaMA-Factory's chosen/rejected). With `textCells` (CSV), a cell holding a JSON list of
 *  messages is read as messages; elsewhere a string is always text. */
export function asTurns(v: unknown, field: string, textCells = false): Turns {
  if (typeof v === 'string') {
    if (textCells) {
      const parsed = jsonCell(v);
      if (looksLikeMessages(parsed)) return asMessages(parsed, field);
    }
    return v;
  }
  if (Array.isArray(v)) return asMessages(v, field);
  if (messageKeys(v)) return [asMessage(v, field)];
  throw new FieldError(field, `expected text or a list of {role, content} messages, got ${describe(v)}`);
}

/** Moves leading system messages into a separate system prompt. */
export function splitSystem(messages: Message[]): { system?: string; messages: Message[] } {
  let i = 0;
  while (i < messages.length && messages[i]!.role === 'system') i++;
  if (i === 0) return { messages };
  return { system: messages.slice(0, i).map((m) => m.content).join('\n\n'), messages: messages.slice(i) };
}

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'string') return v.length > 40 ? `text "${v.slice(0, 37)}..."` : `text "${v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
