// Which studio page is shown. The URL hash (#/train) mirrors it, so reload, bookmarks and
// back/forward all work; the store is the one place that reads or writes the hash.
import { create } from 'zustand';
import { onHashChange, pushHash, readHash, replaceHash } from '../services/location.js';

/** The studio's pages, in workflow order. */
export const PAGES = ['models', 'data', 'label', 'train', 'loop', 'evaluate', 'export'] as const;
export type PageId = (typeof PAGES)[number];
export const DEFAULT_PAGE: PageId = 'models';

export function isPageId(value: string): value is PageId {
  return (PAGES as readonly string[]).includes(value);
}

/** `#/train` → `train`; anything else (empty, unknown, malformed) → null. */
export function pageFromHash(hash: string): PageId | null {
  const match = /^#\/([a-z]+)\/?$/.exec(hash);
  return match?.[1] !== undefined && isPageId(match[1]) ? match[1] : null;
}

export function hashForPage(page: PageId): string {
  return `#/${page}`;
}

interface NavigationState {
  page: PageId;
  /** Shows `page` and records it in the history (a new hash). */
  navigate(page: PageId): void;
  /** Follows the hash from now on (back/forward, links); returns the function that stops it. */
  startHashSync(): () => void;
}

export const useNavigationStore = create<NavigationState>()((set, get) => ({
  page: pageFromHash(readHash()) ?? DEFAULT_PAGE,

  navigate(page) {
    if (get().page !== page) set({ page });
    pushHash(hashForPage(page));
  },

  startHashSync() {
    const follow = (hash: string) => {
      const page = pageFromHash(hash);
      if (page === null) {
        // An unknown or empty hash shows the current page and says so in the URL.
        replaceHash(hashForPage(get().page));
      } else if (page !== get().page) {
        set({ page });
      }
    };
    follow(readHash());
    return onHashChange(follow);
  },
}));
