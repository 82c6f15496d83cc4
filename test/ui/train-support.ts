// Helpers of the tests that run the engine Worker's modules in-process (train store, evaluation):
// the demo model as the Worker holds it, a GPU job queue, the workspace functions they use and a
// checkpoint's adapter.
import { readFile } from 'node:fs/promises';
import { importAll } from '../../src/data/import/pipeline.js';
import { bytesSource } from '../../src/data/io/source.js';
import type { PrefRecord } from '../../src/data/records.js';
import type { CheckpointRow } from '../../src/db/index.js';
import type { Engine } from '../../src/engine/gpu/engine.js';
import { loadModel } from '../../src/engine/model/load.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { decodeCheckpoint } from '../../src/engine/training/trainer.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import type { TrainModel } from '../../src/worker/train.js';
export { addRecords, createDataset, latestCheckpoint, openWorkspace, type PrefDb } from '../../src/db/index.js';

export function decodeCheckpointOf(row: CheckpointRow | undefined): Record<string, Float32Array> {
  if (!row) throw new Error('no checkpoint');
  return decodeCheckpoint(row.bytes).adapter;
}

const ROOT = new URL('../../', import.meta.url).pathname;
export const DEMO_MODEL_DIR = `${ROOT}public/models/demo-fortunes`;
export const DEMO_DATA = `${ROOT}public/datasets/demo-fortunes-positive.jsonl`;

/** The demo model on `engine` as the Worker's modules see it, and the demo dataset's records. */
export async function loadDemo(engine: Engine): Promise<{ model: TrainModel; records: PrefRecord[] }> {
  const loaded = await loadModel(nodeDirSource(DEMO_MODEL_DIR));
  const tm = TransformerModel.create(engine, loaded.config, loaded.transformerWeights());
  const model = { id: 'demo', name: 'demo-fortunes', model: tm, tokenizer: loaded.tokenizer, weightBytes: engine.pool.stats.bytesAllocated, fingerprint: 'demo-fp' };
  const imported = await importAll(bytesSource('demo.jsonl', new Uint8Array(await readFile(DEMO_DATA))));
  return { model, records: imported.records };
}

/** The first `train` training and `test` held-out records. */
export function demoSlice(records: readonly PrefRecord[], train: number, test: number): PrefRecord[] {
  return [...records.filter((r) => r.split === 'train').slice(0, train), ...records.filter((r) => r.split === 'test').slice(0, test)];
}

/** A withGpu for `engine` that runs jobs one after another, as the Worker's GPU lock does. */
export function gpuQueue(engine: Engine): <T>(job: (e: Engine) => Promise<T>) => Promise<T> {
  let queue: Promise<unknown> = Promise.resolve();
  return <T>(job: (e: Engine) => Promise<T>): Promise<T> => {
    const run = queue.then(() => job(engine));
    queue = run.catch(() => {});
    return run;
  };
}
