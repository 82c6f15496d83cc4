// The selected run: progress with ETA, the latest speed and memory, live charts of TRL's metrics,
// and its full configuration (gradient_checkpointing as the run decided it).
import type { RunRow } from '../../db/index.js';
import { checkpointingNote, configAsRun, etaSeconds, useTrainStore } from '../../stores/train.js';
import { formatBytes, formatDuration, formatMetric } from './format.js';
import { MetricChart, type SeriesSpec } from './MetricChart.js';
import { methodLabel } from './RunList.js';

const COLORS = ['#4f46e5', '#dc2626', '#16a34a', '#d97706', '#0891b2'];
const s = (key: string, label: string, i: number): SeriesSpec => ({ key, label, color: COLORS[i % COLORS.length]! });

export function RunView({ run }: { run: RunRow }) {
  const metrics = useTrainStore((st) => st.metrics[run.id]) ?? run.metrics;
  const progress = useTrainStore((st) => st.progress[run.id]);
  const live = useTrainStore((st) => st.activeRunId === run.id);
  const last = metrics.at(-1);
  const step = Math.max(run.step, last?.step ?? 0);
  const eta = live ? etaSeconds(metrics, run.totalSteps) : null;
  const hasRewards = metrics.some((m) => m['rewards/margins'] !== undefined);
  const hasEval = metrics.some((m) => m.eval_loss !== undefined);
  return (
    <section className="card" aria-labelledby="train-run-title" data-testid="train-run-view" data-run-id={run.id}>
      <h2 id="train-run-title" className="card-title">
        {run.name} <span className="hint">({methodLabel(run)})</span>
      </h2>
      <div className="train-progress">
        <progress max={Math.max(1, run.totalSteps)} value={step} data-testid="train-progress" />
        <span>
          step {step} of {run.totalSteps}
          {live && eta !== null ? ` · about ${formatDuration(eta)} left` : ''}
        </span>
      </div>
      {live && progress && <p className="hint" data-testid="train-progress-message">{progress}</p>}
      {run.memory && <p className="hint" data-testid="train-run-checkpointing">{checkpointingNote(run.memory)}</p>}
      <dl className="train-stats" data-testid="train-stats">
        <div><dt>loss</dt><dd>{formatMetric(last?.loss)}</dd></div>
        {hasRewards && <div><dt>accuracy</dt><dd>{formatMetric(last?.['rewards/accuracies'], 2)}</dd></div>}
        {hasRewards && <div><dt>margin</dt><dd>{formatMetric(last?.['rewards/margins'])}</dd></div>}
        <div><dt>tokens/s</dt><dd>{last?.tokens_per_second !== undefined ? last.tokens_per_second.toFixed(0) : '–'}</dd></div>
        <div><dt>step time</dt><dd>{last?.step_time_ms !== undefined ? `${(last.step_time_ms / 1000).toFixed(2)} s` : '–'}</dd></div>
        <div><dt>GPU memory</dt><dd>{last?.gpu_memory_bytes !== undefined ? formatBytes(last.gpu_memory_bytes) : '–'}</dd></div>
      </dl>
      <div className="train-charts">
        <MetricChart title="Loss" testId="chart-loss" metrics={metrics} series={[s('loss', 'train', 0), ...(hasEval ? [s('eval_loss', 'held-out', 1)] : [])]} />
        {hasRewards && (
          <MetricChart
            title="Reward accuracy"
            testId="chart-accuracy"
            metrics={metrics}
            series={[s('rewards/accuracies', 'train', 0), ...(hasEval ? [s('eval_rewards/accuracies', 'held-out', 1)] : [])]}
          />
        )}
        {hasRewards && <MetricChart title="Reward margin" testId="chart-margin" metrics={metrics} series={[s('rewards/margins', 'margin', 0), s('rewards/chosen', 'chosen', 2), s('rewards/rejected', 'rejected', 1)]} />}
        <MetricChart title="Gradient norm" testId="chart-grad-norm" metrics={metrics} series={[s('grad_norm', 'grad_norm', 3)]} />
        <MetricChart title="Learning rate" testId="chart-lr" metrics={metrics} series={[s('learning_rate', 'learning_rate', 4)]} />
        <MetricChart title="Tokens per second" testId="chart-speed" metrics={metrics} series={[s('tokens_per_second', 'tokens/s', 2)]} />
      </div>
      <details className="train-config">
        <summary>Configuration (TRL / PEFT names)</summary>
        <pre data-testid="train-config">{JSON.stringify({ model: run.modelName, dataset: run.datasetName, ...(run.initFromRunId ? { init_adapter_from_run: run.initFromRunId } : {}), ...configAsRun(run.config, run.memory) }, null, 2)}</pre>
      </details>
    </section>
  );
}
