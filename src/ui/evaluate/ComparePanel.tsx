// Generations side by side (base against tuned, or two adapters) for a prompt set, with the same
// seed and settings on both sides; then blind A/B judging: which output is on the left is drawn
// at random, verdicts by keyboard (← or 1: left, → or 2: right, ↓ or 0: tie, s: skip,
// Backspace: undo), the win rate with its 95 % Wilson interval, and the judged pairs saved into a
// dataset as preference records.
import { useEffect, useState } from 'react';
import { useEvaluateStore, type ModelRef } from '../../stores/evaluate.js';
import { promptText, winRate, type Side } from '../../services/evaluate.js';

const num = (v: string, fallback: number) => (v === '' || !Number.isFinite(Number(v)) ? fallback : Number(v));

export function ComparePanel({ model }: { model: ModelRef | null }) {
  const s = useEvaluateStore();
  const choices: Side[] = [
    { adapterId: null, label: 'base' },
    ...s.runs.filter((r) => s.withAdapter[r.id] && (!model || r.modelId === model.id)).map((r) => ({ adapterId: r.id, label: r.name })),
    ...s.imported.map((a) => ({ adapterId: a.id, label: a.name })),
  ];
  const pick = (i: 0 | 1, id: string) => {
    const side = choices.find((c) => (c.adapterId ?? '') === id) ?? choices[0]!;
    const sides: [Side, Side] = [...s.sides];
    sides[i] = side;
    s.setView({ sides });
  };
  const sp = s.sampling;
  return (
    <section className="card" aria-labelledby="eval-compare-title">
      <h2 id="eval-compare-title" className="card-title">
        Side by side, then blind
      </h2>
      <div className="fields eval-fields">
        {([0, 1] as const).map((i) => (
          <label key={i} className="field">
            {i === 0 ? 'Side A' : 'Side B'}
            <select data-testid={`eval-side-${i}`} value={s.sides[i].adapterId ?? ''} onChange={(e) => pick(i, e.target.value)}>
              {choices.map((c) => (
                <option key={c.adapterId ?? 'base'} value={c.adapterId ?? ''}>
                  {c.label}
                </option>
              ))}
            </select>
          </label>
        ))}
        <label className="field">
          Temperature
          <input type="number" min={0} step={0.1} value={sp.temperature} onChange={(e) => s.setView({ sampling: { ...sp, temperature: num(e.target.value, sp.temperature) } })} />
        </label>
        <label className="field">
          Top-p
          <input type="number" min={0.01} max={1} step={0.05} value={sp.topP} onChange={(e) => s.setView({ sampling: { ...sp, topP: num(e.target.value, sp.topP) } })} />
        </label>
        <label className="field">
          Max new tokens
          <input type="number" min={1} value={sp.maxNewTokens} onChange={(e) => s.setView({ sampling: { ...sp, maxNewTokens: Math.max(1, Math.round(num(e.target.value, sp.maxNewTokens))) } })} />
        </label>
        <label className="field">
          Seed (both sides)
          <input type="number" step={1} value={sp.seed} onChange={(e) => s.setView({ sampling: { ...sp, seed: Math.round(num(e.target.value, sp.seed)) } })} />
        </label>
        <label className="field eval-field-wide">
          Prompts (separate them with a line of ---)
          <textarea data-testid="eval-prompts" rows={5} value={s.prompts} onChange={(e) => s.setView({ prompts: e.target.value })} />
          <span className="hint">
            Each prompt goes through the model's chat template when it has one. A conversation taken from the dataset is sent whole (system prompt and every turn) while its block is unedited.
          </span>
        </label>
      </div>
      <div className="eval-actions">
        <button type="button" className="button button-secondary" disabled={!s.settings.datasetId} onClick={() => void s.promptsFromDataset(8)}>
          Take 8 prompts from the dataset ({s.settings.split})
        </button>
        <button type="button" className="button" data-testid="eval-generate" disabled={!model || s.generating} onClick={() => void s.generate()}>
          {s.generating ? `Generating… ${s.rows.length}` : 'Generate both'}
        </button>
        {s.generating && (
          <button type="button" className="button button-secondary" onClick={s.stopGenerating}>
            Stop
          </button>
        )}
      </div>
      {s.rows.length > 0 && (
        <div className="eval-side-by-side" data-testid="eval-side-by-side">
          {s.rows.map((r, i) => (
            <div key={i} className="eval-sbs-row">
              <div className="eval-sbs-prompt">{promptText(r)}</div>
              <div>
                <div className="eval-output-label">A: {s.sides[0].label}</div>
                <div className="eval-output">{r.a}</div>
              </div>
              <div>
                <div className="eval-output-label">B: {s.sides[1].label}</div>
                <div className="eval-output">{r.b}</div>
              </div>
            </div>
          ))}
        </div>
      )}
      {!s.generating && s.items.length > 0 && <Judge model={model} />}
    </section>
  );
}

function Judge({ model }: { model: ModelRef | null }) {
  const items = useEvaluateStore((s) => s.items);
  const index = useEvaluateStore((s) => s.judgeIndex);
  const sides = useEvaluateStore((s) => s.sides);
  const saved = useEvaluateStore((s) => s.saved);
  const datasets = useEvaluateStore((s) => s.datasets);
  const { judge, undoJudge, saveJudged } = useEvaluateStore.getState();
  const [target, setTarget] = useState('new');
  const [newName, setNewName] = useState('judged pairs');
  const [active, setActive] = useState(false);
  const item = items[index];
  const w = winRate(items);

  useEffect(() => {
    if (!active) return;
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      if (el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT')) return;
      const k = e.key;
      const verdict = k === 'ArrowLeft' || k === '1' ? 'left' : k === 'ArrowRight' || k === '2' ? 'right' : k === 'ArrowDown' || k === '0' ? 'tie' : k === 's' ? 'skip' : null;
      if (verdict) {
        e.preventDefault();
        judge(verdict);
      } else if (k === 'Backspace') {
        e.preventDefault();
        undoJudge();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [active, judge, undoJudge]);

  if (!active) {
    return (
      <div className="eval-actions">
        <button type="button" className="button" data-testid="eval-judge-start" onClick={() => setActive(true)}>
          Judge blind ({items.length} pairs)
        </button>
      </div>
    );
  }
  const [leftText, rightText] = item ? (item.left === 'a' ? [item.a, item.b] : [item.b, item.a]) : ['', ''];
  return (
    <div className="eval-judge" data-testid="eval-judge">
      {item ? (
        <>
          <p className="hint">
            Pair {index + 1} of {items.length}. Which answer is better? ← or 1: left · → or 2: right · ↓ or 0: tie · s: skip · Backspace: undo
          </p>
          <div className="eval-sbs-prompt">{promptText(item)}</div>
          <div className="eval-judge-pair">
            <button type="button" className="eval-output" data-testid="eval-left" onClick={() => judge('left')}>
              {leftText}
            </button>
            <button type="button" className="eval-output" data-testid="eval-right" onClick={() => judge('right')}>
              {rightText}
            </button>
          </div>
          <div className="eval-actions">
            <button type="button" className="button button-secondary" onClick={() => judge('tie')}>
              Tie
            </button>
            <button type="button" className="button button-secondary" onClick={() => judge('skip')}>
              Skip
            </button>
            <button type="button" className="button button-secondary" disabled={index === 0} onClick={undoJudge}>
              Undo
            </button>
          </div>
        </>
      ) : (
        <p className="hint">Every pair is judged.</p>
      )}
      <p className="eval-winrate" data-testid="eval-winrate">
        {sides[0].label} against {sides[1].label}: {w.n === 0 ? 'nothing judged yet' : `win rate ${(w.rate * 100).toFixed(1)} % (95 % CI ${(w.interval.low * 100).toFixed(1)}–${(w.interval.high * 100).toFixed(1)} %), ${w.wins} wins, ${w.losses} losses, ${w.ties} ties`}
      </p>
      <div className="eval-actions">
        <label className="field">
          Save judged pairs to
          <select value={target} onChange={(e) => setTarget(e.target.value)}>
            <option value="new">a new dataset</option>
            {datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
        {target === 'new' && (
          <label className="field">
            Name
            <input value={newName} onChange={(e) => setNewName(e.target.value)} />
          </label>
        )}
        <button type="button" className="button button-secondary" disabled={!model || w.wins + w.losses === 0} onClick={() => model && void saveJudged(model, target === 'new' ? { newName } : { datasetId: target })}>
          Save as preference pairs
        </button>
        {saved && <span className="hint">{saved.saved} pair(s) saved.</span>}
      </div>
    </div>
  );
}
