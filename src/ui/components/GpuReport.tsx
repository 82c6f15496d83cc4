// The adapter the engine Worker got: identity, the features our kernels care about, and the
// limits that bound model size and kernel shapes, in human units.
import type { AdapterReport } from '../../engine/gpu/device.js';
import { formatBytes, formatCount } from '../format.js';
import './GpuReport.css';

type LimitName = keyof AdapterReport['limits'];

const LIMITS: { name: LimitName; label: string; unit: 'bytes' | 'count' }[] = [
  { name: 'maxStorageBufferBindingSize', label: 'Storage buffer binding', unit: 'bytes' },
  { name: 'maxBufferSize', label: 'Buffer size', unit: 'bytes' },
  { name: 'maxComputeWorkgroupStorageSize', label: 'Workgroup shared memory', unit: 'bytes' },
  { name: 'maxComputeInvocationsPerWorkgroup', label: 'Invocations per workgroup', unit: 'count' },
  { name: 'maxComputeWorkgroupsPerDimension', label: 'Workgroups per dimension', unit: 'count' },
  { name: 'maxStorageBuffersPerShaderStage', label: 'Storage buffers per stage', unit: 'count' },
];

const FEATURES: { key: keyof AdapterReport['features']; name: string; why: string }[] = [
  { key: 'shaderF16', name: 'shader-f16', why: 'half-precision math in shaders' },
  { key: 'subgroups', name: 'subgroups', why: 'faster reductions' },
  { key: 'timestampQuery', name: 'timestamp-query', why: 'kernel timings' },
];

function YesNo({ value }: { value: boolean }) {
  return <span className={value ? 'badge badge-ok' : 'badge badge-neutral'}>{value ? 'Yes' : 'No'}</span>;
}

export function GpuReport({ report }: { report: AdapterReport }) {
  return (
    <div className="gpu-report">
      <section aria-labelledby="gpu-report-adapter">
        <h3 id="gpu-report-adapter" className="gpu-report-heading">
          Adapter
        </h3>
        <dl className="gpu-report-list">
          <div className="gpu-report-row">
            <dt>Vendor</dt>
            <dd data-testid="gpu-vendor">{report.vendor || '—'}</dd>
          </div>
          <div className="gpu-report-row">
            <dt>Architecture</dt>
            <dd data-testid="gpu-architecture">{report.architecture || '—'}</dd>
          </div>
          <div className="gpu-report-row">
            <dt>Description</dt>
            <dd data-testid="gpu-description">{report.description || '—'}</dd>
          </div>
          <div className="gpu-report-row">
            <dt>Type</dt>
            <dd data-testid="gpu-fallback" data-fallback={String(report.isFallbackAdapter)}>
              {report.isFallbackAdapter ? (
                <span className="badge badge-warn">Software fallback</span>
              ) : (
                <span className="badge badge-ok">Hardware</span>
              )}
            </dd>
          </div>
        </dl>
        {report.isFallbackAdapter && (
          <p className="gpu-report-note">A software adapter: every kernel runs correctly, but far too slowly to train.</p>
        )}
      </section>

      <section aria-labelledby="gpu-report-features">
        <h3 id="gpu-report-features" className="gpu-report-heading">
          Features
        </h3>
        <dl className="gpu-report-list">
          {FEATURES.map((f) => (
            <div key={f.key} className="gpu-report-row" data-testid={`gpu-feature-${f.name}`} data-value={String(report.features[f.key])}>
              <dt>
                <code>{f.name}</code> <span className="gpu-report-why">{f.why}</span>
              </dt>
              <dd>
                <YesNo value={report.features[f.key]} />
              </dd>
            </div>
          ))}
        </dl>
      </section>

      <section aria-labelledby="gpu-report-limits">
        <h3 id="gpu-report-limits" className="gpu-report-heading">
          Limits
        </h3>
        <dl className="gpu-report-list">
          {LIMITS.map((l) => {
            const value = report.limits[l.name];
            return (
              <div key={l.name} className="gpu-report-row" data-testid={`gpu-limit-${l.name}`} data-value={value}>
                <dt>
                  {l.label}
                  <code className="gpu-report-api">{l.name}</code>
                </dt>
                <dd className="gpu-report-number" title={`${formatCount(value)}${l.unit === 'bytes' ? ' bytes' : ''}`}>
                  {l.unit === 'bytes' ? formatBytes(value) : formatCount(value)}
                </dd>
              </div>
            );
          })}
        </dl>
      </section>
    </div>
  );
}
