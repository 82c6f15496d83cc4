// The load in progress: its stage, bytes, and a way to cancel it.
import type { ModelTask } from '../../stores/models.js';
import { formatBytes } from '../format.js';

const STAGES = { reading: 'Reading', storing: 'Saving to this browser', uploading: 'Uploading to the GPU' } as const;

export function LoadProgressView({ task }: { task: ModelTask }) {
  const p = task.progress;
  const fraction = p?.total ? Math.min(1, p.loaded / p.total) : undefined;
  const stage = p ? STAGES[p.stage] : 'Starting';
  const bytes = p ? (p.total ? `${formatBytes(p.loaded)} of ${formatBytes(p.total)}` : formatBytes(p.loaded)) : '';
  return (
    <div className="models-progress" data-testid="model-load-progress" data-stage={p?.stage ?? 'starting'} aria-live="polite">
      <div className="models-progress-head">
        <span className="spinner" aria-hidden="true" />
        <span>
          {task.kind === 'import' ? 'Loading' : 'Opening'} <strong>{task.label}</strong>: {stage}
          {bytes && ` · ${bytes}`}
          {p?.file && p.stage !== 'uploading' && <span className="models-progress-file"> · {p.file}</span>}
        </span>
        <button type="button" className="button button-secondary" data-testid="model-load-cancel" onClick={task.cancel}>
          Cancel
        </button>
      </div>
      <progress max={1} value={fraction} aria-label={`${stage} ${task.label}`} />
    </div>
  );
}
