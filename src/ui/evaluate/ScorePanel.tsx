// Scoring: choose the dataset, split, β and the adapters (runs with a saved adapter, imported PEFT
// adapters); the summary per model (base first) and every pair, sortable, filtered to the pairs a
// model still gets wrong. The pair list is virtualised: a held-out split can be thousands of pairs.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef } from 'react';
import { sortedPairs, useEvaluateStore, type ModelRef, type PairSort } from '../../stores/evaluate.js';
import { formatMetric } from '../train/format.js';
import type { EvalSplit } from '../../worker/evaluate-protocol.js';

const ROW_HEIGHT = 34;

export function ScorePanel({ model }: { model: ModelRef | null }) {
  const s = useEvaluateStore();
  const usable = s.runs.filter((r) => s.withAdapter[r.id]);
  const foreign = usable.filter((r) => model && r.modelId !== model.id);
  const file = useRef<HTMLInputElement>(null);

  return (
    <section className="card" aria-labelledby="eval-score-title">
      <h2 id="eval-score-title" className="card-title">
        Preference accuracy and reward margins
      </h2>
      <p className="hint">
        Implicit rewards β·(log π(y|x) − log π<sub>ref</sub>(y|x)) of chosen and rejected, with the base model as the reference (so its own rewards are 0). Accuracy: share of pairs whose chosen
        reward is higher. "Base prefers": the base model's own log π(chosen) &gt; log π(rejected).
      </p>
      <div className="fields eval-fields">
        <label className="field">
          Dataset
          <select data-testid="eval-dataset" value={s.settings.datasetId ?? ''} onChange={(e) => s.setSettings({ datasetId: e.target.value || null })}>
            {s.datasets.length === 0 && <option value="">no datasets</option>}
            {s.datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.counts.bySplit.test} test / {d.counts.bySplit.train} train)
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Split
          <select value={s.settings.split} onChange={(e) => s.setSettings({ split: e.target.value as EvalSplit })}>
            <option value="test">held out (test)</option>
            <option value="train">train</option>
            <option value="all">all</option>
          </select>
        </label>
        <label className="field">
          β
          <input type="number" min={0} step={0.05} value={s.settings.beta} onChange={(e) => s.setSettings({ beta: Number(e.target.value) })} />
        </label>
        <label className="field">
          Max length (tokens)
          <input type="number" min={1} value={s.settings.maxLength ?? ''} placeholder="no limit" onChange={(e) => s.setSettings({ maxLength: e.target.value ? Number(e.target.value) : null })} />
        </label>
      </div>
      <div className="eval-adapters" data-testid="eval-adapters">
        {usable.length === 0 && s.imported.length === 0 && <span className="hint">No tuned adapter yet: train a run on the Train page or import a PEFT adapter.</span>}
        {usable.map((r) => (
          <label key={r.id} title={model && r.modelId !== model.id ? `trained on ${r.modelName}` : undefined}>
            <input type="checkbox" checked={s.settings.adapterIds.includes(r.id)} onChange={() => s.toggleAdapter(r.id)} /> {r.name}
            {model && r.modelId !== model.id ? ` (on ${r.modelName})` : ''}
          </label>
        ))}
        {s.imported.map((a) => (
          <label key={a.id}>
            <input type="checkbox" checked={s.settings.adapterIds.includes(a.id)} onChange={() => s.toggleAdapter(a.id)} /> {a.name} (PEFT, r {a.r})
          </label>
        ))}
      </div>
      {foreign.length > 0 && <p className="hint">Runs trained on another model can only be scored with that model loaded.</p>}
      <div className="eval-actions">
        <button type="button" className="button" data-testid="eval-run" disabled={!model || s.running || !s.settings.datasetId} onClick={() => model && void s.run(model)}>
          {s.running ? 'Scoring…' : 'Score'}
        </button>
        {s.running && (
          <button type="button" className="button button-secondary" onClick={s.cancel}>
            Cancel
          </button>
        )}
        <button type="button" className="button button-secondary" onClick={() => file.current?.click()}>
          Import PEFT adapter…
        </button>
        <input
          ref={file}
          type="file"
          hidden
          multiple
          accept=".zip,.json,.safetensors"
          onChange={(e) => {
            const files = [...(e.target.files ?? [])];
            e.target.value = '';
            if (files.length) void s.importAdapter(files);
          }}
        />
        {!model && <span className="hint">Load a model on the Models page first.</span>}
        {s.progress && (
          <span className="hint" data-testid="eval-progress">
            {s.progress.stage === 'reference' ? 'reference log-probs' : s.progress.adapter}: {s.progress.done} / {s.progress.total}
          </span>
        )}
      </div>
      {s.result && <Results />}
    </section>
  );
}

function Results() {
  const result = useEvaluateStore((s) => s.result)!;
  const focusId = useEvaluateStore((s) => s.focusId) ?? 'base';
  const sort = useEvaluateStore((s) => s.sort);
  const wrongOnly = useEvaluateStore((s) => s.wrongOnly);
  const setView = useEvaluateStore((s) => s.setView);
  const pairs = useMemo(() => sortedPairs(result, focusId, sort, wrongOnly), [result, focusId, sort, wrongOnly]);
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: pairs.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 12 });
  const focusName = result.models.find((m) => m.id === focusId)?.name ?? focusId;

  return (
    <>
      <table className="eval-table" data-testid="eval-summary">
        <thead>
          <tr>
            <th>model</th>
            <th className="num">pairs</th>
            <th className="num">accuracy</th>
            <th className="num">mean margin</th>
            <th className="num">reward chosen</th>
            <th className="num">reward rejected</th>
            <th className="num">prefers chosen (log π)</th>
          </tr>
        </thead>
        <tbody>
          {result.models.map((m) => (
            <tr key={m.id} data-model={m.id}>
              <td>{m.name}</td>
              <td className="num">{m.pairs}</td>
              <td className="num" data-testid="eval-accuracy">{(m.accuracy * 100).toFixed(1)} %</td>
              <td className="num">{formatMetric(m.meanMargin)}</td>
              <td className="num">{formatMetric(m.meanRewardChosen)}</td>
              <td className="num">{formatMetric(m.meanRewardRejected)}</td>
              <td className="num">{(m.logpAccuracy * 100).toFixed(1)} %</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">
        {result.split} split, β {result.beta}; {result.skipped} record(s) left out{result.skippedReasons.length ? ` (${result.skippedReasons.join('; ')})` : ''}; {result.refCacheHits} reference log-prob(s) from the
        cache; {(result.ms / 1000).toFixed(1)} s.
      </p>
      <div className="eval-actions">
        <label className="field">
          Pairs scored by
          <select value={focusId} onChange={(e) => setView({ focusId: e.target.value })}>
            {result.models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Sort
          <select value={sort} onChange={(e) => setView({ sort: e.target.value as PairSort })}>
            <option value="margin-asc">worst margin first</option>
            <option value="margin-desc">best margin first</option>
            <option value="ref-margin-asc">base log π margin, lowest first</option>
            <option value="index">dataset order</option>
          </select>
        </label>
        <label>
          <input type="checkbox" checked={wrongOnly} onChange={(e) => setView({ wrongOnly: e.target.checked })} /> only pairs {focusName} gets wrong
        </label>
        <span className="hint">{pairs.length} pair(s)</span>
      </div>
      <div className="eval-pairs" ref={scroller} data-testid="eval-pairs">
        <div className="eval-pair-row eval-pair-head">
          <span>#</span>
          <span>prompt</span>
          <span>chosen</span>
          <span>rejected</span>
          <span className="num">margin</span>
          <span className="num">base Δlog π</span>
        </div>
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((v) => {
            const p = pairs[v.index]!;
            const score = p.scores[focusId]!;
            return (
              <div key={p.index} className={`eval-pair-row${score.correct ? '' : ' eval-wrong'}`} style={{ position: 'absolute', top: 0, left: 0, right: 0, height: ROW_HEIGHT, transform: `translateY(${v.start}px)` }} data-pair={p.index}>
                <span>{p.index + 1}</span>
                <span className="clip" title={p.prompt}>{p.prompt}</span>
                <span className="clip" title={p.chosen}>{p.chosen}</span>
                <span className="clip" title={p.rejected}>{p.rejected}</span>
                <span className="num">{formatMetric(score.margin)}</span>
                <span className="num">{formatMetric(p.refChosen - p.refRejected, 2)}</span>
              </div>
            );
          })}
        </div>
      </div>
    </>
  );
}
