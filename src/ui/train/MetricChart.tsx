// One live chart of training metrics against the step (uPlot: small, fast, canvas). The chart is
// made once per set of series and fed new data as steps arrive; it follows its box's width.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { StepMetrics } from '../../engine/training/trainer.js';

export interface SeriesSpec {
  /** The metric's TRL name ('loss', 'rewards/margins', 'eval_loss', ...). */
  key: string;
  label: string;
  color: string;
}

interface Props {
  title: string;
  series: SeriesSpec[];
  metrics: readonly StepMetrics[];
  testId: string;
}

function dataOf(metrics: readonly StepMetrics[], series: readonly SeriesSpec[]): uPlot.AlignedData {
  const steps = metrics.map((m) => m.step);
  const columns = series.map((s) => metrics.map((m) => {
    const v = (m as Record<string, number | undefined>)[s.key];
    return v === undefined || !Number.isFinite(v) ? null : v;
  }));
  return [steps, ...columns];
}

export function MetricChart({ title, series, metrics, testId }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const seriesKey = series.map((s) => s.key).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(240, el.clientWidth);
    const u = new uPlot(
      {
        width,
        height: 180,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false } },
        axes: [{ label: 'step', size: 36 }, { size: 56 }],
        series: [{ label: 'step' }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: true, points: { show: false } }))],
      },
      [[], ...series.map(() => [])],
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [seriesKey]);

  useEffect(() => {
    plot.current?.setData(dataOf(metrics, series));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [metrics, seriesKey]);

  const last = metrics.at(-1);
  return (
    <figure className="train-chart" data-testid={testId} data-points={metrics.length} data-last-step={last?.step ?? 0}>
      <figcaption className="train-chart-title">{title}</figcaption>
      <div ref={box} className="train-chart-plot" />
    </figure>
  );
}
