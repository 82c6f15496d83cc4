// The stored models: what each is, which one is active, and delete with a confirmation.
import { useState } from 'react';
import { useModelsStore } from '../../stores/models.js';
import type { ModelManifest } from '../../worker/protocol.js';
import { formatBytes } from '../format.js';
import { formatArchitecture, formatParameters } from './format.js';

export function ModelLibrary({ canLoad }: { canLoad: boolean }) {
  const status = useModelsStore((s) => s.status);
  const list = useModelsStore((s) => s.models);
  const activeId = useModelsStore((s) => s.activeId);
  const loadedId = useModelsStore((s) => s.loadedId);
  const task = useModelsStore((s) => s.task);
  const activate = useModelsStore((s) => s.activate);
  const remove = useModelsStore((s) => s.remove);
  const addDemo = useModelsStore((s) => s.addDemo);
  const [confirming, setConfirming] = useState<string | null>(null);

  return (
    <section className="card" aria-labelledby="models-library-title">
      <h2 id="models-library-title" className="card-title">
        Your models
      </h2>
      {status === 'listing' || status === 'idle' ? (
        <p className="models-hint">
          <span className="spinner" aria-hidden="true" /> Reading stored models…
        </p>
      ) : list.length === 0 ? (
        <div className="models-empty" data-testid="models-empty">
          <p>No models stored in this browser yet.</p>
          <button type="button" className="button button-secondary" disabled={!canLoad || task !== null} onClick={() => void addDemo()}>
            Add the demo model
          </button>
        </div>
      ) : (
        <ul className="models-list" data-testid="models-list">
          {list.map((m) => (
            <ModelRow
              key={m.id}
              model={m}
              active={m.id === activeId}
              loaded={m.id === loadedId}
              loading={task?.kind === 'activate' && task.label === m.name}
              canLoad={canLoad && task === null}
              confirming={confirming === m.id}
              onUse={() => void activate(m.id)}
              onDelete={() => setConfirming(m.id)}
              onConfirm={() => {
                setConfirming(null);
                void remove(m.id);
              }}
              onCancel={() => setConfirming(null)}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

interface RowProps {
  model: ModelManifest;
  active: boolean;
  loaded: boolean;
  loading: boolean;
  canLoad: boolean;
  confirming: boolean;
  onUse(): void;
  onDelete(): void;
  onConfirm(): void;
  onCancel(): void;
}

function ModelRow({ model: m, active, loaded, loading, canLoad, confirming, onUse, onDelete, onConfirm, onCancel }: RowProps) {
  const facts: [string, string, string][] = [
    ['architecture', 'Architecture', formatArchitecture(m.architecture)],
    ['parameters', 'Parameters', formatParameters(m.parameters)],
    ['dtype', 'Weights', m.f16Weights ? `${m.dtype}, f16 on the GPU (converted on load)` : m.dtype],
    ['size', 'On disk', formatBytes(m.sizeOnDisk)],
    ['gpu-memory', 'GPU memory', `≈ ${formatBytes(m.gpuMemoryBytes)}`],
    ['context', 'Context', `${m.dims.contextLength} tokens`],
  ];
  return (
    <li className={`models-row${active ? ' is-active' : ''}`} data-testid={`model-row-${m.id}`} data-active={active} data-loaded={loaded}>
      <div className="models-row-head">
        <div>
          <h3 className="models-row-name">{m.name}</h3>
          <p className="models-row-source" title={m.source.label}>
            {m.source.kind === 'url' ? 'From ' : 'From your files: '}
            {m.source.label} · added {new Date(m.addedAt).toLocaleDateString()}
          </p>
        </div>
        <div className="models-row-status">
          {loaded ? (
            <span className="badge badge-ok" data-testid="model-active-badge">
              Active · on the GPU
            </span>
          ) : loading ? (
            <span className="badge badge-neutral">
              <span className="spinner" aria-hidden="true" /> Opening
            </span>
          ) : active ? (
            <span className="badge badge-warn">Active · not loaded</span>
          ) : null}
        </div>
      </div>
      <dl className="models-facts">
        {facts.map(([key, label, value]) => (
          <div key={key} data-testid={`model-${key}`}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      {m.warnings.length > 0 && (
        <ul className="models-warnings">
          {m.warnings.map((w) => (
            <li key={w.code}>{w.message}</li>
          ))}
        </ul>
      )}
      <div className="models-row-actions">
        {confirming ? (
          <div className="models-confirm" role="group" aria-label={`Delete ${m.name}?`}>
            <span>
              Delete <strong>{m.name}</strong> and its {formatBytes(m.sizeOnDisk)} from this browser?
            </span>
            <button type="button" className="button button-danger" data-testid="model-delete-confirm" onClick={onConfirm}>
              Delete
            </button>
            <button type="button" className="button button-secondary" onClick={onCancel}>
              Keep
            </button>
          </div>
        ) : (
          <>
            {!loaded && (
              <button type="button" className="button button-secondary" data-testid="model-use" disabled={!canLoad} onClick={onUse}>
                Use this model
              </button>
            )}
            <button type="button" className="button button-secondary" data-testid="model-delete" onClick={onDelete}>
              Delete…
            </button>
          </>
        )}
      </div>
    </li>
  );
}
