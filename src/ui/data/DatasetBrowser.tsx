// The records of one dataset: search and filters, length and label statistics, deduplication,
// train/test split, and a virtualised table (only the rows in view are in the DOM or in memory)
// with an editor for the selected record. Undo covers every change made here.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef, useState } from 'react';
import { RECORD_KINDS, SPLITS, type PrefRecord } from '../../data/records.js';
import type { DatasetRow } from '../../db/index.js';
import { labelOf, responsesOf, type LabelFilter, type LengthStats, type Row } from '../../services/data-browser.js';
import { rowCache, useBrowserStore } from '../../stores/data-browser.js';
import { formatCount } from '../format.js';
import { turnsPreview } from './text.js';

const ROW_HEIGHT = 34;
const LABELS: { id: LabelFilter; label: string }[] = [
  { id: 'any', label: 'any' },
  { id: 'preferred', label: 'pair: preferred' },
  { id: 'tie', label: 'pair: tie' },
  { id: 'bothBad', label: 'pair: both bad' },
  { id: 'desirable', label: 'unpaired: 👍' },
  { id: 'undesirable', label: 'unpaired: 👎' },
];

export function DatasetBrowser({ dataset, onChanged }: { dataset: DatasetRow; onChanged(): void }) {
  const s = useBrowserStore();
  const [search, setSearch] = useState('');
  const [testPercent, setTestPercent] = useState(10);

  useEffect(() => {
    void s.open(dataset.id);
  }, [dataset.id]);

  // Search as the person types, once they pause.
  useEffect(() => {
    const t = setTimeout(() => {
      if (search !== useBrowserStore.getState().filter.search) void useBrowserStore.getState().setFilter({ search });
    }, 250);
    return () => clearTimeout(t);
  }, [search]);

  const after = (p: Promise<unknown>) => void p.then(onChanged);
  const st = s.stats;
  return (
    <section className="card" aria-labelledby="browser-title" data-testid="dataset-browser">
      <h2 id="browser-title" className="card-title">
        {dataset.name}
      </h2>
      <div className="data-filters">
        <label>
          Search
          <input type="search" value={search} onChange={(e) => setSearch(e.currentTarget.value)} placeholder="Text in prompt, responses, tags…" data-testid="browser-search" />
        </label>
        <label>
          Kind
          <select value={s.filter.kind} onChange={(e) => void s.setFilter({ kind: e.currentTarget.value as PrefRecord['kind'] | 'any' })}>
            <option value="any">any</option>
            {RECORD_KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          Split
          <select value={s.filter.split} onChange={(e) => void s.setFilter({ split: e.currentTarget.value as PrefRecord['split'] | 'any' })}>
            <option value="any">any</option>
            {SPLITS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          Label
          <select value={s.filter.label} onChange={(e) => void s.setFilter({ label: e.currentTarget.value as LabelFilter })}>
            {LABELS.map((l) => (
              <option key={l.id} value={l.id}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <select value={s.filter.tag} onChange={(e) => void s.setFilter({ tag: e.currentTarget.value })}>
            <option value="any">any</option>
            {(st?.tags ?? []).slice(0, 200).map(([t, n]) => (
              <option key={t} value={t}>
                {t} ({n})
              </option>
            ))}
          </select>
        </label>
      </div>
      {st && (
        <div className="data-stats" data-testid="browser-stats" data-count={st.count}>
          <span>
            <strong>{formatCount(st.count)}</strong> shown{s.loading ? ` (updating${percent(s.progress)}…)` : ''}
          </span>
          <span>
            train {formatCount(st.bySplit.train)} / test {formatCount(st.bySplit.test)}
          </span>
          <span>
            {Object.entries(st.labels)
              .filter(([, n]) => n > 0)
              .map(([k, n]) => `${LABELS.find((l) => l.id === k)?.label ?? k} ${formatCount(n)}`)
              .join(' · ') || 'no labels'}
          </span>
          <span>prompt chars {lengths(st.promptLength)}</span>
          <span>response chars {lengths(st.responseLength)}</span>
        </div>
      )}
      {!st && s.loading && (
        <p className="data-hint" role="status" data-testid="browser-scanning">
          {s.ids.length ? `${formatCount(s.ids.length)} records; ` : ''}reading statistics{percent(s.progress)}…
        </p>
      )}
      <div className="data-actions">
        <button type="button" className="button button-secondary" onClick={() => after(s.deduplicate())} disabled={s.busy !== null} data-testid="browser-dedupe">
          Remove duplicates
        </button>
        <label className="data-hint">
          Test %{' '}
          <input type="number" min={0} max={100} value={testPercent} onChange={(e) => setTestPercent(Number(e.currentTarget.value))} style={{ width: 64 }} />
        </label>
        <button type="button" className="button button-secondary" onClick={() => after(s.split(testPercent / 100))} disabled={s.ids.length === 0}>
          Split the {formatCount(s.ids.length)} shown into train/test
        </button>
        <button type="button" className="button button-secondary" onClick={() => after(s.undo())} disabled={s.undoStack.length === 0} data-testid="browser-undo">
          Undo{s.undoStack.length ? ` ${s.undoStack.at(-1)!.label}` : ''}
        </button>
      </div>
      {s.busy && (
        <p className="data-hint" role="status" data-testid="browser-busy">
          {s.busy}
          {percent(s.progress)}
        </p>
      )}
      {s.notice && (
        <p className="data-hint" role="status" data-testid="browser-notice">
          {s.notice}
        </p>
      )}
      {s.error && <p className="data-error">{s.error}</p>}
      <RecordTable />
      {s.selected !== null && <RecordEditor key={s.selected} id={s.selected} onChanged={onChanged} />}
    </section>
  );
}

function percent(p: number | null): string {
  return p === null ? '' : ` ${Math.floor(p * 100)}%`;
}

function lengths(l: LengthStats | null): string {
  return l ? `min ${l.min} · median ${Math.round(l.median)} · mean ${Math.round(l.mean)} · max ${l.max}` : '—';
}

function RecordTable() {
  const ids = useBrowserStore((s) => s.ids);
  useBrowserStore((s) => s.rowsVersion); // re-render when rows arrive
  const selected = useBrowserStore((s) => s.selected);
  const ensureRows = useBrowserStore((s) => s.ensureRows);
  const select = useBrowserStore((s) => s.select);
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: ids.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 12 });
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items.at(-1)?.index ?? 0;
  useEffect(() => {
    if (ids.length) void ensureRows(first, last);
  }, [first, last, ids, ensureRows]);

  return (
    <div className="browser-scroll" ref={scroller} data-testid="browser-table" role="table" aria-rowcount={ids.length + 1} aria-label="Records">
      <div className="browser-row browser-row-head" role="row" style={{ height: ROW_HEIGHT, position: 'sticky' }}>
        {['#', 'Kind', 'Split', 'Prompt', 'Chosen / response', 'Rejected / label', 'Tags'].map((h) => (
          <span key={h} className="browser-cell" role="columnheader">
            {h}
          </span>
        ))}
      </div>
      <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {items.map((v) => {
          const id = ids[v.index]!;
          const r = rowCache.get(id);
          return (
            <div
              key={id}
              role="row"
              aria-rowindex={v.index + 2}
              aria-selected={selected === id}
              className={`browser-row${selected === id ? ' browser-row-selected' : ''}`}
              style={{ top: v.start, height: ROW_HEIGHT }}
              onClick={() => select(selected === id ? null : id)}
              data-testid="browser-row"
            >
              <span className="browser-cell" role="cell">
                {v.index + 1}
              </span>
              {r ? <RowCells r={r} /> : <span className="browser-cell data-hint">…</span>}
            </div>
          );
        })}
      </div>
    </div>
  );
}

function RowCells({ r }: { r: Row }) {
  const responses = responsesOf(r);
  const second = r.kind === 'unpaired' ? (r.label ? '👍 desirable' : '👎 undesirable') : responses[1] ? turnsPreview(responses[1], 100) : '';
  const label = labelOf(r);
  return (
    <>
      <span className="browser-cell" role="cell">
        {r.kind}
        {label === 'tie' || label === 'bothBad' ? ` (${label})` : ''}
      </span>
      <span className="browser-cell" role="cell">
        {r.split}
      </span>
      <span className="browser-cell" role="cell" title={turnsPreview(r.prompt, 400)}>
        {turnsPreview(r.prompt, 100)}
      </span>
      <span className="browser-cell" role="cell">
        {responses[0] ? turnsPreview(responses[0], 100) : ''}
      </span>
      <span className="browser-cell" role="cell">
        {second}
      </span>
      <span className="browser-cell" role="cell">
        {r.tags.join(', ')}
      </span>
    </>
  );
}

/** The selected record as JSON (every kind, every field), edited in a textarea and validated on save. */
function RecordEditor({ id, onChanged }: { id: number; onChanged(): void }) {
  useBrowserStore((s) => s.rowsVersion);
  const row = rowCache.get(id);
  const edit = useBrowserStore((s) => s.edit);
  const remove = useBrowserStore((s) => s.remove);
  const select = useBrowserStore((s) => s.select);
  const [draft, setDraft] = useState(() => (row ? json(row) : ''));
  const [problem, setProblem] = useState<string | null>(null);
  if (!row) return null;
  const save = async () => {
    let value: unknown;
    try {
      value = JSON.parse(draft);
    } catch (e) {
      setProblem(`not valid JSON: ${(e as Error).message}`);
      return;
    }
    setProblem(null);
    if (await edit(id, value)) onChanged();
  };
  return (
    <div className="record-editor" data-testid="record-editor">
      <label className="data-hint" htmlFor={`record-${id}`}>
        Record {id} (JSON; validated when saved)
      </label>
      <textarea id={`record-${id}`} value={draft} onChange={(e) => setDraft(e.currentTarget.value)} rows={12} />
      {problem && <p className="data-error">{problem}</p>}
      <div className="data-actions">
        <button type="button" className="button button-primary" onClick={() => void save()}>
          Save
        </button>
        <button type="button" className="button button-danger" onClick={() => void remove([id]).then(onChanged)} data-testid="record-delete">
          Delete
        </button>
        <button type="button" className="button button-secondary" onClick={() => select(null)}>
          Close
        </button>
      </div>
    </div>
  );
}

function json(r: Row): string {
  const { id: _id, datasetId: _d, ...record } = r;
  return JSON.stringify(record, null, 2);
}
