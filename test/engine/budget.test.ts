// The GPU memory budget: the user's figure when set, else what the adapter allows (half the host's
// memory on a software adapter, twice the largest buffer on a hardware one); a device asked for
// lower limits reports and gets them; the run's refusal names where its budget came from; the
// adapter's report read without a device (the CLI's variant choice) gives the same budget.
import { describe, expect, it } from 'vitest';
import { memoryBudget } from '../../src/engine/gpu/budget.js';
import { acquireNodeGpu, nodeAdapterReport } from '../../src/engine/gpu/node-device.js';
import type { AdapterReport } from '../../src/engine/gpu/device.js';
import { settingFromText, settingToText } from '../../src/engine/methods/text.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { assertTrainingFits, estimateTrainingMemory } from '../../src/engine/training/memory.js';
import { tinyConfig } from '../transformer/fixtures.js';

const GiB = 1024 ** 3;
const limits = (maxBufferSize: number) => ({ maxBufferSize, maxStorageBufferBindingSize: maxBufferSize }) as AdapterReport['limits'];

describe('memory budget', () => {
  it('follows the adapter: twice the largest buffer on hardware, half the host on a software adapter', () => {
    expect(memoryBudget({ limits: limits(2 * GiB), isFallbackAdapter: false })).toEqual({ bytes: 4 * GiB, source: "twice the adapter's largest buffer (2 GiB)" });
    expect(memoryBudget({ limits: limits(4 * GiB), isFallbackAdapter: false, hostMemoryBytes: 16 * GiB }).bytes).toBe(8 * GiB);
    expect(memoryBudget({ limits: limits(GiB), isFallbackAdapter: true, hostMemoryBytes: 24 * GiB })).toEqual({ bytes: 12 * GiB, source: "half the host's memory (24 GiB), which a software adapter uses" });
    // A software adapter whose host memory is unknown: the buffer rule.
    expect(memoryBudget({ limits: limits(GiB), isFallbackAdapter: true }).bytes).toBe(2 * GiB);
  });

  it("the user's setting replaces it; none and auto mean the adapter's", () => {
    expect(memoryBudget({ limits: limits(2 * GiB), isFallbackAdapter: false }, 6 * GiB)).toEqual({ bytes: 6 * GiB, source: 'set by memory_budget_bytes' });
    expect(memoryBudget({ limits: limits(2 * GiB), isFallbackAdapter: false }, null).bytes).toBe(4 * GiB);
    expect(() => memoryBudget({ limits: limits(GiB), isFallbackAdapter: false }, -1)).toThrow(/positive/);
    expect(parseTrainingConfig({ method: 'dpo' }).memory_budget_bytes).toBeNull();
    expect(settingFromText('memory_budget_bytes', 'auto')).toBeNull();
    expect(settingFromText('memory_budget_bytes', '')).toBeNull();
    expect(settingFromText('memory_budget_bytes', '6GiB')).toBe(6 * GiB);
    expect(settingToText('memory_budget_bytes', 512 * 1024 ** 2)).toBe('512MiB');
    expect(() => settingFromText('memory_budget_bytes', 'lots')).toThrow(/size like 4GiB/);
  });

  it('a run past the budget is refused naming where the budget came from', () => {
    const e = estimateTrainingMemory(tinyConfig('llama-gqa'), 3 * GiB, 1000, 2, 64);
    const adapterBudget = memoryBudget({ limits: limits(GiB), isFallbackAdapter: false });
    expect(() => assertTrainingFits(e, adapterBudget, GiB)).toThrow(/budget of 2\.00 GiB \(twice the adapter's largest buffer \(1 GiB\)\): turn on gradient_checkpointing/);
    expect(() => assertTrainingFits(e, memoryBudget({ limits: limits(GiB), isFallbackAdapter: false }, 4 * GiB), GiB)).not.toThrow();
  });

  it('a device asked for lower limits has them, and its budget follows', { timeout: 60_000 }, async () => {
    const gpu = await acquireNodeGpu({ limits: { maxBufferSize: 256 * 1024 ** 2, maxStorageBufferBindingSize: 128 * 1024 ** 2 } });
    try {
      expect(gpu.device.limits.maxStorageBufferBindingSize).toBe(128 * 1024 ** 2);
      expect(gpu.report.limits.maxBufferSize).toBe(256 * 1024 ** 2);
      expect(gpu.report.hostMemoryBytes).toBeGreaterThan(0);
      const b = memoryBudget(gpu.report);
      expect(b.bytes).toBe(gpu.report.isFallbackAdapter ? Math.floor(gpu.report.hostMemoryBytes! / 2) : 512 * 1024 ** 2);
    } finally {
      gpu.destroy();
    }
    await expect(acquireNodeGpu({ limits: { maxStorageBufferBindingSize: 1024 } })).rejects.toThrow(/maxStorageBufferBindingSize = 1024 asked for, but it must lie between 134217728/);
  });

  it("the adapter's report without a device (the CLI's variant choice before its engine exists) gives the engine's budget", { timeout: 60_000 }, async () => {
    const probed = await nodeAdapterReport();
    const gpu = await acquireNodeGpu();
    try {
      expect(probed.limits).toEqual(gpu.report.limits);
      expect(probed.isFallbackAdapter).toBe(gpu.report.isFallbackAdapter);
      expect(memoryBudget(probed)).toEqual(memoryBudget(gpu.report));
      expect(memoryBudget(probed, 6 * GiB)).toEqual(memoryBudget(gpu.report, 6 * GiB));
    } finally {
      gpu.destroy();
    }
  });
});
