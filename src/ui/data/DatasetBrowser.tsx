// The records of one dataset (virtualised table). Filled in by the dataset-browser step.
import type { DatasetRow } from '../../db/index.js';

export function DatasetBrowser({ dataset }: { dataset: DatasetRow; onChanged(): void }) {
  return <section className="data-card">{dataset.name}</section>;
}
