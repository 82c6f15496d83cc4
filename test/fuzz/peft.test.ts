// Fuzz pass over the PEFT adapter reader (adapter_config.json + adapter_model.safetensors, as the
// CLI's --adapter and checkpoint resume read them): truncated and corrupted safetensors (header
// size, header JSON, dtypes, shapes, data offsets) and hostile adapter_config.json values. Every
// input must either read (each tensor's values match its shape) or be refused with an Error whose
// message starts with the file name; never a raw TypeError/RangeError or a hang. The inputs run in
// a worker (peft.plan.ts) so that a synchronous hang is reported too.
import { afterAll, describe, expect, it } from 'vitest';
import { FuzzLog, fuzzCount, fuzzInWorkers, stopFuzzWorkers } from '../support/fuzz.js';

const LIMIT_MS = 5000;

afterAll(stopFuzzWorkers);

describe('fuzz: PEFT adapter reader', () => {
  it('mutated adapter_model.safetensors and adapter_config.json read whole or are refused naming the file', { timeout: 600_000 }, async () => {
    const n = fuzzCount(1500);
    const log = new FuzzLog('PEFT adapter (readSafetensors, parseAdapterConfig)');
    await fuzzInWorkers({ module: new URL('./peft.plan.ts', import.meta.url), plan: 'peftPlan', seed: 0x9ef7, n, limitMs: LIMIT_MS, log });
    console.log(log.summary());
    expect(log.bugs, log.report()).toEqual([]);
    expect(log.tried).toBe(n);
    expect(log.accepted).toBeGreaterThan(0);
    expect(log.refused).toBeGreaterThan(0);
  });
});
