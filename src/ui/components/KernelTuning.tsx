// The GPU panel's kernel section (issue 16): which variant of each tuned kernel the engine uses
// on this adapter, per shape class, and why (measured times, from the cache, forced, or the safe
// kernel on a software adapter); a button to measure again; a setting that forces a variant.
import { useEffect } from 'react';
import { useGpuStore } from '../../stores/gpu.js';

export function KernelTuning() {
  const tuning = useGpuStore((s) => s.tuning);
  const busy = useGpuStore((s) => s.tuningBusy);
  const error = useGpuStore((s) => s.tuningError);
  const loadTuning = useGpuStore((s) => s.loadTuning);
  const tuneNow = useGpuStore((s) => s.tuneNow);
  const forceVariant = useGpuStore((s) => s.forceVariant);

  useEffect(() => {
    void loadTuning();
  }, [loadTuning]);

  const kernels = [...new Set((tuning?.variants ?? []).map((v) => v.kernel))];
  return (
    <section aria-labelledby="gpu-kernels-heading" data-testid="gpu-kernels" data-state={tuning?.state ?? 'loading'}>
      <h3 id="gpu-kernels-heading" className="gpu-report-heading">
        Kernels
      </h3>
      <p className="gpu-report-note" data-testid="gpu-kernels-note">
        {tuning ? tuning.note : 'Reading the kernel choices…'}
      </p>
      {tuning && tuning.choices.length > 0 && (
        <dl className="gpu-report-list">
          {tuning.choices.map((c) => (
            <div key={`${c.kernel}|${c.shapeClass}`} className="gpu-report-row" data-testid={`gpu-kernel-choice-${c.kernel}-${c.shapeClass}`} data-variant={c.variant}>
              <dt>
                <code>{c.kernel}</code> <span className="gpu-report-why">{c.shapeClass}</span>
                <div className="gpu-report-why">{c.why}</div>
              </dt>
              <dd>{c.variant}</dd>
            </div>
          ))}
        </dl>
      )}
      {tuning && (
        <dl className="gpu-report-list">
          {kernels.map((k) => (
            <div key={k} className="gpu-report-row">
              <dt>
                Force <code>{k}</code>
              </dt>
              <dd>
                <select
                  aria-label={`Force a variant of ${k}`}
                  data-testid={`gpu-kernel-force-${k}`}
                  value={tuning.forced[k as keyof typeof tuning.forced] ?? ''}
                  onChange={(e) => void forceVariant(k, e.target.value)}
                >
                  <option value="">automatic</option>
                  {tuning.variants
                    .filter((v) => v.kernel === k)
                    .map((v) => (
                      <option key={v.name} value={v.name} disabled={v.whyNot !== null && v.name !== 'safe'} title={v.whyNot ?? v.about}>
                        {v.name}
                        {v.whyNot && v.name !== 'safe' ? ` (${v.whyNot})` : ''}
                      </option>
                    ))}
                </select>
              </dd>
            </div>
          ))}
        </dl>
      )}
      <button type="button" className="button button-secondary" data-testid="gpu-kernels-tune" disabled={busy} onClick={() => void tuneNow()}>
        {busy ? 'Measuring…' : 'Measure again'}
      </button>
      {error && (
        <p className="gpu-report-note" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
