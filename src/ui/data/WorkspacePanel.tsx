// Storage usage against quota, persistent storage, and backup/restore of the whole workspace.
import { useRef, useState } from 'react';
import { useDataStore } from '../../stores/data.js';

export function WorkspacePanel() {
  const storage = useDataStore((s) => s.storage);
  const busy = useDataStore((s) => s.busy);
  const backup = useDataStore((s) => s.backup);
  const restore = useDataStore((s) => s.restore);
  const refreshStorage = useDataStore((s) => s.refreshStorage);
  const input = useRef<HTMLInputElement>(null);
  const [mode, setMode] = useState<'merge' | 'replace'>('merge');
  return (
    <section className="card" aria-labelledby="workspace-title" data-testid="workspace-panel">
      <h2 id="workspace-title" className="card-title">
        Workspace
      </h2>
      <p data-testid="storage-usage">
        Storage used: {storage ? storage.text : '…'}
        {storage?.estimate && <meter min={0} max={1} value={storage.estimate.fraction} aria-label="Storage used" className="storage-meter" />}
      </p>
      <p className="data-hint" data-testid="storage-persist">
        {storage?.persist === 'granted'
          ? 'Persistent storage is on: the browser will not evict your data under storage pressure.'
          : storage?.persist === 'denied'
            ? 'The browser did not grant persistent storage: it may evict data when the disk is low. Back up regularly.'
            : 'Persistent storage is not available here. Back up regularly.'}{' '}
        {storage?.persist !== 'granted' && (
          <button type="button" className="link-button" onClick={() => void refreshStorage(true)}>
            Ask again
          </button>
        )}
      </p>
      <div className="data-actions">
        <button type="button" className="button button-secondary" disabled={busy !== null} onClick={() => void backup()} data-testid="backup-button">
          {busy === 'backup' ? 'Backing up…' : 'Back up workspace'}
        </button>
        <select aria-label="Restore mode" value={mode} onChange={(e) => setMode(e.currentTarget.value as 'merge' | 'replace')}>
          <option value="merge">Restore beside current datasets</option>
          <option value="replace">Restore replacing everything</option>
        </select>
        <button type="button" className="button button-secondary" disabled={busy !== null} onClick={() => input.current?.click()}>
          {busy === 'restore' ? 'Restoring…' : 'Restore from backup…'}
        </button>
        <input
          ref={input}
          type="file"
          className="visually-hidden"
          aria-label="Backup file to restore"
          data-testid="restore-file"
          accept=".gz,.jsonl"
          onChange={(e) => {
            const f = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (!f) return;
            if (mode === 'replace' && !window.confirm('Replace every dataset and label in this workspace with the backup?')) return;
            void restore(f, f.name, mode);
          }}
        />
      </div>
    </section>
  );
}
