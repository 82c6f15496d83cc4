// Every run of this workspace, newest first: status, progress, and what can be done with it
// (pause, resume, stop, continue from its adapter, sample with it, delete).
import { etaSeconds, isFinished, isResumable, useTrainStore } from '../../stores/train.js';
import type { RunRow } from '../../db/index.js';
import { METHODS, isMethodId } from '../../stores/methods.js';

const STATUS_TEXT: Record<RunRow['status'], string> = {
  queued: 'queued',
  running: 'training',
  paused: 'paused',
  interrupted: 'interrupted',
  stopped: 'stopped',
  done: 'done',
  failed: 'failed',
};

function badgeClass(status: RunRow['status']): string {
  if (status === 'done') return 'badge badge-ok';
  if (status === 'failed' || status === 'interrupted') return 'badge badge-warn';
  return 'badge badge-neutral';
}

/** The run's method as the registry names it; DPO with other loss types than sigmoid says which. */
export function methodLabel(run: RunRow): string {
  const c = run.config;
  if (!isMethodId(c.method)) return String(c.method);
  const types = c.method === 'dpo' && c.loss_type !== undefined ? [c.loss_type].flat() : [];
  return types.length && types.join() !== 'sigmoid' ? `${METHODS.dpo.label} (${types.join(' + ')})` : METHODS[c.method].label;
}

export function RunList() {
  const runs = useTrainStore((s) => s.runs);
  const selected = useTrainStore((s) => s.selectedRunId);
  const active = useTrainStore((s) => s.activeRunId);
  const sampling = useTrainStore((s) => s.samplingRunId);
  const metrics = useTrainStore((s) => s.metrics);
  const { select, pause, resume, stop, remove, continueFrom, setSamplingRun, downloadAdapter, applyRunSettings } = useTrainStore.getState();

  if (runs.length === 0) return <p className="hint">No runs yet.</p>;
  return (
    <ul className="train-runs" data-testid="train-runs">
      {runs.map((r) => {
        const live = active === r.id;
        const step = Math.max(r.step, metrics[r.id]?.at(-1)?.step ?? 0);
        return (
          <li key={r.id} className={`train-run${selected === r.id ? ' train-run-selected' : ''}`} data-testid="train-run" data-status={r.status} data-step={step} data-run-id={r.id}>
            <button type="button" className="train-run-name" onClick={() => select(r.id)} aria-pressed={selected === r.id}>
              <strong>{r.name}</strong>
              <span className="hint">
                {methodLabel(r)} · {r.datasetName} · {r.modelName} · {new Date(r.createdAt).toLocaleString()}
              </span>
            </button>
            <span className={badgeClass(r.status)} data-testid="train-run-status">
              {STATUS_TEXT[r.status]}
            </span>
            <span className="train-run-step">
              {step}/{r.totalSteps}
            </span>
            <span className="train-run-actions">
              {live && (
                <>
                  <button type="button" className="button button-secondary" onClick={() => void pause(r.id)} data-testid="train-pause">
                    Pause
                  </button>
                  <button type="button" className="button button-secondary" onClick={() => void stop(r.id)} data-testid="train-stop">
                    Stop
                  </button>
                </>
              )}
              {!live && isResumable(r) && (
                <>
                  <button type="button" className="button button-primary" disabled={active !== null} onClick={() => void resume(r.id)} data-testid="train-resume">
                    Resume from step {r.step}
                  </button>
                  <button type="button" className="button button-secondary" onClick={() => void stop(r.id)}>
                    End here
                  </button>
                </>
              )}
              {isFinished(r) && r.step > 0 && (
                <>
                  <button type="button" className="button button-secondary" onClick={() => continueFrom(r.id)} data-testid="train-continue" title="A new run that starts from this run's adapter (iterative rounds)">
                    Continue from this adapter
                  </button>
                  <button
                    type="button"
                    className="button button-secondary"
                    aria-pressed={sampling === r.id}
                    onClick={() => setSamplingRun(sampling === r.id ? null : r.id)}
                    data-testid="train-sample-with"
                    title="The Models playground and the Label page sample with this adapter"
                  >
                    {sampling === r.id ? 'Sampling with it ✓' : 'Sample with it'}
                  </button>
                  <button type="button" className="button button-secondary" onClick={() => void downloadAdapter(r.id)} data-testid="train-download-adapter" title="adapter_config.json and adapter_model.safetensors, as PEFT saves them">
                    Download adapter (PEFT zip)
                  </button>
                </>
              )}
              <button type="button" className="button button-secondary" onClick={() => applyRunSettings(r.id)} data-testid="train-use-settings" title="Fill the new-run form with this run's method, data and every setting">
                Use its settings
              </button>
              {!live && (
                <button type="button" className="button button-secondary" onClick={() => confirm(`Delete run "${r.name}" and its checkpoints?`) && void remove(r.id)}>
                  Delete
                </button>
              )}
            </span>
            {r.error && <p className="train-error train-run-error">{r.error}</p>}
            {live && <RunEta run={r} />}
          </li>
        );
      })}
    </ul>
  );
}

function RunEta({ run }: { run: RunRow }) {
  const metrics = useTrainStore((s) => s.metrics[run.id]);
  const eta = etaSeconds(metrics ?? [], run.totalSteps);
  return eta === null ? null : <span className="hint train-run-eta">about {Math.max(0, Math.round(eta))} s left</span>;
}
