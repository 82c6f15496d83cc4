// onnxruntime-web as the reference a forward pass of ours must match: it runs the very file we
// loaded. The ort module is passed in (never imported here), so the engine bundle carries none of
// it unless a caller does: `referenceSession(await import('onnxruntime-web'), model)`.
//
// Feeds are made from the graph's own inputs: input_ids / attention_mask / position_ids in the
// integer type the graph declares, and every past key/value input (past_key_values.N.key,
// past_N, ...) as an empty cache (past length 0) of its declared dtype and fixed dims.

import type * as Ort from 'onnxruntime-web';
import type { LoadedModel } from './load.js';
import type { ValueInfo } from './onnx.js';
import { fromF16Array } from '../f16.js';

export type OrtModule = typeof Ort;

export interface ReferenceBatch {
  B: number;
  T: number;
  /** (B, T) token ids. */
  ids: ArrayLike<number>;
  /** (B, T) 1 = real token, 0 = padding; default all ones. */
  mask?: ArrayLike<number> | null;
  /** (B, T) positions; default t in every row (right padding). */
  positions?: ArrayLike<number>;
}

export async function referenceSession(ort: OrtModule, model: LoadedModel, options: Ort.InferenceSession.SessionOptions = {}): Promise<Ort.InferenceSession> {
  if (!model.weightsLoaded) await model.readWeights();
  return ort.InferenceSession.create(model.onnx.modelBytes, {
    executionProviders: ['wasm'],
    externalData: model.externalData(),
    ...options,
  });
}

function intTensor(ort: OrtModule, info: ValueInfo, values: ArrayLike<number>, dims: number[]): Ort.Tensor {
  if (info.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(v))), dims);
  if (info.dtype === 'int32') return new ort.Tensor('int32', Int32Array.from(values), dims);
  throw new Error(`reference: input ${info.name} is ${info.dtype}, expected int32 or int64`);
}

/** The feeds of one batch (ids, mask, positions, empty past), in the graph's own input types. */
export function referenceFeeds(ort: OrtModule, model: LoadedModel, batch: ReferenceBatch): Record<string, Ort.Tensor> {
  const { B, T } = batch;
  const mask = batch.mask ?? new Array<number>(B * T).fill(1);
  const positions = batch.positions ?? Array.from({ length: B * T }, (_, i) => i % T);
  const feeds: Record<string, Ort.Tensor> = {};
  for (const info of model.onnx.inputs) {
    const n = info.name;
    if (/input_ids/.test(n)) feeds[n] = intTensor(ort, info, batch.ids, [B, T]);
    else if (/attention_mask/.test(n)) feeds[n] = intTensor(ort, info, mask, [B, T]);
    else if (/position_ids/.test(n)) feeds[n] = intTensor(ort, info, positions, [B, T]);
    else if (/^past/.test(n)) {
      // An empty cache: batch dims → B, the past-length dim → 0, fixed dims as declared.
      const dims = (info.shape ?? []).map((d) => (typeof d === 'number' ? d : d && /batch/.test(d) ? B : 0));
      feeds[n] = info.dtype === 'float16'
        ? new ort.Tensor('float16', new Uint16Array(0), dims)
        : new ort.Tensor('float32', new Float32Array(0), dims);
    } else throw new Error(`reference: do not know what to feed the graph input "${n}"`);
  }
  return feeds;
}

/** (B, T, V) logits from onnxruntime for one batch. */
export async function referenceLogits(ort: OrtModule, session: Ort.InferenceSession, model: LoadedModel, batch: ReferenceBatch): Promise<Float32Array> {
  const { B, T } = batch;
  const feeds = referenceFeeds(ort, model, batch);
  const logitsName = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!;
  const out = await session.run(feeds, [logitsName]);
  const t = out[logitsName]!;
  const data = t.type === 'float16' ? fromF16Array(t.data as Uint16Array) : (t.data as Float32Array);
  const V = model.config.vocabSize;
  if (data.length !== B * T * V) throw new Error(`reference: logits have ${data.length} values, expected (${B}, ${T}, ${V})`);
  return Float32Array.from(data);
}
