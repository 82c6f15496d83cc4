// The new-run form: dataset (with its split counts), method (what it does, the data it needs),
// the settings in a basic view (the method's main options, learning rate, steps, batch, LoRA
// rank/alpha/targets) and an advanced one (every other setting the registry holds, by group),
// each with its TRL/PEFT name and help; settings from a file (a saved run's or a TRL config) or
// a past run; the plan (examples, steps, memory estimate or the refusal with numbers) and Start.
import { useRef, useState, type ReactNode } from 'react';
import { METHOD_IDS, METHODS } from '../../stores/methods.js';
import { DEMO_RECIPE, formGroups, usableRecords, type TrainForm } from '../../stores/train-form.js';
import { checkpointingNote, isDemoDataset, planKeyOf, useTrainStore, type TrainModelRef } from '../../stores/train.js';
import { formatBytes, formatCount } from './format.js';
import { SettingField } from './SettingField.js';

interface Props {
  model: TrainModelRef | null;
}

function Group({ title, children }: { title: string; children: ReactNode }) {
  return (
    <fieldset className="train-group">
      <legend>{title}</legend>
      <div className="fields">{children}</div>
    </fieldset>
  );
}

function SettingGroups({ method, view }: { method: TrainForm['method']; view: 'basic' | 'advanced' }) {
  return (
    <>
      {formGroups(method, view).map((g) => (
        <Group key={g.group} title={g.title}>
          {g.fields.map((f) => (
            <SettingField key={f.path} field={f} />
          ))}
        </Group>
      ))}
    </>
  );
}

/** Load settings from a JSON file, save the form's, and what the last file gave. */
function SettingsFile() {
  const input = useRef<HTMLInputElement>(null);
  const note = useTrainStore((s) => s.settingsNote);
  const loadSettings = useTrainStore((s) => s.loadSettings);
  const downloadSettings = useTrainStore((s) => s.downloadSettings);
  return (
    <div className="train-settings-file">
      <button type="button" className="button button-secondary" onClick={() => input.current?.click()} title="training_config.json of a run, a TRL hand-off's recipe.json, or a TRL DPOConfig/KTOConfig/CPOConfig JSON">
        Load settings…
      </button>
      <input
        ref={input}
        type="file"
        accept=".json,application/json"
        className="visually-hidden"
        tabIndex={-1}
        aria-label="Settings file"
        data-testid="train-settings-file"
        onChange={(e) => {
          const f = e.currentTarget.files?.[0];
          e.currentTarget.value = '';
          if (f) void f.text().then((t) => loadSettings(t, f.name));
        }}
      />
      <button type="button" className="button button-secondary" onClick={() => void downloadSettings()} data-testid="train-settings-download">
        Download settings
      </button>
      {note && (
        <small className="hint" data-testid="train-settings-note">
          {note}
        </small>
      )}
    </div>
  );
}

export function TrainSettings({ model }: Props) {
  const form = useTrainStore((s) => s.form);
  const datasets = useTrainStore((s) => s.datasets);
  const runs = useTrainStore((s) => s.runs);
  const plan = useTrainStore((s) => s.plan);
  const planKey = useTrainStore((s) => s.planKey);
  const planning = useTrainStore((s) => s.planning);
  const active = useTrainStore((s) => s.activeRunId);
  const setForm = useTrainStore((s) => s.setForm);
  const planRun = useTrainStore((s) => s.planRun);
  const start = useTrainStore((s) => s.start);
  const [advanced, setAdvanced] = useState(false);
  const info = METHODS[form.method];
  const dataset = datasets.find((d) => d.id === form.datasetId);
  const current = model && plan && planKey === planKeyOf(form, model.id) ? plan : null;
  const initFrom = runs.find((r) => r.id === form.initFromRunId);

  return (
    <section className="card" aria-labelledby="train-new-title" data-testid="train-settings">
      <h2 id="train-new-title" className="card-title">
        New run
      </h2>
      <p className="hint" data-testid="train-model" data-loaded={model !== null}>
        {model ? `Model: ${model.name} (on the GPU)` : 'No model on the GPU yet: load one on the Models page (or wait for it to finish loading).'}
      </p>
      {initFrom && (
        <p className="train-note" data-testid="train-init-from">
          Continues from the adapter of “{initFrom.name}” (LoRA r {initFrom.config.lora.r}).{' '}
          <button type="button" className="button button-secondary" onClick={() => setForm({ initFromRunId: null })}>
            Start fresh instead
          </button>
        </p>
      )}
      <div className="fields">
        <label className="field train-field-wide">
          <span>Dataset</span>
          <select value={form.datasetId ?? ''} onChange={(e) => setForm({ datasetId: e.target.value || null })} data-testid="train-dataset">
            {datasets.length === 0 && <option value="">No datasets: import one on the Data page</option>}
            {datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} — {formatCount(d.counts.bySplit.train)} train / {formatCount(d.counts.bySplit.test)} test
              </option>
            ))}
          </select>
          {dataset && (
            <small className="hint" data-testid="train-dataset-counts">
              {formatCount(dataset.counts.bySplit.train)} training and {formatCount(dataset.counts.bySplit.test)} held-out records; {formatCount(usableRecords(form.method, dataset.counts))} of a kind {info.label} can use
            </small>
          )}
          {dataset && isDemoDataset(dataset) && (
            <small className="hint" data-testid="train-demo-recipe">
              The demo data teaches hopeful sayings over gloomy ones.{' '}
              <button type="button" className="button button-secondary" onClick={() => setForm(DEMO_RECIPE)} data-testid="train-demo-recipe-button">
                Use the demo recipe
              </button>{' '}
              (DPO, 10 steps of 8 pairs, learning rate 0.01, LoRA on all linear layers): held-out accuracy near 0.9, fewer gloomy words in the samples.
            </small>
          )}
        </label>
        <label className="field train-field-wide">
          <span>Method</span>
          <select value={form.method} onChange={(e) => setForm({ method: e.target.value as TrainForm['method'] })} data-testid="train-method">
            {METHOD_IDS.map((m) => (
              <option key={m} value={m}>
                {METHODS[m].label}
              </option>
            ))}
          </select>
          <small className="hint" data-testid="train-method-info">
            {info.summary} Needs: {info.needs}.
          </small>
        </label>
        <label className="field">
          <span>Name</span>
          <input type="text" value={form.name} placeholder={`${info.label} on ${dataset?.name ?? '…'}`} onChange={(e) => setForm({ name: e.target.value })} data-testid="train-name" />
        </label>
      </div>
      <SettingsFile />
      <SettingGroups method={form.method} view="basic" />
      <button type="button" className="button button-secondary train-advanced-toggle" aria-expanded={advanced} onClick={() => setAdvanced(!advanced)} data-testid="train-advanced">
        {advanced ? 'Hide advanced settings' : 'Advanced settings'}
      </button>
      {advanced && <SettingGroups method={form.method} view="advanced" />}
      <div className="train-plan" data-testid="train-plan" aria-live="polite">
        {current && (
          <>
            <p>
              {formatCount(current.examples.train)} training and {formatCount(current.examples.test)} held-out examples
              {current.examples.skipped > 0 ? `, ${formatCount(current.examples.skipped)} records left out` : ''}; {formatCount(current.totalSteps)} steps;{' '}
              {formatCount(current.loraParameters)} LoRA parameters.
            </p>
            <p data-testid="train-memory">
              Estimated GPU memory {formatBytes(current.memory.total)} of a {formatBytes(current.budgetBytes)} budget ({current.budgetSource}): weights {formatBytes(current.memory.weights)}, LoRA and AdamW{' '}
              {formatBytes(current.memory.adapter)}, activations {formatBytes(current.memory.activations)}, LM head {formatBytes(current.memory.head)};{' '}
              <span data-testid="train-checkpointing">{checkpointingNote(current.memory)}</span>.
            </p>
            {current.skipped.map((s) => (
              <p key={s} className="hint">
                {s}
              </p>
            ))}
            {current.warnings.map((w) => (
              <p key={w} className="train-warn">
                {w}
              </p>
            ))}
            {current.refusal && (
              <p className="train-error" role="alert" data-testid="train-refusal">
                Cannot start: {current.refusal}
              </p>
            )}
          </>
        )}
      </div>
      <div className="train-actions">
        <button type="button" className="button button-secondary" disabled={!model || !form.datasetId || planning} onClick={() => model && void planRun(model)} data-testid="train-plan-button">
          {planning ? 'Estimating…' : 'Estimate'}
        </button>
        <button
          type="button"
          className="button button-primary"
          disabled={!model || !form.datasetId || planning || active !== null || current?.refusal != null}
          onClick={() => model && void start(model)}
          data-testid="train-start"
        >
          Start training
        </button>
      </div>
    </section>
  );
}
