// The GPU store's kernel section (issue 16): loading the Worker's kernel choices, measuring
// again, forcing a variant (keeping the other kernels' settings, clearing with ''), errors shown.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { KernelTuningReport } from '../../src/worker/tuning.js';

const service = vi.hoisted(() => ({
  probeGpu: vi.fn(),
  kernelTuning: vi.fn<() => Promise<KernelTuningReport>>(),
  tuneKernels: vi.fn<() => Promise<KernelTuningReport>>(),
  forceKernelVariants: vi.fn<(text: string) => Promise<KernelTuningReport>>(),
}));
vi.mock('../../src/services/gpu.js', () => service);

const { useGpuStore } = await import('../../src/stores/gpu.js');
const initial = useGpuStore.getState();

const report = (over: Partial<KernelTuningReport> = {}): KernelTuningReport => ({
  state: 'measured', note: 'measured in 2.0 s', progress: [], forced: {},
  choices: [{ kernel: 'matmul_forward', shapeClass: 'm256:576x1536', variant: 'tiled8', why: 'fastest of 2 measured', measured: { safe: 2, tiled8: 1 } }],
  variants: [{ kernel: 'matmul_forward', name: 'safe', about: '', whyNot: null }, { kernel: 'matmul_forward', name: 'tiled8', about: '', whyNot: null }],
  ...over,
});

describe('useGpuStore kernel tuning', () => {
  beforeEach(() => {
    useGpuStore.setState({ ...initial, status: 'ready' }, true);
    for (const f of [service.kernelTuning, service.tuneKernels, service.forceKernelVariants]) f.mockReset();
  });

  it('loads the choices only once the GPU is ready', async () => {
    service.kernelTuning.mockResolvedValue(report());
    useGpuStore.setState({ status: 'probing' });
    await useGpuStore.getState().loadTuning();
    expect(service.kernelTuning).not.toHaveBeenCalled();
    useGpuStore.setState({ status: 'ready' });
    await useGpuStore.getState().loadTuning();
    expect(useGpuStore.getState().tuning?.choices[0]?.variant).toBe('tiled8');
  });

  it('measures again, busy meanwhile; a failure is kept as the error', async () => {
    let answer!: (r: KernelTuningReport) => void;
    service.tuneKernels.mockReturnValue(new Promise((r) => (answer = r)));
    const done = useGpuStore.getState().tuneNow();
    expect(useGpuStore.getState().tuningBusy).toBe(true);
    answer(report({ state: 'cached', note: 'from the cache' }));
    await done;
    expect(useGpuStore.getState()).toMatchObject({ tuningBusy: false, tuning: { state: 'cached' } });
    service.tuneKernels.mockRejectedValue(new Error('device lost'));
    await useGpuStore.getState().tuneNow();
    expect(useGpuStore.getState().tuningError).toBe('device lost');
  });

  it('forces one kernel, keeps the others, clears with automatic', async () => {
    useGpuStore.setState({ tuning: report({ forced: { matmul_dinp: 'safe' } }) });
    service.forceKernelVariants.mockImplementation(async (text) => report({ forced: Object.fromEntries(text.split(',').filter(Boolean).map((p) => p.split('='))) }));
    await useGpuStore.getState().forceVariant('matmul_forward', 'tiled8');
    expect(service.forceKernelVariants).toHaveBeenLastCalledWith('matmul_dinp=safe,matmul_forward=tiled8');
    await useGpuStore.getState().forceVariant('matmul_dinp', '');
    expect(service.forceKernelVariants).toHaveBeenLastCalledWith('matmul_forward=tiled8');
    service.forceKernelVariants.mockRejectedValue(new Error('variant "f16" of matmul_forward needs shader-f16; this adapter lacks it'));
    await useGpuStore.getState().forceVariant('matmul_forward', 'f16');
    expect(useGpuStore.getState().tuningError).toMatch(/needs shader-f16/);
  });
});
