// Says plainly, on every page, that there is no WebGPU and how to get it; the app stays usable
// for everything that does not need the GPU.
import { useGpuStore } from '../../stores/gpu.js';
import { WarningIcon } from './Icons.js';
import { WebGpuHelp } from './WebGpuHelp.js';
import './GpuMissingBanner.css';

export function GpuMissingBanner() {
  const status = useGpuStore((s) => s.status);
  const problem = useGpuStore((s) => s.problem);
  const secureContext = useGpuStore((s) => s.secureContext);

  if (status !== 'unavailable' && status !== 'error') return null;
  const missing = status === 'unavailable';

  return (
    <section className="gpu-missing" data-testid="gpu-missing" data-state={status} role="alert" aria-labelledby="gpu-missing-title">
      <div className="gpu-missing-icon">
        <WarningIcon width={22} height={22} />
      </div>
      <div className="gpu-missing-body">
        <h2 id="gpu-missing-title" className="gpu-missing-title">
          {missing ? 'WebGPU is not available' : 'The GPU engine failed to start'}
        </h2>
        <p className="gpu-missing-text">
          {missing
            ? 'PrefStudio trains and evaluates models on your GPU through WebGPU, and this browser does not offer it. You can still look around and prepare data.'
            : 'Something went wrong while starting the engine. Reload the page to try again.'}
        </p>
        {missing ? <WebGpuHelp reason={problem} secureContext={secureContext} /> : <p className="gpu-missing-reason">{problem}</p>}
      </div>
    </section>
  );
}
