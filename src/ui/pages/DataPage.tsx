// Data: import files (parsed in a Worker), the dataset list with export, the workspace's storage
// and backup, and the browser of one dataset's records.
import { useEffect, useState } from 'react';
import { useDataStore } from '../../stores/data.js';
import { PageShell } from '../components/PageShell.js';
import { DatasetBrowser } from '../data/DatasetBrowser.js';
import { DatasetList } from '../data/DatasetList.js';
import { ImportPanel } from '../data/ImportPanel.js';
import { WorkspacePanel } from '../data/WorkspacePanel.js';
import '../data/data.css';

export function DataPage() {
  const refresh = useDataStore((s) => s.refresh);
  const refreshStorage = useDataStore((s) => s.refreshStorage);
  const notice = useDataStore((s) => s.notice);
  const datasets = useDataStore((s) => s.datasets);
  const [browsing, setBrowsing] = useState<string | null>(null);

  useEffect(() => {
    void refresh();
    // Ask once per visit for persistent storage: the data lives only in this browser.
    void refreshStorage(true);
  }, [refresh, refreshStorage]);

  const browsed = datasets.find((d) => d.id === browsing) ?? null;
  return (
    <PageShell page="data" lead="Import preference data, check how it was read, browse and fix it, and export it for training elsewhere. Everything stays in this browser.">
      <div className="data-page">
        <ImportPanel />
        <DatasetList selected={browsed?.id ?? null} onBrowse={(id) => setBrowsing(id === browsing ? null : id)} />
        {notice && (
          <p className={notice.kind === 'ok' ? 'data-ok' : 'data-error'} role="status" data-testid="data-notice">
            {notice.text}
          </p>
        )}
        {browsed && <DatasetBrowser key={browsed.id} dataset={browsed} onChanged={() => void refresh()} />}
        <WorkspacePanel />
      </div>
    </PageShell>
  );
}
