// A preference dataset from the Hub, by repository id: the files of one split at a revision
// (Parquet or JSON lines, src/hub/client.ts), each read by the same importer as a dropped file
// (src/data/import: detection, mapping to PrefRecords). Records of a test or validation split are
// marked split: "test", as the Data page keeps held-out rows.

import type { PrefRecord } from '../data/records.js';
import { importAll } from '../data/import/pipeline.js';
import { blobSource } from '../data/io/source.js';
import { downloadDatasetSplit, HubError, type HubOptions } from './client.js';

export interface HubDatasetImport {
  split: string;
  files: string[];
  records: PrefRecord[];
  /** Rows no mapping could read, over all files. */
  badRows: number;
}

export async function importHubDataset(id: string, o: HubOptions & { revision?: string; split?: string; onFile?: (path: string, i: number, n: number) => void } = {}): Promise<HubDatasetImport> {
  const { split, files } = await downloadDatasetSplit(id, o);
  const records: PrefRecord[] = [];
  let badRows = 0;
  for (const f of files) {
    const name = f.path.split('/').pop()!;
    const result = await importAll(blobSource(f.blob, name));
    if (result.fatal && result.records.length === 0) throw new HubError('other', `dataset ${id}: ${f.path}: ${result.fatal.message}`);
    const held = split === 'test' || split === 'validation';
    for (const r of result.records) records.push(held ? { ...r, split: 'test' } : r);
    badRows += result.badRows;
  }
  if (records.length === 0) throw new HubError('no-files', `dataset ${id} (${split}): no preference record in ${files.map((f) => f.path).join(', ')}`);
  return { split, files: files.map((f) => f.path), records, badRows };
}
