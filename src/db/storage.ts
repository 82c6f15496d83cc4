// Browser storage: ask for persistence (so the browser does not evict the workspace under
// pressure) and estimate usage against quota. Both say "unsupported" rather than throw where the
// API is missing (Node, old browsers, some private modes).

export type PersistResult = 'granted' | 'denied' | 'unsupported';

interface StorageManagerLike {
  persist?: () => Promise<boolean>;
  persisted?: () => Promise<boolean>;
  estimate?: () => Promise<{ usage?: number; quota?: number }>;
}

function manager(): StorageManagerLike | undefined {
  return (globalThis.navigator as { storage?: StorageManagerLike } | undefined)?.storage;
}

export async function requestPersistence(storage = manager()): Promise<PersistResult> {
  if (!storage?.persist) return 'unsupported';
  if (storage.persisted && (await storage.persisted())) return 'granted';
  return (await storage.persist()) ? 'granted' : 'denied';
}

export interface StorageEstimate {
  usage: number;
  quota: number;
  /** usage / quota, 0..1. */
  fraction: number;
  persisted: boolean | null;
}

export async function storageEstimate(storage = manager()): Promise<StorageEstimate | null> {
  if (!storage?.estimate) return null;
  const { usage = 0, quota = 0 } = await storage.estimate();
  const persisted = storage.persisted ? await storage.persisted() : null;
  return { usage, quota, fraction: quota > 0 ? usage / quota : 0, persisted };
}

/** "1.2 GB of 4.0 GB (30%)". */
export function describeEstimate(e: StorageEstimate): string {
  const gb = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : `${(n / 1e6).toFixed(1)} MB`);
  return `${gb(e.usage)} of ${gb(e.quota)} (${Math.round(e.fraction * 100)}%)`;
}
