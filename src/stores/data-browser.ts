// The dataset browser: the filter, the matching ids and their statistics, a cache of the rows the
// table has shown, the selected record, and an undo stack (each entry names a change the browse
// Worker can put back). Scans run in the Worker; the table reads rows by id, a page at a time, so
// 100,000 records stay smooth.
import { create } from 'zustand';
import {
  assignSplit,
  browse,
  deduplicate,
  editRow,
  forgetChanges,
  isCancelled,
  loadRows,
  NO_FILTER,
  removeRows,
  undoChange,
  type BrowseFilter,
  type BrowseStats,
  type IdList,
  type Row,
} from '../services/data-browser.js';

interface UndoEntry {
  label: string;
  /** The Worker's token for the records to put back as they were. */
  token: string;
}

const NO_IDS: IdList = new Float64Array(0);
const MAX_UNDO = 50;

interface BrowserState {
  datasetId: string | null;
  filter: BrowseFilter;
  ids: IdList;
  stats: BrowseStats | null;
  loading: boolean;
  /** Share of the records read by the scan in progress (0..1), null when none. */
  progress: number | null;
  /** What a long job (deduplication) is doing, for the status line. */
  busy: string | null;
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
    let undoStack = get().undoStack;
    if (entry) {
      undoStack = [...undoStack, entry];
      forgetChanges(undoStack.slice(0, -MAX_UNDO).map((e) => e.token));
      undoStack = undoStack.slice(-MAX_UNDO);
    }
    set({ undoStack, notice, rowsVersion: get().rowsVersion + 1 });
    await get().refresh();
  };

  return {
    datasetId: null,
    filter: NO_FILTER,
    ids: NO_IDS,
    stats: null,
    loading: false,
    progress: null,
    busy: null,
    error: null,
    rowsVersion: 0,
    selected: null,
    undoStack: [],
    notice: null,

    async open(datasetId) {
      rowCache.clear();
      forgetChanges(get().undoStack.map((e) => e.token));
      set({ datasetId, filter: NO_FILTER, ids: NO_IDS, stats: null, rowsVersion: 0, selected: null, undoStack: [], notice: null, error: null, busy: null });
      await get().refresh();
    },

    async setFilter(patch) {
      set({ filter: { ...get().filter, ...patch } });
      await get().refresh();
    },

    async refresh() {
      const { datasetId, filter } = get();
      if (!datasetId) return;
      set({ loading: true, progress: null });
      // A newer filter or dataset may have started meanwhile: only the latest answer is shown.
      const current = () => get().filter === filter && get().datasetId === datasetId;
      try {
        const r = await browse(datasetId, filter, (p) => {
          if (!current()) return;
          if (p.ids) set({ ids: p.ids });
          if (p.total) set({ progress: p.scanned! / p.total });
        });
        if (!current()) return;
        set({ ids: r.ids, stats: r.stats, loading: false, progress: null, error: null });
      } catch (e) {
        if (isCancelled(e) || !current()) return;
        set({ loading: false, progress: null, error: message(e) });
      }
    },

    async ensureRows(from, to) {
      const { ids } = get();
      for (let page = Math.floor(from / PAGE) * PAGE; page <= Math.min(to, ids.length - 1); page += PAGE) {
        const want = Array.from(ids.subarray(page, page + PAGE)).filter((id) => !rowCache.has(id));
        if (want.length === 0) continue;
        const key = `${want[0]}:${want.length}`;
        if (pending.has(key)) continue;
        pending.add(key);
        try {
          const rows = await loadRows(want);
          // The ids may have changed meanwhile (a new filter): those rows are still right by id.
          for (const r of rows) rowCache.set(r.id, r);
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
        const { token } = await editRow(id, record);
        await changed({ label: 'edit', token }, 'Saved the edit.');
        return true;
      } catch (e) {
        set({ notice: `Not saved: ${message(e)}` });
        return false;
      }
    },

    async remove(ids) {
      const { removed, token } = await removeRows(ids);
      if (get().selected !== null && ids.includes(get().selected!)) set({ selected: null });
      await changed(token ? { label: `delete ${removed}`, token } : null, `Deleted ${removed} record(s).`);
    },

    async deduplicate() {
      const { datasetId } = get();
      if (!datasetId) return;
      set({ busy: 'Looking for duplicates…', progress: 0 });
      try {
        const { removed, token } = await deduplicate(datasetId, (p) => {
          if (p.total && get().datasetId === datasetId) set({ progress: p.scanned! / p.total });
        });
        if (get().datasetId !== datasetId) return;
        set({ busy: null, progress: null });
        if (!token) {
          set({ notice: 'No duplicates: every record differs from the others.' });
          return;
        }
        await changed({ label: `remove ${removed} duplicates`, token }, `Removed ${removed} duplicate record(s).`);
      } catch (e) {
        set({ busy: null, progress: null, notice: `Duplicates not removed: ${message(e)}` });
      }
    },

    async split(testFraction, seed = Date.now()) {
      try {
        const { token } = await assignSplit(get().ids, testFraction, seed);
        await changed(token ? { label: 'split', token } : null, `Split ${get().ids.length} record(s): ${Math.round(testFraction * 100)}% test.`);
      } catch (e) {
        set({ notice: message(e) });
      }
    },

    async undo() {
      const stack = get().undoStack;
      const last = stack.at(-1);
      if (!last) return;
      try {
        await undoChange(last.token);
      } catch (e) {
        set({ notice: `Not undone: ${message(e)}` });
        return;
      }
      set({ undoStack: stack.slice(0, -1) });
      await changed(null, `Undone: ${last.label}.`);
    },
  };
});
