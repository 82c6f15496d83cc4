// The workspace's datasets with their counts; export (as a download), rename, delete, browse.
import { useState } from 'react';
import type { DatasetRow } from '../../db/index.js';
import { EXPORT_TARGETS, type ExportTarget } from '../../services/data.js';
import { useDataStore } from '../../stores/data.js';
import { formatCount } from '../format.js';

interface Props {
  selected: string | null;
  onBrowse(id: string): void;
}

export function DatasetList({ selected, onBrowse }: Props) {
  const datasets = useDataStore((s) => s.datasets);
  const loaded = useDataStore((s) => s.loaded);
  return (
    <section className="card" aria-labelledby="datasets-title">
      <h2 id="datasets-title" className="card-title">
        Datasets
      </h2>
      {loaded && datasets.length === 0 && <p className="data-hint">No datasets yet: import a file above.</p>}
      <ul className="dataset-list" data-testid="dataset-list">
        {datasets.map((d) => (
          <DatasetItem key={d.id} dataset={d} selected={d.id === selected} onBrowse={onBrowse} />
        ))}
      </ul>
    </section>
  );
}

function DatasetItem({ dataset: d, selected, onBrowse }: { dataset: DatasetRow; selected: boolean; onBrowse(id: string): void }) {
  const s = useDataStore();
  const [target, setTarget] = useState<ExportTarget>('trl');
  const kinds = Object.entries(d.counts.byKind).filter(([, n]) => n > 0);
  return (
    <li className={`dataset-item${selected ? ' dataset-item-selected' : ''}`} data-testid="dataset-item" data-name={d.name} data-total={d.counts.total}>
      <div className="dataset-head">
        <strong className="dataset-name">{d.name}</strong>
        <span className="data-hint">
          {formatCount(d.counts.total)} records
          {kinds.length ? ` · ${kinds.map(([k, n]) => `${formatCount(n)} ${k}`).join(', ')}` : ''} · train {formatCount(d.counts.bySplit.train)} / test{' '}
          {formatCount(d.counts.bySplit.test)}
          {d.source ? ` · from ${d.source.file} (${d.source.format}${d.source.rowsRejected ? `, ${d.source.rowsRejected} bad rows left out` : ''})` : ''}
          {d.labelsOf ? ' · labels' : ''}
        </span>
      </div>
      <div className="dataset-actions">
        <button type="button" className="button button-secondary" onClick={() => onBrowse(d.id)} aria-pressed={selected}>
          Browse
        </button>
        <select aria-label={`Export format for ${d.name}`} value={target} onChange={(e) => setTarget(e.currentTarget.value as ExportTarget)} data-testid="export-target">
          {(Object.keys(EXPORT_TARGETS) as ExportTarget[]).map((t) => (
            <option key={t} value={t}>
              {EXPORT_TARGETS[t].label}
            </option>
          ))}
        </select>
        <button type="button" className="button button-secondary" disabled={s.busy !== null} onClick={() => void s.exportDataset(d.id, target)} data-testid="export-button">
          Export
        </button>
        <button
          type="button"
          className="button button-secondary"
          onClick={() => {
            const name = window.prompt('New name', d.name);
            if (name) void s.rename(d.id, name);
          }}
        >
          Rename
        </button>
        <button
          type="button"
          className="button button-danger"
          onClick={() => {
            if (window.confirm(`Delete “${d.name}” and its ${d.counts.total} records? Export or back up first if unsure.`)) void s.remove(d.id);
          }}
        >
          Delete
        </button>
      </div>
    </li>
  );
}
