// Helpers of the Export studio test: the workspace functions it uses and a checkpoint of an adapter.
import { encodeCheckpoint } from '../../src/engine/training/trainer.js';
import type { TrainingConfig } from '../../src/engine/training/config.js';
export { addRecords, createDataset, createRun, deleteRun, openWorkspace, saveCheckpoint, type PrefDb } from '../../src/db/index.js';

/** A finished run's checkpoint holding this adapter (no optimizer state needed to export). */
export function encodeCheckpointOf(config: TrainingConfig, adapter: Record<string, Float32Array>): Uint8Array {
  return encodeCheckpoint({ version: 1, config, step: 2, rng: [1, 2, 3, 4], dataFingerprint: '', modelFingerprint: '', history: [], adapter, optimizer: { steps: 2, m: {}, v: {} } });
}
