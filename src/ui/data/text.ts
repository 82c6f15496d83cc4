// Turns (text or messages) as plain strings for display. Callers render the result as a React
// text node, so markup in dataset text is shown literally and never parsed.
import type { Turns } from '../../data/records.js';

/** The whole text; a conversation as "role: content" blocks. */
export function turnsText(t: Turns): string {
  if (typeof t === 'string') return t;
  return t.length === 1 && t[0]!.role !== 'system' ? t[0]!.content : t.map((m) => `${m.role}: ${m.content}`).join('\n\n');
}

/** One line of at most `max` characters. */
export function turnsPreview(t: Turns, max = 120): string {
  const flat = turnsText(t).replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
