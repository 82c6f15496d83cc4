// The GPU panel: what the engine Worker reports, or why there is no GPU.
import { useGpuStore } from '../../stores/gpu.js';
import { GpuReport } from './GpuReport.js';
import { KernelTuning } from './KernelTuning.js';
import { CloseIcon } from './Icons.js';
import { WebGpuHelp } from './WebGpuHelp.js';
import './GpuPanel.css';

export const GPU_PANEL_ID = 'gpu-panel';

export function GpuPanel({ onClose }: { onClose: () => void }) {
  const status = useGpuStore((s) => s.status);
  const report = useGpuStore((s) => s.report);
  const problem = useGpuStore((s) => s.problem);
  const secureContext = useGpuStore((s) => s.secureContext);

  return (
    <section
      id={GPU_PANEL_ID}
      className="gpu-panel"
      data-testid="gpu-panel"
      data-state={status}
      aria-labelledby="gpu-panel-title"
      aria-busy={status === 'probing' || status === 'idle'}
    >
      <header className="gpu-panel-header">
        <h2 id="gpu-panel-title" className="gpu-panel-title">
          GPU
        </h2>
        <button type="button" className="icon-button" onClick={onClose} aria-label="Close GPU panel">
          <CloseIcon width={16} height={16} />
        </button>
      </header>
      <div className="gpu-panel-body">
        {(status === 'idle' || status === 'probing') && (
          <p className="gpu-panel-message">
            <span className="spinner" aria-hidden="true" /> Starting the engine and asking for a GPU adapter…
          </p>
        )}
        {status === 'ready' && report && (
          <>
            <GpuReport report={report} />
            <KernelTuning />
          </>
        )}
        {status === 'unavailable' && (
          <>
            <p className="gpu-panel-message gpu-panel-message-strong">WebGPU is not available in this browser.</p>
            <WebGpuHelp reason={problem} secureContext={secureContext} />
          </>
        )}
        {status === 'error' && (
          <>
            <p className="gpu-panel-message gpu-panel-message-strong">The GPU engine failed to start.</p>
            <p className="gpu-panel-message">{problem}</p>
            <p className="gpu-panel-message">Reload the page to try again.</p>
          </>
        )}
      </div>
    </section>
  );
}
