// The GPU store's states for each answer of the GPU service (the Worker needs a browser).
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { AdapterReport } from '../../src/engine/gpu/device.js';
import type { GpuProbe } from '../../src/services/gpu.js';

const service = vi.hoisted(() => ({ probeGpu: vi.fn<() => Promise<GpuProbe>>() }));
vi.mock('../../src/services/gpu.js', () => service);

const { useGpuStore } = await import('../../src/stores/gpu.js');

const REPORT: AdapterReport = {
  vendor: 'google',
  architecture: 'swiftshader',
  description: '',
  isFallbackAdapter: true,
  features: { shaderF16: false, subgroups: true, timestampQuery: true },
  limits: {
    maxStorageBufferBindingSize: 2 ** 30,
    maxBufferSize: 2 ** 30,
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupsPerDimension: 65535,
    maxStorageBuffersPerShaderStage: 8,
  },
};

const initial = useGpuStore.getState();

describe('useGpuStore', () => {
  beforeEach(() => {
    useGpuStore.setState(initial, true);
    service.probeGpu.mockReset();
  });

  it('probing then ready with the report', async () => {
    let answer!: (probe: GpuProbe) => void;
    service.probeGpu.mockReturnValue(new Promise((resolve) => (answer = resolve)));
    const done = useGpuStore.getState().probe();
    expect(useGpuStore.getState().status).toBe('probing');
    answer({ kind: 'ready', report: REPORT });
    await done;
    expect(useGpuStore.getState()).toMatchObject({ status: 'ready', report: REPORT, problem: null });
  });

  it('probes once however often it is asked (StrictMode runs effects twice)', async () => {
    service.probeGpu.mockResolvedValue({ kind: 'ready', report: REPORT });
    await Promise.all([useGpuStore.getState().probe(), useGpuStore.getState().probe()]);
    await useGpuStore.getState().probe();
    expect(service.probeGpu).toHaveBeenCalledTimes(1);
  });

  it('unavailable keeps the reason and the secure-context flag', async () => {
    service.probeGpu.mockResolvedValue({ kind: 'unavailable', reason: 'no adapter', secureContext: false });
    await useGpuStore.getState().probe();
    expect(useGpuStore.getState()).toMatchObject({
      status: 'unavailable',
      report: null,
      problem: 'no adapter',
      secureContext: false,
    });
  });

  it('error keeps what broke', async () => {
    service.probeGpu.mockResolvedValue({ kind: 'error', reason: 'worker failed to load' });
    await useGpuStore.getState().probe();
    expect(useGpuStore.getState()).toMatchObject({ status: 'error', problem: 'worker failed to load' });
  });

  it('the panel opens, closes and toggles', () => {
    const { setPanelOpen, togglePanel } = useGpuStore.getState();
    expect(useGpuStore.getState().panelOpen).toBe(false);
    togglePanel();
    expect(useGpuStore.getState().panelOpen).toBe(true);
    setPanelOpen(false);
    expect(useGpuStore.getState().panelOpen).toBe(false);
  });
});
