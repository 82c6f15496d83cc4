// Import: pick or drop a file; the Worker detects its format; the preview shows the detected
// mapping field by field (each column can be changed) and what the first rows become; then the
// import runs with progress and cancel, and bad rows are listed for the person to choose.
// Dataset text is rendered as React text nodes only: HTML in a file is shown, never run.
import { useRef, useState, type DragEvent } from 'react';
import type { Converted } from '../../data/import/pipeline.js';
import { RECORD_KINDS, SPLITS } from '../../data/records.js';
import { formatChoices, mappingFields } from '../../services/data.js';
import { rowErrorParts, useDataStore, type ImportFlow } from '../../stores/data.js';
import { formatBytes, formatCount } from '../format.js';
import { turnsPreview } from './text.js';
import { HubDatasetImport } from '../hub/HubDatasetImport.js';

export function ImportPanel() {
  const flow = useDataStore((s) => s.flow);
  return (
    <section className="card" aria-labelledby="import-title" data-testid="import-panel" data-phase={flow.phase}>
      <h2 id="import-title" className="card-title">
        Import a file
      </h2>
      {flow.phase === 'idle' && <DropZone />}
      {flow.phase === 'idle' && <HubDatasetImport />}
      {flow.phase === 'detecting' && (
        <p className="data-status" role="status">
          <span className="spinner" /> Reading {flow.fileName}…
        </p>
      )}
      {flow.phase === 'preview' && <Preview flow={flow} />}
      {flow.phase === 'importing' && <Progress flow={flow} />}
      {flow.phase === 'partial' && <Partial flow={flow} />}
      {flow.phase === 'done' && <Done flow={flow} />}
      {flow.phase === 'error' && <Failed flow={flow} />}
    </section>
  );
}

function DropZone() {
  const pickFile = useDataStore((s) => s.pickFile);
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const take = (files: FileList | null) => {
    const f = files?.[0];
    if (f) void pickFile(f, f.name);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    take(e.dataTransfer.files);
  };
  return (
    <div
      className={`dropzone${over ? ' dropzone-over' : ''}`}
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <p>
        Drop a file here, or{' '}
        <button type="button" className="link-button" onClick={() => input.current?.click()}>
          choose one
        </button>
        .
      </p>
      <p className="data-hint">JSON, JSON Lines, CSV/TSV or Parquet, optionally gzip-compressed. TRL, HH-RLHF, UltraFeedback, LLaMA-Factory, OpenAI, Argilla and Label Studio layouts are recognised.</p>
      <input
        ref={input}
        type="file"
        className="visually-hidden"
        data-testid="import-file"
        aria-label="Choose a file to import"
        accept=".json,.jsonl,.ndjson,.csv,.tsv,.parquet,.gz"
        onChange={(e) => {
          take(e.currentTarget.files);
          e.currentTarget.value = '';
        }}
      />
    </div>
  );
}

type PreviewFlow = Extract<ImportFlow, { phase: 'preview' }>;

function Preview({ flow }: { flow: PreviewFlow }) {
  const s = useDataStore();
  const { detection, mapping } = flow;
  const good = flow.preview.filter((c) => 'record' in c).length;
  return (
    <div className="import-preview" data-testid="import-preview">
      <p className="data-status">
        <strong>{flow.fileName}</strong> · {detection.container.toUpperCase()}
        {detection.compressed ? ' (gzip)' : ''} · detected{' '}
        <strong data-testid="detected-format">{mapping ? formatChoices().find((f) => f.id === mapping.format)?.label : 'no known format'}</strong>
      </p>
      {detection.problem && !mapping && <p className="data-error">{detection.problem}. Pick a format below and map its columns.</p>}
      <div className="mapping-grid">
        <label>
          Format
          <select value={mapping?.format ?? ''} onChange={(e) => s.setFormat(e.currentTarget.value as PreviewFlow['detection']['candidates'][number]['format'])} data-testid="mapping-format">
            {!mapping && <option value="">Choose…</option>}
            {formatChoices().map((f) => {
              const score = detection.candidates.find((c) => c.format === f.id)?.score;
              return (
                <option key={f.id} value={f.id}>
                  {f.label}
                  {score !== undefined ? ` (fit ${Math.round(score * 100)}%)` : ''}
                </option>
              );
            })}
          </select>
        </label>
        {mapping && (
          <label>
            Record kind
            <select value={mapping.kind} onChange={(e) => s.setKind(e.currentTarget.value as (typeof RECORD_KINDS)[number])}>
              {RECORD_KINDS.map((k) => (
                <option key={k}>{k}</option>
              ))}
            </select>
          </label>
        )}
        <label>
          Dataset name
          <input value={flow.name} onChange={(e) => s.setImportName(e.currentTarget.value)} data-testid="import-name" />
        </label>
        <label>
          Split for rows without one
          <select value={flow.split} onChange={(e) => s.setImportSplit(e.currentTarget.value as (typeof SPLITS)[number])}>
            {SPLITS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
      </div>
      {mapping && (
        <details className="mapping-columns" open>
          <summary>Columns ({Object.values(mapping.columns).filter(Boolean).length} mapped)</summary>
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">Source column</th>
              </tr>
            </thead>
            <tbody>
              {mappingFields(mapping.format).map((f) => (
                <tr key={f.name}>
                  <th scope="row">
                    {f.label}
                    {f.required ? ' *' : ''}
                  </th>
                  <td>
                    <select
                      aria-label={`Column for ${f.label}`}
                      data-testid={`mapping-column-${f.name}`}
                      value={mapping.columns[f.name] ?? ''}
                      onChange={(e) => s.setColumn(f.name, e.currentTarget.value || null)}
                    >
                      <option value="">(none)</option>
                      {[...new Set([...detection.columns, ...(mapping.columns[f.name] ? [mapping.columns[f.name]!] : [])])].map((c) => (
                        <option key={c} value={c}>
                          {c}
                        </option>
                      ))}
                    </select>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {Object.entries(mapping.options).map(([name, value]) => (
            <label key={name} className="mapping-option">
              {typeof value === 'boolean' ? (
                <input type="checkbox" checked={value} onChange={(e) => s.setOption(name, e.currentTarget.checked)} />
              ) : (
                <input value={String(value)} onChange={(e) => s.setOption(name, typeof value === 'number' ? Number(e.currentTarget.value) : e.currentTarget.value)} />
              )}{' '}
              {name}
            </label>
          ))}
        </details>
      )}
      {mapping && (
        <>
          <h3 className="data-subtitle">
            First {flow.preview.length} rows: {good} convert, {flow.preview.length - good} with problems
          </h3>
          <PreviewRows rows={flow.preview} />
        </>
      )}
      <div className="data-actions">
        <button type="button" className="button button-primary" disabled={!mapping} onClick={() => void s.startImport()} data-testid="import-start">
          Import
        </button>
        <button type="button" className="button button-secondary" onClick={() => s.cancelImport()}>
          Cancel
        </button>
      </div>
    </div>
  );
}

function PreviewRows({ rows }: { rows: Converted[] }) {
  return (
    <ol className="preview-rows" data-testid="preview-rows">
      {rows.slice(0, 8).map((c, i) =>
        'record' in c ? (
          <li key={i} className="preview-row">
            <span className="badge badge-neutral">{c.record.kind}</span> <span className="preview-text">{turnsPreview(c.record.prompt, 160)}</span>
          </li>
        ) : (
          <li key={i} className="preview-row preview-row-bad">
            {c.errors.map((e, j) => (
              <span key={j}>
                {e.field ? <code>{e.field}</code> : null} {e.reason}
              </span>
            ))}
          </li>
        ),
      )}
    </ol>
  );
}

function Progress({ flow }: { flow: Extract<ImportFlow, { phase: 'importing' }> }) {
  const cancel = useDataStore((s) => s.cancelImport);
  const p = flow.progress;
  const total = p?.totalBytes ?? flow.totalBytes;
  const fraction = p && total ? Math.min(1, p.bytesRead / total) : undefined;
  return (
    <div data-testid="import-progress">
      <p className="data-status" role="status">
        Importing {flow.fileName}: {formatCount(p?.written ?? 0)} records
        {p?.rejected ? `, ${formatCount(p.rejected)} bad rows` : ''}
        {p && total ? ` · ${formatBytes(p.bytesRead)} of ${formatBytes(total)}` : ''}
      </p>
      <progress max={1} value={fraction} aria-label="Import progress" />
      <div className="data-actions">
        <button type="button" className="button button-secondary" onClick={cancel} data-testid="import-cancel">
          Cancel import
        </button>
      </div>
    </div>
  );
}

function Partial({ flow }: { flow: Extract<ImportFlow, { phase: 'partial' }> }) {
  const resolve = useDataStore((s) => s.resolvePartial);
  const { summary } = flow;
  return (
    <div data-testid="import-partial" role="alertdialog" aria-labelledby="partial-title">
      <p id="partial-title" className="data-error">
        {formatCount(summary.rejected)} bad row(s) in {flow.fileName}; {formatCount(summary.written)} rows are valid.
        {summary.fatal ? ` The file breaks off: ${summary.fatal}.` : ''} Nothing is stored until you choose.
      </p>
      <div className="bad-rows">
        <table className="data-table" data-testid="bad-rows">
          <thead>
            <tr>
              <th scope="col">Where</th>
              <th scope="col">Field</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {summary.errors.slice(0, 200).map((e, i) => {
              const p = rowErrorParts(e);
              return (
                <tr key={i}>
                  <td>{p.where}</td>
                  <td>{p.field && <code>{p.field}</code>}</td>
                  <td>{p.reason}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {summary.rejected > 200 && <p className="data-hint">…and {formatCount(summary.rejected - 200)} more.</p>}
      </div>
      <div className="data-actions">
        <button type="button" className="button button-primary" onClick={() => resolve(true)} data-testid="import-valid">
          Import the {formatCount(summary.written)} valid rows
        </button>
        <button type="button" className="button button-secondary" onClick={() => resolve(false)} data-testid="import-nothing">
          Import nothing
        </button>
      </div>
    </div>
  );
}

function Done({ flow }: { flow: Extract<ImportFlow, { phase: 'done' }> }) {
  const dismiss = useDataStore((s) => s.dismissImport);
  const { summary } = flow;
  return (
    <div data-testid="import-done">
      <p className="data-ok" role="status">
        Imported {formatCount(summary.written)} records into “{summary.datasetName}”
        {summary.rejected ? ` (${formatCount(summary.rejected)} bad rows left out)` : ''}.
      </p>
      <button type="button" className="button button-secondary" onClick={dismiss}>
        Import another file
      </button>
    </div>
  );
}

function Failed({ flow }: { flow: Extract<ImportFlow, { phase: 'error' }> }) {
  const dismiss = useDataStore((s) => s.dismissImport);
  return (
    <div data-testid="import-error">
      <p className="data-error" role="alert">
        {flow.fileName}: {flow.message}
      </p>
      <button type="button" className="button button-secondary" onClick={dismiss}>
        Try another file
      </button>
    </div>
  );
}
