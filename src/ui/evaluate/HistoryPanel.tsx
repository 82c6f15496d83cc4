// Run history: every run with its configuration, a fingerprint of its dataset, its metric curves
// and whether its adapter is saved; rename, delete, a report (zip: configuration, metrics, charts
// as PNG), and two runs' curves of one metric on one chart.
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { RunRow } from '../../db/index.js';
import type { StepMetrics } from '../../engine/training/trainer.js';
import { datasetFingerprint, metricKeys, runReportZip, trainedDataFingerprint } from '../../services/evaluate.js';
import { saveBlob } from '../../services/data.js';
import { useEvaluateStore } from '../../stores/evaluate.js';
import { MetricChart } from '../train/MetricChart.js';
import { chartPng } from './chart-png.js';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea'];
const REPORT_CHARTS = ['loss', 'rewards/margins', 'rewards/accuracies', 'grad_norm', 'learning_rate'];

export function HistoryPanel() {
  const runs = useEvaluateStore((s) => s.runs);
  const compare = useEvaluateStore((s) => s.compare);
  const metric = useEvaluateStore((s) => s.compareMetric);
  const setView = useEvaluateStore((s) => s.setView);
  const a = runs.find((r) => r.id === compare[0]);
  const b = runs.find((r) => r.id === compare[1]);
  const keys = useMemo(() => [...new Set([...metricKeys(a?.metrics ?? []), ...metricKeys(b?.metrics ?? [])])], [a, b]);

  return (
    <section className="card" aria-labelledby="eval-history-title">
      <h2 id="eval-history-title" className="card-title">
        Run history
      </h2>
      {runs.length === 0 ? (
        <p className="hint">No runs yet: train one on the Train page.</p>
      ) : (
        <>
          <div className="fields eval-fields">
            {([0, 1] as const).map((i) => (
              <label key={i} className="field">
                {i === 0 ? 'Compare run' : 'with run'}
                <select value={compare[i] ?? ''} onChange={(e) => setView({ compare: i === 0 ? [e.target.value || null, compare[1]] : [compare[0], e.target.value || null] })}>
                  <option value="">none</option>
                  {runs.map((r) => (
                    <option key={r.id} value={r.id}>
                      {r.name}
                    </option>
                  ))}
                </select>
              </label>
            ))}
            <label className="field">
              Metric
              <select value={metric} onChange={(e) => setView({ compareMetric: e.target.value })}>
                {(keys.includes(metric) ? keys : [metric, ...keys]).map((k) => (
                  <option key={k} value={k}>
                    {k}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <CompareChart metric={metric} runs={[a, b].filter((r): r is RunRow => !!r)} />
          <ul className="eval-runs" data-testid="eval-runs">
            {runs.map((r) => (
              <RunItem key={r.id} run={r} />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** Two runs' curves of one metric on one chart (steps of both, gaps where one has no value). */
function CompareChart({ metric, runs }: { metric: string; runs: RunRow[] }) {
  const box = useRef<HTMLDivElement>(null);
  const key = runs.map((r) => `${r.id}:${r.name}:${r.metrics.length}`).join('|') + metric;
  useEffect(() => {
    const el = box.current;
    if (!el || runs.length === 0) return;
    const steps = [...new Set(runs.flatMap((r) => r.metrics.map((m) => m.step)))].sort((x, y) => x - y);
    const column = (r: RunRow) => {
      const at = new Map(r.metrics.map((m) => [m.step, (m as Record<string, number | undefined>)[metric]]));
      return steps.map((s) => {
        const v = at.get(s);
        return v === undefined || !Number.isFinite(v) ? null : v;
      });
    };
    const u = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: 'step', size: 36 }, { size: 56 }],
        series: [{ label: 'step' }, ...runs.map((r, i) => ({ label: r.name, stroke: COLORS[i], width: 1.5, spanGaps: true, points: { show: false } }))],
      },
      [steps, ...runs.map(column)],
      el,
    );
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (runs.length === 0) return null;
  return (
    <figure className="train-chart" data-testid="eval-compare-chart">
      <figcaption className="train-chart-title">{metric}</figcaption>
      <div ref={box} />
    </figure>
  );
}

function RunItem({ run }: { run: RunRow }) {
  const hasAdapter = useEvaluateStore((s) => s.withAdapter[run.id]);
  const result = useEvaluateStore((s) => s.result);
  const { rename, remove } = useEvaluateStore.getState();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(run.name);
  const [fingerprint, setFingerprint] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setName(run.name), [run.name]);
  useEffect(() => {
    if (!open || fingerprint) return;
    void Promise.all([
      trainedDataFingerprint(run.id).catch(() => null),
      datasetFingerprint(run.datasetId).then((f) => `${f.fingerprint} (${f.records} records)`, () => 'deleted'),
    ]).then(([trained, now]) => setFingerprint(`trained on ${trained ?? '–'} (examples); the dataset now: ${now}`));
  }, [open, fingerprint, run.datasetId]);

  const report = async () => {
    setBusy(true);
    try {
      const charts = [];
      for (const k of REPORT_CHARTS.filter((k) => metricKeys(run.metrics).includes(k))) {
        charts.push({ name: k.replace(/\//g, '_'), png: await chartPng(`${run.name}: ${k}`, [{ label: k, color: COLORS[0]!, metrics: run.metrics, key: k }]) });
      }
      const f = await trainedDataFingerprint(run.id).catch(() => null);
      const evaluation = result && result.models.some((m) => m.id === run.id) ? result : undefined;
      const zip = runReportZip(run, charts, { ...(f ? { dataFingerprint: f } : {}), ...(evaluation ? { evaluation } : {}) });
      saveBlob(new Blob([zip as BlobPart], { type: 'application/zip' }), `${run.name.replace(/[^\w.-]+/g, '_')}-report.zip`);
    } finally {
      setBusy(false);
    }
  };

  const last = run.metrics.at(-1) as (StepMetrics & Record<string, number>) | undefined;
  return (
    <li className="eval-run" data-run={run.id}>
      <div className="eval-run-head">
        <span className="eval-run-name">{run.name}</span>
        <span className="badge badge-neutral">{run.status}</span>
        <span className="hint">
          {run.config.method} · {run.modelName} · {run.datasetName} · step {run.step}/{run.totalSteps}
          {last?.loss !== undefined ? ` · loss ${last.loss.toFixed(4)}` : ''} · adapter {hasAdapter ? 'saved' : 'none'}
        </span>
        <button type="button" className="button button-secondary" onClick={() => setOpen(!open)}>
          {open ? 'Hide' : 'Details'}
        </button>
        <button type="button" className="button button-secondary" disabled={busy} onClick={() => void report()}>
          Report (zip)
        </button>
        <button type="button" className="button button-secondary" onClick={() => confirm(`Delete run "${run.name}" and its adapter?`) && void remove(run.id)}>
          Delete
        </button>
      </div>
      {open && (
        <>
          <div className="eval-actions">
            <label className="field">
              Name
              <input value={name} onChange={(e) => setName(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && void rename(run.id, name)} />
            </label>
            <button type="button" className="button button-secondary" disabled={name.trim() === run.name} onClick={() => void rename(run.id, name)}>
              Rename
            </button>
          </div>
          <p className="hint">
            Dataset fingerprint: {fingerprint ?? '…'} · created {new Date(run.createdAt).toLocaleString()}
            {run.initFromRunId ? ` · continues from ${run.initFromRunId}` : ''}
          </p>
          {run.metrics.length > 0 && (
            <MetricChart
              title="loss and reward margin"
              testId={`eval-run-chart-${run.id}`}
              metrics={run.metrics}
              series={[
                { key: 'loss', label: 'loss', color: COLORS[0]! },
                { key: 'rewards/margins', label: 'rewards/margins', color: COLORS[1]! },
                { key: 'rewards/accuracies', label: 'rewards/accuracies', color: COLORS[2]! },
              ]}
            />
          )}
          <pre>{JSON.stringify(run.config, null, 2)}</pre>
        </>
      )}
    </li>
  );
}
