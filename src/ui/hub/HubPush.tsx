// The Export page's "Push to the Hugging Face Hub": the chosen adapter (PEFT files and a model
// card: base model, method, data, metrics) to a model repository, or the hand-off's dataset (TRL's
// preference format) to a dataset repository, each in one commit, with the person's token.
import { useState } from 'react';
import { useHubStore } from '../../stores/hub.js';
import { useExportStore } from '../../stores/export.js';
import { HubToken } from './HubToken.js';

export function HubPush({ baseModel }: { baseModel: string }) {
  const s = useHubStore();
  const ready = useExportStore((e) => !!e.model && !!e.adapter && e.modules !== null);
  const hasData = useExportStore((e) => !!e.handoffData);
  const [modelRepo, setModelRepo] = useState('');
  const [dataRepo, setDataRepo] = useState('');
  const [isPrivate, setPrivate] = useState(true);
  const canPush = !!s.token && !s.busy;
  return (
    <section className="card" aria-labelledby="export-hub-title" data-testid="hub-push">
      <h2 id="export-hub-title" className="card-title">
        Push to the Hugging Face Hub
      </h2>
      <p className="export-lead">One commit each: the whole adapter with its model card, or the dataset; an interrupted push leaves the repository as it was.</p>
      <div className="fields export-fields">
        <HubToken purpose="A token with write access (huggingface.co → Settings → Access Tokens)." />
        <label className="field">
          <span>Adapter repository</span>
          <input value={modelRepo} placeholder="your-name/my-dpo-adapter" spellCheck={false} onChange={(e) => setModelRepo(e.target.value)} data-testid="hub-model-repo" />
        </label>
        <label className="field">
          <span>Dataset repository</span>
          <input value={dataRepo} placeholder="your-name/my-preferences" spellCheck={false} onChange={(e) => setDataRepo(e.target.value)} data-testid="hub-dataset-push-repo" />
        </label>
        <label className="hub-keep">
          <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} /> Private (new repositories)
        </label>
      </div>
      <div className="export-actions">
        <button type="button" className="button button-primary" disabled={!canPush || !ready || !modelRepo.trim()} onClick={() => void s.pushAdapter(modelRepo, { private: isPrivate, baseModel })} data-testid="hub-push-adapter">
          Push adapter
        </button>
        <button type="button" className="button button-secondary" disabled={!canPush || !hasData || !dataRepo.trim()} onClick={() => void s.pushDataset(dataRepo, { private: isPrivate })} data-testid="hub-push-dataset">
          Push dataset
        </button>
      </div>
      {s.busy?.startsWith('push') && (
        <p role="status" className="export-status">
          <span className="spinner" /> Pushing…
        </p>
      )}
      {s.error && (
        <p role="alert" className="export-error" data-testid="hub-push-error">
          {s.error}
        </p>
      )}
      {s.message && (
        <p role="status" className="export-status" data-testid="hub-push-message">
          {s.message}
        </p>
      )}
    </section>
  );
}
