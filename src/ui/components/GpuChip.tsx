// The header's GPU status chip; it opens the GPU panel beneath it.
import { useEffect, useRef } from 'react';
import { useGpuStore, type GpuStatus } from '../../stores/gpu.js';
import { ChevronDownIcon, ChipIcon } from './Icons.js';
import { GpuPanel, GPU_PANEL_ID } from './GpuPanel.js';
import './GpuChip.css';

function chipLabel(status: GpuStatus, vendor: string, architecture: string): string {
  switch (status) {
    case 'idle':
    case 'probing':
      return 'Checking GPU…';
    case 'ready':
      return architecture || vendor || 'WebGPU ready';
    case 'unavailable':
      return 'No WebGPU';
    case 'error':
      return 'GPU error';
  }
}

export function GpuChip() {
  const status = useGpuStore((s) => s.status);
  const report = useGpuStore((s) => s.report);
  const panelOpen = useGpuStore((s) => s.panelOpen);
  const setPanelOpen = useGpuStore((s) => s.setPanelOpen);
  const togglePanel = useGpuStore((s) => s.togglePanel);
  const rootRef = useRef<HTMLDivElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);

  // Close on Escape (focus back to the chip) and on a click outside.
  useEffect(() => {
    if (!panelOpen) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') {
        setPanelOpen(false);
        buttonRef.current?.focus();
      }
    };
    const onPointer = (event: PointerEvent) => {
      if (rootRef.current && !rootRef.current.contains(event.target as Node)) setPanelOpen(false);
    };
    document.addEventListener('keydown', onKey);
    document.addEventListener('pointerdown', onPointer);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointerdown', onPointer);
    };
  }, [panelOpen, setPanelOpen]);

  const tone = status === 'ready' ? (report?.isFallbackAdapter ? 'warn' : 'ok') : status === 'unavailable' || status === 'error' ? 'bad' : 'busy';
  const label = chipLabel(status, report?.vendor ?? '', report?.architecture ?? '');

  return (
    <div className="gpu-chip-root" ref={rootRef}>
      <button
        ref={buttonRef}
        type="button"
        className={`gpu-chip gpu-chip-${tone}`}
        data-testid="gpu-chip"
        data-state={status}
        aria-expanded={panelOpen}
        aria-controls={panelOpen ? GPU_PANEL_ID : undefined}
        aria-label={`GPU: ${label}. ${panelOpen ? 'Hide' : 'Show'} details`}
        onClick={togglePanel}
      >
        <ChipIcon width={16} height={16} />
        <span className="gpu-chip-dot" aria-hidden="true" />
        <span className="gpu-chip-label">{label}</span>
        {status === 'ready' && report?.isFallbackAdapter && <span className="gpu-chip-tag">software</span>}
        <ChevronDownIcon width={14} height={14} className="gpu-chip-chevron" />
      </button>
      {panelOpen && (
        <div className="gpu-popover">
          <GpuPanel
            onClose={() => {
              setPanelOpen(false);
              buttonRef.current?.focus();
            }}
          />
        </div>
      )}
    </div>
  );
}
