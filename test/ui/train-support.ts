// Helpers of the train store tests: the workspace functions they use and a checkpoint's adapter.
import { decodeCheckpoint } from '../../src/engine/training/trainer.js';
import type { CheckpointRow } from '../../src/db/index.js';
export { addRecords, createDataset, latestCheckpoint, openWorkspace, type PrefDb } from '../../src/db/index.js';

export function decodeCheckpointOf(row: CheckpointRow | undefined): Record<string, Float32Array> {
  if (!row) throw new Error('no checkpoint');
  return decodeCheckpoint(row.bytes).adapter;
}
