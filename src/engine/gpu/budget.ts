// How much GPU memory a run may use: the one place the studio and the CLI get their budget from.
//
// WebGPU does not say how much memory a device has. What an adapter does say:
//   - a software (fallback) adapter keeps its buffers in the host's memory: the budget is half of
//     what the host has (Node: os.totalmem(); a browser: navigator.deviceMemory, which Chrome
//     rounds and caps at 8 GiB), or, where that is unknown, twice the largest buffer;
//   - a hardware adapter's largest buffer (maxBufferSize) is at most what the device can hold and
//     browsers report it in tiers well below the device's memory (1, 2, 4 GiB on integrated and
//     discrete GPUs): the budget is twice it, so 4 GiB where a GPU allows 2 GiB buffers and
//     8 GiB where it allows 4 GiB.
// The user's setting (memory_budget_bytes, the Train page's field, --memory-budget) replaces it.

import type { AdapterReport } from './device.js';

export interface MemoryBudget {
  bytes: number;
  /** Where the figure comes from, in words ("set by memory_budget_bytes", "twice the adapter's largest buffer (2 GiB)"). */
  source: string;
}

const GiB = 1024 ** 3;

function size(n: number): string {
  return n % GiB === 0 ? `${n / GiB} GiB` : n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
}

/** The budget of a device: the user's figure when set (a positive number), else what its adapter allows. */
export function memoryBudget(report: Pick<AdapterReport, 'limits' | 'isFallbackAdapter' | 'hostMemoryBytes'>, configured?: number | null): MemoryBudget {
  if (configured !== undefined && configured !== null) {
    if (!(Number.isFinite(configured) && configured > 0)) throw new Error(`memory_budget_bytes must be a positive number of bytes, got ${configured}`);
    return { bytes: configured, source: 'set by memory_budget_bytes' };
  }
  const largest = report.limits.maxBufferSize;
  const host = report.hostMemoryBytes;
  if (report.isFallbackAdapter && host !== undefined && host > 0) {
    return { bytes: Math.floor(host / 2), source: `half the host's memory (${size(host)}), which a software adapter uses` };
  }
  return { bytes: 2 * largest, source: `twice the adapter's largest buffer (${size(largest)})` };
}
