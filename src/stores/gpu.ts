// What the engine Worker found: the GPU adapter, or why there is none. The header's GPU chip and
// panel read this; `probe` is the one action that starts the Worker.
import { create } from 'zustand';
import type { AdapterReport } from '../engine/gpu/device.js';
import { forceKernelVariants, kernelTuning, probeGpu, tuneKernels } from '../services/gpu.js';
import type { KernelTuningReport } from '../worker/tuning.js';

export type GpuStatus = 'idle' | 'probing' | 'ready' | 'unavailable' | 'error';

interface GpuState {
  status: GpuStatus;
  /** The adapter, when status is 'ready'. */
  report: AdapterReport | null;
  /** Why there is no GPU ('unavailable') or what broke ('error'). */
  problem: string | null;
  /** False when the page is not a secure context (plain http on a remote host): no WebGPU there. */
  secureContext: boolean;
  panelOpen: boolean;
  /** The kernel variants chosen on this adapter and why (issue 16); null until loaded. */
  tuning: KernelTuningReport | null;
  tuningBusy: boolean;
  tuningError: string | null;
  /** Reads the Worker's kernel choices (the panel calls it when it opens). */
  loadTuning(): Promise<void>;
  /** Measures the variants again for the active model. */
  tuneNow(): Promise<void>;
  /** Forces one kernel's variant ('' = automatic), keeping the other kernels' settings. */
  forceVariant(kernel: string, variant: string): Promise<void>;
  /** Starts the engine Worker and asks for its adapter; later calls are no-ops. */
  probe(): Promise<void>;
  setPanelOpen(open: boolean): void;
  togglePanel(): void;
}

export const useGpuStore = create<GpuState>()((set, get) => ({
  status: 'idle',
  report: null,
  problem: null,
  secureContext: true,
  panelOpen: false,
  tuning: null,
  tuningBusy: false,
  tuningError: null,

  async loadTuning() {
    if (get().status !== 'ready') return;
    try {
      set({ tuning: await kernelTuning(), tuningError: null });
    } catch (e) {
      set({ tuningError: (e as Error).message });
    }
  },

  async tuneNow() {
    if (get().tuningBusy) return;
    set({ tuningBusy: true, tuningError: null });
    try {
      set({ tuning: await tuneKernels() });
    } catch (e) {
      set({ tuningError: (e as Error).message });
    } finally {
      set({ tuningBusy: false });
    }
  },

  async forceVariant(kernel, variant) {
    const forced = { ...(get().tuning?.forced ?? {}) } as Record<string, string>;
    if (variant) forced[kernel] = variant;
    else delete forced[kernel];
    try {
      set({ tuning: await forceKernelVariants(Object.entries(forced).map(([k, v]) => `${k}=${v}`).join(',')), tuningError: null });
    } catch (e) {
      set({ tuningError: (e as Error).message });
    }
  },

  async probe() {
    if (get().status !== 'idle') return;
    set({ status: 'probing' });
    const result = await probeGpu();
    switch (result.kind) {
      case 'ready':
        set({ status: 'ready', report: result.report, problem: null });
        break;
      case 'unavailable':
        set({ status: 'unavailable', report: null, problem: result.reason, secureContext: result.secureContext });
        break;
      case 'error':
        set({ status: 'error', report: null, problem: result.reason });
        break;
    }
  },

  setPanelOpen(open) {
    set({ panelOpen: open });
  },

  togglePanel() {
    set({ panelOpen: !get().panelOpen });
  },
}));
