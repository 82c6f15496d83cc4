// The Data page's "From the Hugging Face Hub": a dataset repository by id (and revision), its
// Parquet / JSON lines files by split, one of which goes into the ordinary import flow (preview,
// mapping, staged write) like a dropped file.
import { useState } from 'react';
import { useHubStore } from '../../stores/hub.js';
import { HubToken } from './HubToken.js';

export function HubDatasetImport() {
  const s = useHubStore();
  const [picked, setPicked] = useState<Record<string, string>>({});
  return (
    <details className="hub-import" data-testid="hub-import">
      <summary>From the Hugging Face Hub</summary>
      <div className="fields">
        <label className="field">
          <span>Dataset repository</span>
          <input value={s.datasetRepo} placeholder="trl-lib/ultrafeedback_binarized" spellCheck={false} onChange={(e) => s.setDatasetRepo(e.target.value, s.revision)} data-testid="hub-dataset-repo" />
        </label>
        <label className="field">
          <span>Revision</span>
          <input value={s.revision} placeholder="main" spellCheck={false} onChange={(e) => s.setDatasetRepo(s.datasetRepo, e.target.value)} data-testid="hub-dataset-revision" />
        </label>
        <HubToken purpose="Only for private or gated datasets." />
      </div>
      <button type="button" className="button button-secondary" disabled={!s.datasetRepo.trim() || !!s.busy} onClick={() => void s.listDataset()} data-testid="hub-dataset-list">
        List its files
      </button>
      {s.error && (
        <p role="alert" className="export-error" data-testid="hub-error">
          {s.error}
        </p>
      )}
      {s.splits && (
        <ul className="hub-splits" data-testid="hub-splits">
          {s.splits.map((sp) => (
            <li key={sp.split} data-split={sp.split}>
              <strong>{sp.split}</strong>{' '}
              <select value={picked[sp.split] ?? sp.files[0]!.path} onChange={(e) => setPicked({ ...picked, [sp.split]: e.target.value })} aria-label={`${sp.split} file`}>
                {sp.files.map((f) => (
                  <option key={f.path} value={f.path}>
                    {f.path} ({(f.size / 1024).toFixed(0)} KiB)
                  </option>
                ))}
              </select>{' '}
              <button type="button" className="button button-primary" disabled={!!s.busy} onClick={() => void s.fetchDatasetFile(picked[sp.split] ?? sp.files[0]!.path, sp.split)} data-testid={`hub-import-${sp.split}`}>
                Import
              </button>
            </li>
          ))}
        </ul>
      )}
    </details>
  );
}
