// A one-line GPU status for the Models page, with the way into the full GPU panel.
import { useGpuStore } from '../../stores/gpu.js';
import { formatBytes } from '../format.js';
import { ChipIcon } from './Icons.js';
import './GpuSummary.css';

export function GpuSummary() {
  const status = useGpuStore((s) => s.status);
  const report = useGpuStore((s) => s.report);
  const setPanelOpen = useGpuStore((s) => s.setPanelOpen);

  let text: string;
  if (status === 'ready' && report) {
    const name = [report.vendor, report.architecture].filter(Boolean).join(' ') || 'A WebGPU adapter';
    text = `${name}${report.isFallbackAdapter ? ' (software)' : ''}: up to ${formatBytes(
      report.limits.maxStorageBufferBindingSize,
    )} per buffer binding, ${report.features.shaderF16 ? 'with' : 'without'} shader-f16.`;
  } else if (status === 'unavailable') {
    text = 'No WebGPU in this browser: you can look around, but training needs a GPU.';
  } else if (status === 'error') {
    text = 'The GPU engine failed to start.';
  } else {
    text = 'Looking for a GPU…';
  }

  return (
    <div className="gpu-summary" data-testid="gpu-summary" data-state={status}>
      <span className="gpu-summary-icon">
        <ChipIcon />
      </span>
      <p className="gpu-summary-text">
        <strong>Your GPU.</strong> {text}
      </p>
      <button
        type="button"
        className="button button-secondary"
        onClick={() => setPanelOpen(true)}
      >
        GPU details
      </button>
    </div>
  );
}
