// Limits on what compressed input may expand to, checked while it inflates (never after): a gzip
// data file (./gzip.ts) and the entries of a zip (src/engine/export/peft.ts, PEFT adapter zips).
//   - total: the most bytes one gzip stream or one zip entry may inflate to;
//   - ratio: the most output bytes per compressed byte, once the output passes RATIO_FLOOR (a
//     small file may compress as well as it likes; deflate's ceiling is about 1032:1, which a
//     stream of zeros reaches, and ordinary text stays under 20:1).
// Both can be raised for one run with environment variables (Node: the CLI; the browser uses the
// defaults), and the error says which and how.

import { formatSize, GiB, MiB } from './sizes.js';

export interface InflateLimits {
  /** Most bytes one stream or entry may inflate to. */
  maxBytes: number;
  /** Most output bytes per input byte, checked once the output passes RATIO_FLOOR. */
  maxRatio: number;
}

/** The variables that raise the limits, named in every error. */
export const INFLATE_ENV = { maxBytes: 'PREFSTUDIO_MAX_INFLATE_BYTES', maxRatio: 'PREFSTUDIO_MAX_INFLATE_RATIO' } as const;

export const INFLATE_DEFAULTS: InflateLimits = {
  // Streamed data never holds more than a chunk, so this bounds time, not memory.
  maxBytes: 16 * GiB,
  // Identical short JSON lines compress about 350:1; zeros and one repeated byte about 1030:1.
  maxRatio: 500,
};

/** Output below this passes whatever its ratio (a small highly compressed file is harmless). */
export const RATIO_FLOOR = 32 * MiB;

/** The limits in force: the defaults, or the environment's values where they parse. */
export function inflateLimits(overrides: Partial<InflateLimits> = {}): InflateLimits {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  const num = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const v = parseSize(raw);
    if (v === null || v < min) throw new LimitError(`${name}=${raw} is not a number of at least ${min}${name === INFLATE_ENV.maxBytes ? ' (bytes; K, M, G suffixes allowed)' : ''}`);
    return v;
  };
  return {
    maxBytes: overrides.maxBytes ?? num(INFLATE_ENV.maxBytes, INFLATE_DEFAULTS.maxBytes, 1),
    maxRatio: overrides.maxRatio ?? num(INFLATE_ENV.maxRatio, INFLATE_DEFAULTS.maxRatio, 1),
  };
}

/** "16G", "512M", "1e9", "300" -> bytes; null when it does not parse. */
export function parseSize(text: string): number | null {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([kmgt]i?b?)?\s*$/i.exec(text);
  if (!m) return null;
  const unit = (m[2] ?? '').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? MiB : unit === 'g' ? GiB : unit === 't' ? 1024 * GiB : 1;
  const v = Number(m[1]) * mult;
  return Number.isFinite(v) ? Math.floor(v) : null;
}

/**
 * A limit that stopped a read: not a format error (the file may be fine, only larger than
 * allowed), so an import stops instead of keeping the rows before it.
 */
export class LimitError extends Error {
  override readonly name = 'LimitError';
}

/** Counts inflated bytes against the limits; `what` names the stream in errors ("gzip data"). */
export class InflateMeter {
  private out = 0;
  private in = 0;
  readonly limits: InflateLimits;

  constructor(
    readonly what: string,
    limits: Partial<InflateLimits> = {},
  ) {
    this.limits = inflateLimits(limits);
  }

  get bytesOut(): number {
    return this.out;
  }

  /** Starts counting again (after a check of declared sizes). */
  reset(): void {
    this.in = 0;
    this.out = 0;
  }

  /** Compressed bytes handed to the inflater. */
  input(n: number): void {
    this.in += n;
  }

  /** Inflated bytes produced (or, with verb 'declares to inflate', announced); throws LimitError past either limit. */
  output(n: number, verb = 'inflates'): void {
    this.out += n;
    const { maxBytes, maxRatio } = this.limits;
    if (this.out > maxBytes) {
      throw new LimitError(`${this.what} ${verb} past ${formatSize(maxBytes)}, the limit on decompressed size: set ${INFLATE_ENV.maxBytes} (bytes, e.g. 64G) to raise it`);
    }
    if (this.out > RATIO_FLOOR && this.out > maxRatio * Math.max(1, this.in)) {
      throw new LimitError(
        `${this.what} ${verb} more than ${maxRatio} times its compressed size (${formatSize(this.out)} from ${formatSize(this.in)}): a decompression bomb? ` +
          `Set ${INFLATE_ENV.maxRatio} to raise the limit`,
      );
    }
  }
}

/** The limits and how to raise them, for the CLI's --help. */
export function inflateLimitsHelp(): string {
  return `limits on compressed input (.gz data files, adapter zips), checked while it inflates:
  ${INFLATE_ENV.maxBytes}=<size>   decompressed bytes of one file or zip entry (default ${formatSize(INFLATE_DEFAULTS.maxBytes)}; e.g. 64G)
  ${INFLATE_ENV.maxRatio}=<n>      decompressed / compressed bytes past the first ${formatSize(RATIO_FLOOR)} (default ${INFLATE_DEFAULTS.maxRatio})
`;
}
