// The GPU service: one Worker for any number of callers, and how each failure is classified.
// Worker and comlink are faked: this runs in Node.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AdapterReport } from '../../src/engine/gpu/device.js';

const comlink = vi.hoisted(() => ({ init: vi.fn<() => Promise<unknown>>() }));
vi.mock('comlink', () => ({ wrap: () => ({ init: comlink.init }) }));

class FakeWorker extends EventTarget {
  static created: FakeWorker[] = [];
  constructor(
    readonly url: URL,
    readonly options: WorkerOptions,
  ) {
    super();
    FakeWorker.created.push(this);
  }
}

const REPORT = { vendor: 'v', architecture: 'a' } as AdapterReport;

async function freshService() {
  vi.resetModules();
  return import('../../src/services/gpu.js');
}

describe('probeGpu', () => {
  beforeEach(() => {
    FakeWorker.created = [];
    comlink.init.mockReset();
    vi.stubGlobal('Worker', FakeWorker);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it('creates one module Worker for every caller and reports the adapter', async () => {
    comlink.init.mockResolvedValue(REPORT);
    const { probeGpu } = await freshService();
    const [a, b] = await Promise.all([probeGpu(), probeGpu()]);
    expect(a).toEqual({ kind: 'ready', report: REPORT });
    expect(b).toBe(a);
    expect(await probeGpu()).toBe(a);
    expect(FakeWorker.created).toHaveLength(1);
    expect(comlink.init).toHaveBeenCalledTimes(1);
    expect(FakeWorker.created[0]!.options.type).toBe('module');
    expect(FakeWorker.created[0]!.url.pathname).toMatch(/src\/worker\/engine\.worker\.ts$/);
  });

  it('leaves no timer behind once the Worker has answered', async () => {
    vi.useFakeTimers();
    comlink.init.mockResolvedValue(REPORT);
    const { probeGpu } = await freshService();
    await probeGpu();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a GpuUnavailableError from the Worker means WebGPU is missing', async () => {
    comlink.init.mockRejectedValue(Object.assign(new Error('no adapter'), { name: 'GpuUnavailableError' }));
    const { probeGpu } = await freshService();
    expect(await probeGpu()).toEqual({ kind: 'unavailable', reason: 'no adapter', secureContext: true });
  });

  it('any other rejection is an error, not missing WebGPU', async () => {
    comlink.init.mockRejectedValue(new TypeError('boom'));
    const { probeGpu } = await freshService();
    expect(await probeGpu()).toEqual({ kind: 'error', reason: 'boom' });
  });

  it('a Worker that fails to load is an error', async () => {
    comlink.init.mockReturnValue(new Promise(() => {}));
    const { probeGpu } = await freshService();
    const result = probeGpu();
    const error = new Event('error') as Event & { message: string };
    error.message = 'Failed to load worker script';
    FakeWorker.created[0]!.dispatchEvent(error);
    expect(await result).toEqual({ kind: 'error', reason: 'Failed to load worker script' });
  });

  it('a Worker that never answers times out as an error', async () => {
    vi.useFakeTimers();
    comlink.init.mockReturnValue(new Promise(() => {}));
    const { probeGpu } = await freshService();
    const result = probeGpu();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(await result).toMatchObject({ kind: 'error', reason: expect.stringMatching(/did not answer within 30 s/) });
  });
});
