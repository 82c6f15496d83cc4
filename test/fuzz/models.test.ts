// Fuzz pass over the model importer (loadModel on an in-memory folder): truncated and bit-flipped
// .onnx files, protobuf tags and lengths corrupted in the graph structure, tensors and external
// data entries rewritten (offsets and lengths past the end, negative, not numbers, paths out of
// the folder), damaged external data files, and config / tokenizer JSON with hostile values.
// Every input must either load a model whose weights are all there at their stated sizes, or be
// refused with a ModelLoadError whose message names the file; never a raw TypeError/RangeError,
// a stack overflow or a hang. The inputs run in a worker (models.plan.ts) so that a synchronous
// hang is reported too. PREFSTUDIO_FUZZ_N=<n> sets the number of inputs.
import { afterAll, describe, expect, it } from 'vitest';
import { FuzzLog, fuzzCount, fuzzInWorkers, stopFuzzWorkers } from '../support/fuzz.js';

const LIMIT_MS = 10_000;

afterAll(stopFuzzWorkers);

describe('fuzz: model loader', () => {
  it('mutated model folders load whole or are refused with a ModelLoadError naming the file', { timeout: 600_000 }, async () => {
    const n = fuzzCount(1000);
    const log = new FuzzLog('models (loadModel)');
    await fuzzInWorkers({ module: new URL('./models.plan.ts', import.meta.url), plan: 'modelPlan', seed: 0x0_4e1_5eed, n, limitMs: LIMIT_MS, log });
    console.log(log.summary());
    expect(log.bugs, log.report()).toEqual([]);
    expect(log.tried).toBe(n);
    expect(log.accepted).toBeGreaterThan(0);
    expect(log.refused).toBeGreaterThan(0);
  });
});
