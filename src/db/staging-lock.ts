// Which staged (half-written) datasets are still being written. An import or restore holds a Web
// Lock named after each dataset it stages until it finishes; the clean-up at open deletes only
// staged datasets whose lock nobody holds, so a second tab or Worker opening the workspace never
// deletes an import still running elsewhere, while a tab that crashed mid-import releases its
// locks and its leftovers go at the next open. Without the Web Locks API (Node) there is one
// process and the clean-up at open runs before any import, so every staged dataset is stale.

const PREFIX = 'prefstudio:staging:';

export interface StagingLock {
  release(): void;
}

function webLocks(): LockManager | undefined {
  return (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
}

/** Holds the lock for a staged dataset until `release()`. */
export async function holdStagingLock(datasetId: string): Promise<StagingLock> {
  const locks = webLocks();
  if (!locks) return { release() {} };
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await new Promise<void>((granted) => {
    void locks.request(PREFIX + datasetId, () => {
      granted();
      return held;
    });
  });
  return { release };
}

/** Ids of staged datasets being written right now, or null where that cannot be known (Node). */
export async function stagingInProgress(): Promise<Set<string> | null> {
  const locks = webLocks();
  if (!locks) return null;
  const { held = [] } = await locks.query();
  return new Set(held.flatMap((l) => (l.name?.startsWith(PREFIX) ? [l.name.slice(PREFIX.length)] : [])));
}
