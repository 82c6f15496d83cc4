// A setting's value as text and back: how a CLI flag's value and a Train page field become a
// setting's value (by the setting's `input` kind, settings.ts). One codec for both surfaces, so
// `--loss-type sigmoid,sft` and the same text in the form mean the same. Ranges are the
// configuration schema's business (training/config.ts); this only reads the text.

import { SETTINGS, type SettingInput, type SettingPath } from './settings.js';

export class SettingTextError extends Error {
  override name = 'SettingTextError';
}

const NONE = ['', 'none', 'null'];
const isNone = (s: string) => NONE.includes(s.trim().toLowerCase());
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

function num(s: string): number {
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n)) throw new SettingTextError(`expects a number, got "${s}"`);
  return n;
}

function int(s: string): number {
  const n = num(s);
  if (!Number.isInteger(n)) throw new SettingTextError(`expects a whole number, got "${s}"`);
  return n;
}

const UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** A size like 4GiB, 512 MiB or 1e9 (bytes). */
export function parseBytes(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(v.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'B').toLowerCase()]!);
}

export function formatBytesSetting(n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

/** The value a text means for an input kind; throws SettingTextError saying what was expected. */
export function valueFromText(input: SettingInput, text: string): unknown {
  switch (input) {
    case 'number':
      return num(text);
    case 'int':
      return int(text);
    case 'optional-number':
      return isNone(text) ? null : num(text);
    case 'optional-int':
      return isNone(text) ? null : int(text);
    case 'switch': {
      const t = text.trim().toLowerCase();
      if (['true', 'on', 'yes', '1'].includes(t)) return true;
      if (['false', 'off', 'no', '0', ''].includes(t)) return false;
      throw new SettingTextError(`expects on or off, got "${text}"`);
    }
    case 'optional-switch': {
      const t = text.trim().toLowerCase();
      if (isNone(t) || t === 'auto') return null;
      if (['true', 'on', 'yes', '1'].includes(t)) return true;
      if (['false', 'off', 'no', '0'].includes(t)) return false;
      throw new SettingTextError(`expects on, off or auto, got "${text}"`);
    }
    case 'choice':
      return text.trim();
    case 'text':
      return text;
    case 'choices':
      return list(text);
    case 'numbers':
      return isNone(text) ? null : list(text).map(num);
    case 'targets':
      return text.trim() === 'all-linear' ? 'all-linear' : list(text);
    case 'optional-bytes':
    case 'bytes': {
      if (input === 'optional-bytes' && (isNone(text) || text.trim().toLowerCase() === 'auto')) return null;
      const b = parseBytes(text);
      if (b === null) throw new SettingTextError(`expects a size like 4GiB or 512MiB, got "${text}"`);
      return b;
    }
  }
}

/** The text of a value, as valueFromText reads it back. */
export function valueToText(input: SettingInput, value: unknown): string {
  if (input === 'optional-switch' && (value === null || value === undefined)) return 'auto';
  if (value === null || value === undefined) return '';
  if ((input === 'bytes' || input === 'optional-bytes') && typeof value === 'number') return formatBytesSetting(value);
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}

export function settingFromText(path: SettingPath, text: string): unknown {
  return valueFromText(SETTINGS[path].input, text);
}

export function settingToText(path: SettingPath, value: unknown): string {
  return valueToText(SETTINGS[path].input, value);
}
