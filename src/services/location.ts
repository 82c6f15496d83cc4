// The URL hash, the one piece of browser location the app uses (#/train). A service so the
// navigation store can be tested without a browser.

function hasWindow(): boolean {
  return typeof window !== 'undefined';
}

export function readHash(): string {
  return hasWindow() ? window.location.hash : '';
}

/** Sets the hash as a new history entry (back returns to the previous page). */
export function pushHash(hash: string): void {
  if (hasWindow() && window.location.hash !== hash) window.location.hash = hash;
}

/** Sets the hash without a new history entry (normalising an empty or unknown hash). */
export function replaceHash(hash: string): void {
  if (hasWindow() && window.location.hash !== hash) {
    window.history.replaceState(window.history.state, '', hash);
  }
}

/** Calls `listener` with the new hash on back/forward and on links; returns the unsubscribe. */
export function onHashChange(listener: (hash: string) => void): () => void {
  if (!hasWindow()) return () => {};
  const handler = () => listener(window.location.hash);
  window.addEventListener('hashchange', handler);
  return () => window.removeEventListener('hashchange', handler);
}
