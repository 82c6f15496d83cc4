// Where a model comes from: a folder or files dropped here, the directory picker where the
// browser has one, file inputs otherwise, or the URL of a folder laid out like a Hugging Face
// repository. Only what the user chose is read or fetched.
import { useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { canPickDirectory, commonFolder, dropEntries, fileVariants, filesFromEntries, filesFromFileList, offerVariants, pickDirectory, type OfferedVariant, type OnnxVariant } from '../../services/models.js';
import { formatBytes } from '../format.js';
import { useModelsStore } from '../../stores/models.js';
import { useGpuStore } from '../../stores/gpu.js';
import type { ModelFileEntry } from '../../worker/protocol.js';

/** Where the variants on offer come from: dropped or picked files, or a URL / Hub id. */
type VariantSource = { kind: 'files'; files: ModelFileEntry[] } | { kind: 'url'; url: string };

export function ModelSources({ disabled }: { disabled: boolean }) {
  const importFrom = useModelsStore((s) => s.importFrom);
  const busy = useModelsStore((s) => s.task !== null);
  const off = disabled || busy;
  const [dragging, setDragging] = useState(false);
  const [url, setUrl] = useState('');
  const [readError, setReadError] = useState<string | null>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const hasPicker = canPickDirectory();
  const gpuReport = useGpuStore((s) => s.report);
  const variantsAt = useModelsStore((s) => s.variantsAt);
  const [checking, setChecking] = useState(false);
  const [f16Weights, setF16Weights] = useState(false);
  const convert = f16Weights ? { f16Weights: true } : {};

  useEffect(() => {
    // Not a React prop: set on the element so the input picks a whole folder.
    if (folderInput.current) folderInput.current.webkitdirectory = true;
  }, []);

  const load = (files: ModelFileEntry[]) => {
    setReadError(null);
    if (files.length === 0) {
      setReadError('Nothing to load: the folder is empty.');
      return;
    }
    const label = commonFolder(files) ?? (files.length === 1 ? files[0]!.file.name : `${files.length} files`);
    // Several variants (model.onnx, model_fp16.onnx, onnx/model_q4.onnx, ...): the user picks one;
    // preselected, the preferred one that fits this GPU's memory budget.
    const found = fileVariants(files);
    if (found.length > 1) offer(found, label, { kind: 'files', files });
    else void importFrom({ kind: 'files', files, label: commonFolder(files), ...convert }, label);
  };
  const offer = (found: OnnxVariant[], label: string, from: VariantSource) => {
    const { variants, choice: recommended, budgetBytes } = offerVariants(found, gpuReport);
    setChoice({ from, label, variants, recommended: recommended.file, reason: recommended.reason, budgetBytes, chosen: recommended.file });
  };
  const [choice, setChoice] = useState<{
    from: VariantSource;
    label: string;
    variants: OfferedVariant[];
    recommended: string;
    reason: string;
    budgetBytes: number | null;
    chosen: string;
  } | null>(null);
  const importChoice = () => {
    if (!choice) return;
    setChoice(null);
    const { from } = choice;
    if (from.kind === 'url') void importFrom({ kind: 'url', url: from.url, onnx: choice.chosen, ...convert }, choice.label).then((ok) => ok && setUrl(''));
    else void importFrom({ kind: 'files', files: from.files, label: commonFolder(from.files), onnx: choice.chosen, ...convert }, choice.label);
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    if (off) return;
    const entries = dropEntries(event.dataTransfer); // now: the drop's data is gone after this handler
    filesFromEntries(entries).then(load, (e: Error) => setReadError(`Could not read the dropped files: ${e.message}`));
  };

  const onPick = () => {
    pickDirectory().then((files) => files && load(files), (e: Error) => setReadError(e.message));
  };

  const onUrl = (event: FormEvent) => {
    event.preventDefault();
    const address = url.trim();
    if (!address || off || checking) return;
    // A repo with several variants gets the same choice as a folder (only their sizes are asked for);
    // when they cannot be listed the import says why.
    setChecking(true);
    void variantsAt(address).then((found) => {
      setChecking(false);
      if (found && found.length > 1) offer(found, address, { kind: 'url', url: address });
      else void importFrom({ kind: 'url', url: address, ...convert }, address).then((ok) => ok && setUrl(''));
    });
  };

  return (
    <section className="card" aria-labelledby="models-sources-title">
      <h2 id="models-sources-title" className="card-title">
        Load a model
      </h2>
      <div
        className={`models-drop${dragging ? ' is-dragging' : ''}`}
        data-testid="model-drop-zone"
        aria-disabled={off}
        onDragOver={(event) => {
          event.preventDefault();
          event.dataTransfer.dropEffect = off ? 'none' : 'copy';
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <p>
          Drop a model folder here: an ONNX file (with its external data, if any), <code>config.json</code> and{' '}
          <code>tokenizer.json</code>, as Hugging Face and Optimum export them.
        </p>
        <div className="models-drop-actions">
          {hasPicker ? (
            <button type="button" className="button button-secondary" disabled={off} onClick={onPick}>
              Choose folder…
            </button>
          ) : (
            <button type="button" className="button button-secondary" disabled={off} onClick={() => folderInput.current?.click()}>
              Choose folder…
            </button>
          )}
          <button type="button" className="button button-secondary" disabled={off} onClick={() => filesInput.current?.click()}>
            Choose files…
          </button>
        </div>
        <input
          ref={folderInput}
          type="file"
          hidden
          data-testid="model-folder-input"
          onChange={(e) => {
            load(filesFromFileList(e.currentTarget.files ?? []));
            e.currentTarget.value = '';
          }}
        />
        <input
          ref={filesInput}
          type="file"
          multiple
          hidden
          data-testid="model-files-input"
          onChange={(e) => {
            load(filesFromFileList(e.currentTarget.files ?? []));
            e.currentTarget.value = '';
          }}
        />
      </div>
      {choice && (
        <fieldset className="models-variants" data-testid="model-variants">
          <legend>
            {choice.label} has {choice.variants.length} variants: which one to load?
          </legend>
          {choice.variants.map((v) => (
            <label key={v.file} className="models-variant" data-testid={`model-variant-${v.file}`} data-dtype={v.dtype ?? ''} data-over-budget={v.overBudget}>
              <input type="radio" name="model-variant" value={v.file} checked={choice.chosen === v.file} onChange={() => setChoice({ ...choice, chosen: v.file })} />
              <code>{v.file}</code> {v.dtype ?? 'unknown precision'}
              {v.bytes !== undefined && <> · {formatBytes(v.bytes)} on disk</>}
              {v.gpuBytes !== undefined && <> · about {formatBytes(v.gpuBytes)} of GPU memory for the weights</>}
              {v.overBudget && choice.budgetBytes !== null && <> · more than this GPU's {formatBytes(choice.budgetBytes)} budget</>}
              {v.file === choice.recommended && ' · recommended'}
              {v.quantized && (
                <small className="hint">
                  {' '}
                  {v.dtype === 'q4' || v.dtype === 'q4f16' ? '4-bit base: the weights stay packed on the GPU, the LoRA adapter trains in f32 (QLoRA).' : 'Quantized 8-bit export: loads where the loader reads its operators.'}
                </small>
              )}
            </label>
          ))}
          <p className="hint" data-testid="model-variant-reason">
            Recommended: {choice.reason}. The GPU memory is estimated from the file size; the Models list shows the exact figure once loaded.
          </p>
          <div className="models-drop-actions">
            <button type="button" className="button button-primary" data-testid="model-variant-import" disabled={off} onClick={importChoice}>
              Load this variant
            </button>
            <button type="button" className="button button-secondary" onClick={() => setChoice(null)}>
              Cancel
            </button>
          </div>
        </fieldset>
      )}
      <label className="models-option">
        <input type="checkbox" data-testid="model-f16-weights" checked={f16Weights} disabled={off} onChange={(e) => setF16Weights(e.currentTarget.checked)} />{' '}
        Convert f32 weights to f16 as the model loads: half the GPU memory for those weights, at f16&apos;s precision. The stored files stay
        as they are; 4-bit weights stay packed.
      </label>
      {readError && (
        <p className="models-inline-error" role="alert">
          {readError}
        </p>
      )}
      <form className="models-url" onSubmit={onUrl} noValidate>
        <label htmlFor="model-url">Or from a URL or a Hub repository id</label>
        <div className="models-url-row">
          <input
            id="model-url"
            type="text"
            data-testid="model-url-input"
            placeholder="org/model or https://huggingface.co/org/model"
            value={url}
            onChange={(e) => setUrl(e.currentTarget.value)}
            disabled={off}
          />
          <button type="submit" className="button button-primary" data-testid="model-url-load" disabled={off || checking || url.trim() === ''}>
            Load
          </button>
        </div>
        <p className="models-hint">
          A Hugging Face repository, or any folder served with the same files (<code>&lt;url&gt;/resolve/main/&lt;file&gt;</code> or{' '}
          <code>&lt;url&gt;/&lt;file&gt;</code>). The server must allow cross-origin requests.
        </p>
      </form>
    </section>
  );
}
