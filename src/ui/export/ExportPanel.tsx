// The Export page's steps, one card each: the base model (from the studio's model library or a
// folder picked on disk), the PEFT adapter (a run of this studio, or a folder with
// adapter_config.json and adapter_model.safetensors, or a zip), the downloads (PEFT zip, merged
// ONNX, llama.cpp GGUF LoRA, the whole model as GGUF) and the TRL hand-off (its dataset: one of the studio's, the run's
// own preselected, or a file; its base model: a Hugging Face Hub id, required, typed or the
// model's own, checked as it is typed before the download is enabled).
import { useRef, useState, type ReactNode } from 'react';
import { handoffBaseModel, useExportStore } from '../../stores/export.js';
import { HUB_ID_EXAMPLE } from '../../hub-id.js';
import { METHOD_IDS, METHODS } from '../../stores/methods.js';
import { GGUF_MODEL_TYPES, type GgufModelType } from '../../stores/export.js';
import { HubPush } from '../hub/HubPush.js';
import './export.css';

/** A button that opens a hidden file input (the native one cannot be styled). */
function FilePicker({ label, testId, directory, accept, onFiles }: { label: string; testId: string; directory?: boolean; accept?: string; onFiles: (files: File[]) => void }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button type="button" className="button button-secondary" onClick={() => input.current?.click()}>
        {label}
      </button>
      <input
        ref={input}
        type="file"
        className="visually-hidden"
        tabIndex={-1}
        aria-label={label}
        data-testid={testId}
        accept={accept}
        multiple={directory}
        {...(directory ? { webkitdirectory: '' } : {})}
        onChange={(e) => {
          onFiles([...(e.currentTarget.files ?? [])]);
          e.currentTarget.value = '';
        }}
      />
    </>
  );
}

function Field({ label, hint, children }: { label: string; hint?: ReactNode; children: ReactNode }) {
  return (
    <div className="field">
      <span>{label}</span>
      {children}
      {hint && <small className="hint">{hint}</small>}
    </div>
  );
}

function Download({ children, hint }: { children: ReactNode; hint: ReactNode }) {
  return (
    <li className="export-download">
      <div className="export-download-actions">{children}</div>
      <small className="hint">{hint}</small>
    </li>
  );
}

export function ExportPanel() {
  const s = useExportStore();
  const [ggufType, setGgufType] = useState<'f32' | 'f16'>('f32');
  const [ggufModelType, setGgufModelType] = useState<GgufModelType>('f16');
  const [method, setMethod] = useState('dpo');
  const [baseModel, setBaseModel] = useState('');
  const ready = !!s.model && !!s.adapter && s.modules !== null && !s.busy;
  // The hand-off's base model: the Hub id typed, else the model's own; required before the download.
  const givenBase = baseModel.trim();
  const base = handoffBaseModel(s, givenBase);
  const baseProblem = base && !base.ok ? base.message : null;
  return (
    <div className="export-page">
      <section className="card" aria-labelledby="export-model-title">
        <h2 id="export-model-title" className="card-title">
          Base model
        </h2>
        <p className="export-lead">The ONNX model the adapter was trained on. Every download needs it: the adapter is checked against its layers.</p>
        <div className="fields export-fields">
          <label className="field">
            <span>From the model library</span>
            <select
              value={s.modelOrigin?.kind === 'library' ? s.modelOrigin.modelId : ''}
              disabled={s.library.length === 0}
              onChange={(e) => e.target.value && void s.pickStoredModel(e.target.value)}
              data-testid="export-model-library"
            >
              <option value="">{s.library.length === 0 ? 'No stored models: load one on the Models page' : 'Choose a stored model…'}</option>
              {s.library.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} ({m.architecture})
                </option>
              ))}
            </select>
            <small className="hint">Models the Models page keeps in this browser.</small>
          </label>
          <Field label="Or from disk" hint="A folder with config.json and the .onnx (and its external data, if any).">
            <FilePicker label="Choose a model folder…" testId="export-model" directory onFiles={(f) => void s.pickModel(f)} />
          </Field>
        </div>
        {s.model && (
          <p className="export-summary" data-testid="export-model-summary">
            <strong>{s.modelLabel}</strong>: {s.model.arch}, {s.model.parameterCount.toLocaleString()} parameters
          </p>
        )}
      </section>

      <section className="card" aria-labelledby="export-adapter-title">
        <h2 id="export-adapter-title" className="card-title">
          Adapter
        </h2>
        <p className="export-lead">A PEFT LoRA adapter: adapter_config.json and adapter_model.safetensors, as PEFT saves them.</p>
        <div className="fields export-fields">
          <label className="field">
            <span>A run of this studio</span>
            <select value={s.adapterOrigin?.kind === 'run' ? s.adapterOrigin.runId : ''} disabled={s.runs.length === 0} onChange={(e) => e.target.value && void s.pickRun(e.target.value)} data-testid="export-run">
              <option value="">{s.runs.length === 0 ? 'No run with an adapter yet: train one on the Train page' : 'Choose a run…'}</option>
              {s.runs.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name} — step {r.step} of {r.totalSteps}, {r.status}
                </option>
              ))}
            </select>
            <small className="hint">Its adapter at its last checkpoint; its base model comes from the library too.</small>
          </label>
          <Field label="Or a folder" hint="The adapter's folder (a training_config.json beside it is read too).">
            <FilePicker label="Choose an adapter folder…" testId="export-adapter-folder" directory onFiles={(f) => void s.pickAdapter(f)} />
          </Field>
          <Field label="Or a zip" hint="The folder zipped, as the Train page downloads it.">
            <FilePicker label="Choose an adapter zip…" testId="export-adapter-zip" accept=".zip" onFiles={(f) => void s.pickAdapter(f)} />
          </Field>
        </div>
        {s.adapter && (
          <p className="export-summary" data-testid="export-adapter-summary">
            <strong>{s.adapterLabel}</strong>: LoRA r {s.adapter.lora.r}, alpha {s.adapter.lora.lora_alpha}
            {s.adapter.lora.use_rslora ? ' (rsLoRA)' : ''}
            {s.modules !== null ? `, ${s.modules} modules of the model` : ''}
          </p>
        )}
      </section>

      {s.error && (
        <p role="alert" className="export-error" data-testid="export-error">
          {s.error}
        </p>
      )}
      {s.busy && (
        <p role="status" className="export-status">
          <span className="spinner" /> Working: {s.busy}…
        </p>
      )}
      {s.message && (
        <p role="status" className="export-status" data-testid="export-message">
          {s.message}
        </p>
      )}

      <section className="card" aria-labelledby="export-download-title">
        <h2 id="export-download-title" className="card-title">
          Download
        </h2>
        {!ready && !s.busy && <p className="export-lead">Choose a base model and an adapter that fits it first.</p>}
        <ul className="export-downloads">
          <Download hint={<>The adapter alone, as PEFT saves it: load it with <code>PeftModel.from_pretrained</code> on top of the base model.</>}>
            <button type="button" className="button button-primary" disabled={!ready} onClick={() => void s.download('peft')} data-testid="export-download-peft">
              PEFT adapter (zip)
            </button>
          </Download>
          <Download
            hint={
              <>
                The base model with the adapter folded into its weights: one ONNX model for onnxruntime or transformers.js, no adapter needed.
                {s.model?.quantized && (
                  <span data-testid="export-merged-dequantized">
                    {' '}This base is quantized (4/8-bit): the merged model is float16, its quantized weights dequantized, not re-quantized.
                  </span>
                )}
              </>
            }
          >
            <button type="button" className="button button-secondary" disabled={!ready} onClick={() => void s.download('merged')} data-testid="export-download-merged">
              Merged ONNX
            </button>
          </Download>
          <Download hint={<>A GGUF LoRA adapter for llama.cpp: pass it with <code>--lora</code> next to the base model converted to GGUF.</>}>
            <button type="button" className="button button-secondary" disabled={!ready} onClick={() => void s.download('gguf', { ggufType })} data-testid="export-download-gguf">
              llama.cpp GGUF
            </button>
            <select className="control" aria-label="GGUF tensor type" value={ggufType} disabled={!ready} onChange={(e) => setGgufType(e.target.value as 'f32' | 'f16')} data-testid="export-gguf-type">
              <option value="f32">f32</option>
              <option value="f16">f16</option>
            </select>
          </Download>
          <Download hint={<>The whole tuned model, adapter merged, with its tokenizer and chat template: one file for llama.cpp, Ollama or LM Studio.</>}>
            <button type="button" className="button button-secondary" disabled={!ready} onClick={() => void s.download('gguf-merged', { ggufModelType })} data-testid="export-download-gguf-merged">
              Merged GGUF
            </button>
            <select className="control" aria-label="Merged GGUF weight type" value={ggufModelType} disabled={!ready} onChange={(e) => setGgufModelType(e.target.value as GgufModelType)} data-testid="export-gguf-merged-type">
              {GGUF_MODEL_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </Download>
        </ul>
      </section>

      <section className="card" aria-labelledby="export-trl-title">
        <h2 id="export-trl-title" className="card-title">
          TRL hand-off
        </h2>
        <p className="export-lead">A folder (zipped) with the dataset in TRL's format, the run's settings and a script that reruns the same training with TRL on a GPU.</p>
        <div className="fields export-fields">
          <label className="field">
            <span>A dataset of this studio</span>
            <select
              value={s.handoffData?.kind === 'studio' ? s.handoffData.datasetId : ''}
              disabled={s.datasets.length === 0}
              onChange={(e) => s.pickHandoffData(e.target.value ? { kind: 'studio', datasetId: e.target.value } : null)}
              data-testid="export-trl-studio-dataset"
            >
              <option value="">{s.datasets.length === 0 ? 'No datasets yet: import one on the Data page' : 'Choose a dataset…'}</option>
              {s.datasets.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name} ({d.counts.total.toLocaleString()} records)
                </option>
              ))}
            </select>
            <small className="hint">Its records with their train/test split, as the Data page keeps them; a run's own dataset comes with its adapter.</small>
          </label>
          <Field label="Or a file" hint={s.handoffData?.kind === 'file' ? s.handoffData.file.name : 'The preference data to train on (any format the Data page imports).'}>
            <FilePicker label="Choose a dataset file…" testId="export-trl-dataset" onFiles={(f) => f[0] && s.pickHandoffData({ kind: 'file', file: f[0] })} />
          </Field>
          {s.runConfig ? (
            <Field label="Method" hint="From the run's settings.">
              <span data-testid="export-trl-method-fixed">{METHODS[s.runConfig.method].label}</span>
            </Field>
          ) : (
            <label className="field">
              <span>Method</span>
              <select value={method} onChange={(e) => setMethod(e.target.value)} data-testid="export-trl-method">
                {METHOD_IDS.filter((m) => METHODS[m].trl.trainer !== null).map((m) => (
                  <option key={m} value={m}>
                    {METHODS[m].label} ({METHODS[m].trl.trainer})
                  </option>
                ))}
              </select>
              <small className="hint">No training_config.json came with the adapter: pick the method to train with (those TRL has a trainer for).</small>
            </label>
          )}
          <label className="field">
            <span>
              Base model (Hugging Face Hub id) <abbr title="required">*</abbr>
            </span>
            <input
              value={baseModel}
              required
              aria-invalid={baseProblem ? true : undefined}
              aria-describedby="export-trl-base-model-hint"
              placeholder={base?.ok && !givenBase ? base.id : HUB_ID_EXAMPLE}
              spellCheck={false}
              autoComplete="off"
              onChange={(e) => setBaseModel(e.target.value)}
              data-testid="export-trl-base-model"
            />
            {baseProblem ? (
              <small id="export-trl-base-model-hint" className="hint export-field-error" data-testid="export-trl-base-model-error">
                {baseProblem}
              </small>
            ) : (
              <small id="export-trl-base-model-hint" className="hint">
                {base?.ok && !givenBase ? (
                  <>
                    Empty: <code>{base.id}</code>, from {base.from}.
                  </>
                ) : (
                  'The Hub id (namespace/name) of the PyTorch model TRL downloads and trains: the one the ONNX model was exported from. A local path will not do.'
                )}
              </small>
            )}
          </label>
        </div>
        <div className="export-actions">
          <button type="button" className="button button-primary" disabled={!ready || !s.handoffData || !base?.ok} onClick={() => void s.download('trl', { method, baseModel: givenBase })} data-testid="export-download-trl">
            TRL hand-off (zip)
          </button>
        </div>
      </section>

      <HubPush baseModel={givenBase} />
    </div>
  );
}
