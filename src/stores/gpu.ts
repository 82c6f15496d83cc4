// What the engine Worker found: the GPU adapter, or why there is none. The header's GPU chip and
// panel read this; `probe` is the one action that starts the Worker.
import { create } from 'zustand';
import type { AdapterReport } from '../engine/gpu/device.js';
import { probeGpu } from '../services/gpu.js';

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
