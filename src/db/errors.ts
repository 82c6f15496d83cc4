// Errors of the store. A full disk (quota) becomes a StorageFullError that says what was kept and
// carries what was not written, so the caller can retry or save it elsewhere: nothing is lost.
import type { PrefRecord } from '../data/records.js';

export class StorageFullError extends Error {
  override name = 'StorageFullError';
  constructor(
    message: string,
    /** Records that were not written (single writes); empty for an import, which is rolled back. */
    readonly unsaved: PrefRecord[] = [],
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

export class DatasetNotFoundError extends Error {
  override name = 'DatasetNotFoundError';
  constructor(id: string) {
    super(`no dataset with id ${id}`);
  }
}

/** An all-or-nothing import met a bad row: nothing was stored. */
export class ImportRejectedError extends Error {
  override name = 'ImportRejectedError';
}

/** Quota errors as browsers and Dexie name them (Dexie wraps the DOMException as `inner`). */
export function isQuotaError(e: unknown): boolean {
  for (let x = e as { name?: string; inner?: unknown; cause?: unknown } | undefined, depth = 0; x && depth < 5; depth++) {
    if (x.name === 'QuotaExceededError' || x.name === 'NS_ERROR_DOM_QUOTA_REACHED') return true;
    x = (x.inner ?? x.cause) as typeof x;
  }
  return false;
}
