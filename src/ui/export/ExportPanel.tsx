// Pick a model folder and a PEFT adapter (folder with adapter_config.json and
// adapter_model.safetensors, or a zip), then download it as a PEFT zip, a merged ONNX model, a
// llama.cpp GGUF LoRA adapter, or a TRL hand-off zip.
import { useState, type ChangeEvent } from 'react';
import { useExportStore } from '../../stores/export.js';
import { TRAINING_METHODS } from '../../engine/training/config.js';

const filesOf = (e: ChangeEvent<HTMLInputElement>) => [...(e.target.files ?? [])];

export function ExportPanel() {
  const s = useExportStore();
  const [ggufType, setGgufType] = useState<'f32' | 'f16'>('f32');
  const [dataset, setDataset] = useState<File | undefined>();
  const [method, setMethod] = useState('dpo');
  const [baseModel, setBaseModel] = useState('');
  const ready = !!s.model && !!s.adapter && s.modules !== null && !s.busy;
  return (
    <div className="export-panel">
      <fieldset>
        <legend>Base model</legend>
        <label>
          Model folder (ONNX, config.json){' '}
          <input type="file" data-testid="export-model" {...{ webkitdirectory: '' }} multiple onChange={(e) => void s.pickModel(filesOf(e))} />
        </label>
        {s.model && <p>{s.modelLabel}: {s.model.arch}, {s.model.parameterCount.toLocaleString()} parameters</p>}
      </fieldset>
      <fieldset>
        <legend>Adapter</legend>
        <label>
          PEFT adapter folder{' '}
          <input type="file" data-testid="export-adapter-folder" {...{ webkitdirectory: '' }} multiple onChange={(e) => void s.pickAdapter(filesOf(e))} />
        </label>{' '}
        <label>
          or zip <input type="file" accept=".zip" data-testid="export-adapter-zip" onChange={(e) => void s.pickAdapter(filesOf(e))} />
        </label>
        {s.adapter && (
          <p>
            {s.adapterLabel}: r {s.adapter.lora.r}, alpha {s.adapter.lora.lora_alpha}
            {s.adapter.lora.use_rslora ? ' (rsLoRA)' : ''}
            {s.modules !== null ? `, ${s.modules} modules` : ''}
          </p>
        )}
      </fieldset>
      {s.error && <p role="alert" className="error">{s.error}</p>}
      {s.message && <p role="status">{s.message}</p>}
      <fieldset disabled={!ready}>
        <legend>Download</legend>
        <button type="button" onClick={() => void s.download('peft')}>PEFT adapter (zip)</button>{' '}
        <button type="button" onClick={() => void s.download('merged')}>Merged ONNX</button>{' '}
        <button type="button" onClick={() => void s.download('gguf', { ggufType })}>llama.cpp GGUF</button>{' '}
        <select aria-label="GGUF tensor type" value={ggufType} onChange={(e) => setGgufType(e.target.value as 'f32' | 'f16')}>
          <option value="f32">f32</option>
          <option value="f16">f16</option>
        </select>
      </fieldset>
      <fieldset disabled={!ready}>
        <legend>TRL hand-off (train on a GPU cluster)</legend>
        <label>
          Dataset <input type="file" onChange={(e) => setDataset(filesOf(e)[0])} />
        </label>{' '}
        {!s.runConfig && (
          <label>
            Method{' '}
            <select value={method} onChange={(e) => setMethod(e.target.value)}>
              {TRAINING_METHODS.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
        )}{' '}
        <label>
          Hugging Face model id <input value={baseModel} placeholder={s.adapter?.baseModel ?? ''} onChange={(e) => setBaseModel(e.target.value)} />
        </label>{' '}
        <button type="button" disabled={!dataset} onClick={() => void s.download('trl', { dataset, method, baseModel })}>
          TRL hand-off (zip)
        </button>
      </fieldset>
      {s.busy && <p role="status">Working: {s.busy}…</p>}
    </div>
  );
}
