// The two sides of a logits comparison on one loaded file: our engine and onnxruntime-web's wasm
// EP (the reference), each released after its run.
import * as ort from 'onnxruntime-web';
import { testEngine } from '#test-engine';
import type { LoadedModel } from '../../src/engine/model/load.js';
import { referenceLogits, referenceSession } from '../../src/engine/model/ort-reference.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import type { paddedBatch } from './helpers.js';

type Batch = ReturnType<typeof paddedBatch>;

/** Our logits (B, T, V); `check` sees the model before it runs (its weights as uploaded). */
export async function ourLogits(loaded: LoadedModel, b: Batch, check?: (m: TransformerModel) => void): Promise<Float32Array> {
  const model = TransformerModel.create(await testEngine(), loaded.config, loaded.transformerWeights());
  try {
    check?.(model);
    return await model.logits(b);
  } finally {
    model.destroy();
  }
}

/** onnxruntime-web's logits for the same rows, from the same file. */
export async function ortLogits(loaded: LoadedModel, b: Batch): Promise<Float32Array> {
  const session = await referenceSession(ort, loaded);
  try {
    return await referenceLogits(ort, session, loaded, b);
  } finally {
    await session.release();
  }
}
