// Data: preference datasets. Placeholder until its issue lands.
import { DataIcon } from '../components/Icons.js';
import { PageShell, Placeholder } from '../components/PageShell.js';

export function DataPage() {
  return (
    <PageShell
      page="data"
      lead="Import preference pairs (prompt, chosen, rejected) from JSONL, CSV or Parquet, then browse, filter and split them."
    >
      <Placeholder
        icon={<DataIcon width={28} height={28} />}
        title="Preference datasets"
        items={[
          'Import files in the common DPO and KTO layouts.',
          'Search, filter and fix examples; hold out a validation split.',
          'Everything is stored in this browser (IndexedDB).',
        ]}
      />
    </PageShell>
  );
}
