// The dataset browser: the filter, the matching ids and their statistics, a cache of the rows the
// table has shown, the selected record, and an undo stack (each entry puts records back as they
// were). The table reads rows by id, a page at a time, so 100,000 records stay smooth.
import { create } from 'zustand';
import {
  assignSplit,
  browse,
  editRow,
  findDuplicates,
  loadRows,
  NO_FILTER,
  removeRows,
  restoreRows,
  type BrowseFilter,
  type BrowseStats,
  type Row,
} from '../services/data-browser.js';

interface UndoEntry {
  label: string;
  /** Records to put back as they were. */
  rows: Row[];
}

interface BrowserState {
  datasetId: string | null;
  filter: BrowseFilter;
  ids: number[];
  stats: BrowseStats | null;
  loading: boolean;
  error: string | null;
  /** Bumped when rows are loaded (the rows themselves live in `rowCache`). */
  rowsVersion: number;
  selected: number | null;
  undoStack: UndoEntry[];
  notice: string | null;

  open(datasetId: string): Promise<void>;
  setFilter(patch: Partial<BrowseFilter>): Promise<void>;
  refresh(): Promise<void>;
  /** Makes sure the rows at these table positions are loaded. */
  ensureRows(from: number, to: number): Promise<void>;
  select(id: number | null): void;
  edit(id: number, record: unknown): Promise<boolean>;
  remove(ids: number[]): Promise<void>;
  deduplicate(): Promise<void>;
  split(testFraction: number, seed?: number): Promise<void>;
  undo(): Promise<void>;
}

const PAGE = 200;
/** Rows read for the table, most recent last; bounded so a long scroll does not hold them all. */
export const rowCache = new Map<number, Row>();
const MAX_CACHED = 5000;
/** Pages being read, so a scroll does not ask twice. */
const pending = new Set<string>();

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export const useBrowserStore = create<BrowserState>()((set, get) => {
  const changed = async (entry: UndoEntry | null, notice: string) => {
    rowCache.clear();
    set({ undoStack: entry && entry.rows.length ? [...get().undoStack, entry].slice(-50) : get().undoStack, notice, rowsVersion: get().rowsVersion + 1 });
    await get().refresh();
  };

  return {
    datasetId: null,
    filter: NO_FILTER,
    ids: [],
    stats: null,
    loading: false,
    error: null,
    rowsVersion: 0,
    selected: null,
    undoStack: [],
    notice: null,

    async open(datasetId) {
      rowCache.clear();
      set({ datasetId, filter: NO_FILTER, ids: [], stats: null, rowsVersion: 0, selected: null, undoStack: [], notice: null, error: null });
      await get().refresh();
    },

    async setFilter(patch) {
      set({ filter: { ...get().filter, ...patch } });
      await get().refresh();
    },

    async refresh() {
      const { datasetId, filter } = get();
      if (!datasetId) return;
      set({ loading: true });
      try {
        const r = await browse(datasetId, filter);
        // A newer filter may have started meanwhile: keep only the latest answer.
        if (get().filter !== filter || get().datasetId !== datasetId) return;
        set({ ids: r.ids, stats: r.stats, loading: false, error: null });
      } catch (e) {
        set({ loading: false, error: message(e) });
      }
    },

    async ensureRows(from, to) {
      const { ids } = get();
      for (let page = Math.floor(from / PAGE) * PAGE; page <= Math.min(to, ids.length - 1); page += PAGE) {
        const want = ids.slice(page, page + PAGE).filter((id) => !rowCache.has(id));
        if (want.length === 0) continue;
        const key = `${want[0]}:${want.length}`;
        if (pending.has(key)) continue;
        pending.add(key);
        try {
          for (const r of await loadRows(want)) rowCache.set(r.id, r);
          for (const old of rowCache.keys()) {
            if (rowCache.size <= MAX_CACHED) break;
            rowCache.delete(old);
          }
          set({ rowsVersion: get().rowsVersion + 1 });
        } finally {
          pending.delete(key);
        }
      }
    },

    select(id) {
      set({ selected: id });
    },

    async edit(id, record) {
      try {
        const before = await editRow(id, record);
        await changed({ label: 'edit', rows: [before] }, 'Saved the edit.');
        return true;
      } catch (e) {
        set({ notice: `Not saved: ${message(e)}` });
        return false;
      }
    },

    async remove(ids) {
      const before = await removeRows(ids);
      if (get().selected !== null && ids.includes(get().selected!)) set({ selected: null });
      await changed({ label: `delete ${before.length}`, rows: before }, `Deleted ${before.length} record(s).`);
    },

    async deduplicate() {
      const { datasetId } = get();
      if (!datasetId) return;
      const dupes = await findDuplicates(datasetId);
      if (dupes.length === 0) {
        set({ notice: 'No duplicates: every record differs from the others.' });
        return;
      }
      const before = await removeRows(dupes);
      await changed({ label: `remove ${before.length} duplicates`, rows: before }, `Removed ${before.length} duplicate record(s).`);
    },

    async split(testFraction, seed = Date.now()) {
      try {
        const before = await assignSplit(get().ids, testFraction, seed);
        await changed({ label: 'split', rows: before }, `Split ${get().ids.length} record(s): ${Math.round(testFraction * 100)}% test.`);
      } catch (e) {
        set({ notice: message(e) });
      }
    },

    async undo() {
      const stack = get().undoStack;
      const last = stack.at(-1);
      if (!last) return;
      await restoreRows(last.rows);
      set({ undoStack: stack.slice(0, -1) });
      await changed(null, `Undone: ${last.label}.`);
    },
  };
});
