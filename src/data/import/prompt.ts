// Prompts that sit inside the responses: TRL's implicit prompt (longest common prefix of chosen and
// rejected) and Anthropic HH-RLHF transcripts.
import type { Message } from '../records.js';
import { FieldError } from './values.js';

/**
 * TRL `extract_prompt` (trl/data_utils.py), for text and for message lists: walk both until they
 * differ; for text, a space just before the difference goes to the responses. Like TRL, when one
 * is a prefix of the other the loop ends on the last shared index, so the last shared character
 * (or message) stays in the responses and neither comes out empty. One deliberate difference:
 * when the very first element differs, TRL's `chosen[idx - 1]` reads chosen[-1] (Python wraps
 * around) and can move the cut to -1; we keep the cut at 0 (empty prompt).
 */
export function extractPrompt<T extends string | Message[]>(chosen: T, rejected: T): { prompt: T; chosen: T; rejected: T } {
  const n = Math.min(chosen.length, rejected.length);
  if (n === 0) throw new FieldError('chosen', 'chosen and rejected must both be non-empty to extract a prompt');
  const text = typeof chosen === 'string';
  let idx = 0;
  for (; idx < n; idx++) {
    if (!same(chosen[idx], rejected[idx])) {
      if (text && idx > 0 && chosen[idx - 1] === ' ') idx -= 1;
      break;
    }
  }
  if (idx === n) idx = n - 1; // Python's loop variable stays on the last index
  return {
    prompt: chosen.slice(0, idx) as T,
    chosen: chosen.slice(idx) as T,
    rejected: rejected.slice(idx) as T,
  };
}

function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  const x = a as Message;
  const y = b as Message;
  return x.role === y.role && x.content === y.content;
}

const HH_TURN = /\n\n(Human|Assistant): ?/g;

export function isHhTranscript(v: unknown): boolean {
  return typeof v === 'string' && /^\s*(\n\n)?Human: /.test(v) && v.includes('\n\nAssistant:');
}

/** "\n\nHuman: hi\n\nAssistant: hello" -> [{user, "hi"}, {assistant, "hello"}]. */
export function parseHhTranscript(text: string, field: string): Message[] {
  const s = text.startsWith('\n\n') ? text : `\n\n${text.replace(/^\s+/, '')}`;
  const messages: Message[] = [];
  let last: { role: Message['role']; from: number } | null = null;
  HH_TURN.lastIndex = 0;
  for (let m = HH_TURN.exec(s); m; m = HH_TURN.exec(s)) {
    if (last) messages.push({ role: last.role, content: s.slice(last.from, m.index) });
    else if (m.index !== 0) throw new FieldError(field, 'an HH transcript must start with "Human:"');
    last = { role: m[1] === 'Human' ? 'user' : 'assistant', from: m.index + m[0].length };
  }
  if (!last) throw new FieldError(field, 'no "Human:" / "Assistant:" turns found');
  messages.push({ role: last.role, content: s.slice(last.from) });
  return messages;
}
