// The navigation store against an in-memory location (the real one needs a browser).
import { beforeEach, describe, expect, it, vi } from 'vitest';

const location = vi.hoisted(() => {
  const state = {
    hash: '#/train',
    history: [] as string[],
    listeners: new Set<(hash: string) => void>(),
    /** What the browser does on back/forward or a typed URL: a new hash, then hashchange. */
    userSets(hash: string) {
      state.hash = hash;
      for (const listener of state.listeners) listener(hash);
    },
  };
  return state;
});

vi.mock('../../src/services/location.js', () => ({
  readHash: () => location.hash,
  pushHash: (hash: string) => {
    location.history.push(hash);
    location.hash = hash;
  },
  replaceHash: (hash: string) => {
    location.hash = hash;
  },
  onHashChange: (listener: (hash: string) => void) => {
    location.listeners.add(listener);
    return () => location.listeners.delete(listener);
  },
}));

const { DEFAULT_PAGE, PAGES, hashForPage, pageFromHash, useNavigationStore } = await import('../../src/stores/navigation.js');

describe('pageFromHash', () => {
  it('reads #/<page> for every page', () => {
    for (const page of PAGES) expect(pageFromHash(hashForPage(page))).toBe(page);
    expect(pageFromHash('#/train/')).toBe('train');
  });

  it('rejects empty, unknown and malformed hashes', () => {
    for (const hash of ['', '#', '#/', '#train', '#/Train', '#/nope', '#/train/x', '#/models?x=1']) {
      expect(pageFromHash(hash), hash).toBeNull();
    }
  });
});

describe('useNavigationStore', () => {
  beforeEach(() => {
    location.history = [];
    location.listeners.clear();
  });

  it('starts on the page in the URL', () => {
    // The module was imported while the hash was #/train.
    expect(useNavigationStore.getState().page).toBe('train');
  });

  it('navigate shows the page and pushes its hash', () => {
    useNavigationStore.getState().navigate('data');
    expect(useNavigationStore.getState().page).toBe('data');
    expect(location.hash).toBe('#/data');
    expect(location.history).toEqual(['#/data']);
  });

  it('follows the hash (back/forward) once synced, and stops when told', () => {
    useNavigationStore.getState().navigate('label');
    const stop = useNavigationStore.getState().startHashSync();
    location.userSets('#/evaluate');
    expect(useNavigationStore.getState().page).toBe('evaluate');
    stop();
    location.userSets('#/export');
    expect(useNavigationStore.getState().page).toBe('evaluate');
  });

  it('corrects an unknown hash to the current page without a history entry', () => {
    useNavigationStore.getState().navigate('train');
    location.history = [];
    const stop = useNavigationStore.getState().startHashSync();
    location.userSets('#/nope');
    expect(useNavigationStore.getState().page).toBe('train');
    expect(location.hash).toBe('#/train');
    expect(location.history).toEqual([]);
    stop();
  });

  it('the default page is Models', () => {
    expect(DEFAULT_PAGE).toBe('models');
    expect(PAGES[0]).toBe('models');
  });
});
