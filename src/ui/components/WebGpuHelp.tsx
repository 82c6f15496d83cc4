// What to do when the browser gives us no WebGPU: which browsers have it, the Linux flag, and
// the secure-context rule. Shown in the banner and in the GPU panel.
import './WebGpuHelp.css';

interface WebGpuHelpProps {
  /** The engine's own explanation (no navigator.gpu, no adapter, limits too small). */
  reason: string | null;
  secureContext: boolean;
}

export function WebGpuHelp({ reason, secureContext }: WebGpuHelpProps) {
  return (
    <div className="webgpu-help">
      {reason && <p className="webgpu-help-reason">{reason}</p>}
      <h3 className="webgpu-help-title">How to get WebGPU</h3>
      <ol className="webgpu-help-steps">
        {!secureContext && (
          <li className="webgpu-help-urgent">
            This page is not a secure context, and browsers only offer WebGPU to secure pages. Open PrefStudio over{' '}
            <code>https://</code> or from <code>http://localhost</code> / <code>http://127.0.0.1</code>.
          </li>
        )}
        <li>
          Use a browser with WebGPU: <strong>Chrome or Edge 113+</strong> (Windows, macOS, ChromeOS; Android 12+ with
          Chrome 121+), <strong>Safari 26+</strong>, or <strong>Firefox 141+</strong> on Windows.
        </li>
        <li>
          On <strong>Linux</strong>, Chrome and Chromium keep WebGPU behind a flag: open{' '}
          <code>chrome://flags/#enable-unsafe-webgpu</code>, set it to <em>Enabled</em> and relaunch, or start the
          browser with <code>--enable-unsafe-webgpu</code> (add <code>--enable-features=Vulkan</code> if no adapter is
          found).
        </li>
        {secureContext && (
          <li>
            Serve the page over <code>https://</code> or from <code>localhost</code> / <code>127.0.0.1</code>: WebGPU
            only exists in secure contexts.
          </li>
        )}
        <li>
          Keep hardware acceleration on (<code>chrome://settings/system</code>); <code>chrome://gpu</code> should list{' '}
          <em>WebGPU: Hardware accelerated</em>.
        </li>
      </ol>
    </div>
  );
}
