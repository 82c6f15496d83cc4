// Finite numbers or a stop: every value the engine takes from a file (adapter tensors, checkpoint
// state, reference-cache entries) or produces for one (a merged model) is checked here, and a NaN
// or an infinity is refused naming where it is, instead of flowing on into a loss or an export.

/** A NaN or an infinity where a number must be finite. */
export class NonFiniteError extends Error {
  override readonly name = 'NonFiniteError';
}

/** Index of the first NaN or ±Infinity, -1 when every value is finite. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // v - v is NaN exactly for NaN and ±Infinity, and cheaper than Number.isFinite on typed arrays.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** "NaN", "Infinity" or "-Infinity". */
export function nonFiniteName(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Throws NonFiniteError when `values` holds a NaN or an infinity: "<what> holds NaN (value 3 of
 * 512)<why>". `why` says what to do about it.
 */
export function assertFinite(what: string, values: ArrayLike<number>, why = ''): void {
  const i = firstNonFinite(values);
  if (i < 0) return;
  throw new NonFiniteError(`${what} holds ${nonFiniteName(values[i]!)} (value ${i} of ${values.length})${why}`);
}
