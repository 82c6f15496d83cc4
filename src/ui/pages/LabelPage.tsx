// Label: a queue of tasks from a dataset, decided with the keyboard. Each decision is saved at
// once (reload and carry on); undo takes back the latest label. Shortcuts, guidelines, progress
// and the agreement between annotators are on the page.
import { useEffect, useState } from 'react';
import { useLabelStore } from '../../stores/label.js';
import { useNavigationStore } from '../../stores/navigation.js';
import { PageShell } from '../components/PageShell.js';
import { formatCount } from '../format.js';
import { commandFor, keyLabel, keyName, SHORTCUTS, type Command } from '../label/keys.js';
import { rankOrder, TaskView } from '../label/TaskView.js';
import '../data/data.css';
import '../label/label.css';

export function LabelPage() {
  const s = useLabelStore();
  const navigate = useNavigationStore((n) => n.navigate);
  const [editing, setEditing] = useState<number | null>(null);
  const [help, setHelp] = useState(true);
  const [name, setName] = useState('');

  useEffect(() => {
    void s.init().then(() => setName(useLabelStore.getState().annotator));
  }, []);
  useEffect(() => setEditing(null), [s.current?.task.key]);

  const mode = s.current?.task.mode ?? null;
  useEffect(() => {
    const run = (command: Command) => {
      const st = useLabelStore.getState();
      const c = st.current;
      switch (command) {
        case 'left':
        case 'right':
        case 'tie':
        case 'bothBad':
        case 'skip':
          return void st.act({ type: command });
        case 'thumbUp':
        case 'thumbDown':
          return void st.act({ type: 'thumb', up: command === 'thumbUp' });
        case 'submitRank':
          return void st.act({ type: 'rank', order: rankOrder.current });
        case 'allStepsRight':
          return void st.act({ type: 'steps', firstWrong: null });
        case 'saveStep':
          return void st.saveStep();
        case 'generateStep':
          return void st.generateStep();
        case 'next':
          return void st.next();
        case 'undo':
          return void st.undo();
        case 'editLeft':
          return setEditing(c ? (c.shown[0] ?? 0) : null);
        case 'editRight':
          return setEditing(c?.shown[1] ?? null);
        case 'help':
          return setHelp((h) => !h);
      }
    };
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
      if (e.altKey) return;
      const key = keyName(e);
      if (mode === 'steps' && /^[1-9]$/.test(key)) {
        const k = Number(key) - 1;
        if (k < (useLabelStore.getState().current?.task.steps.length ?? 0)) {
          e.preventDefault();
          void useLabelStore.getState().markStep(k);
        }
        return;
      }
      const command = commandFor(key, mode);
      if (!command) return;
      // A focused button answers Enter itself.
      if (key === 'Enter' && target?.tagName === 'BUTTON') return;
      e.preventDefault();
      run(command);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [mode]);

  const done = s.labelled;
  const fraction = s.total ? done / s.total : 0;
  const labelSources = s.sources;
  return (
    <PageShell page="label" lead="Compare responses blind and pick the better one with the keyboard. Every choice is saved at once and becomes a preference record.">
      <div className="label-page" data-testid="label-page" data-status={s.status}>
        <div className="label-toolbar">
          <label>
            Dataset
            <select value={s.sourceId ?? ''} onChange={(e) => void s.selectSource(e.currentTarget.value)} data-testid="label-source">
              {labelSources.length === 0 && <option value="">No datasets</option>}
              {labelSources.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name} ({formatCount(d.counts.total)})
                </option>
              ))}
            </select>
          </label>
          <form
            className="label-annotator"
            onSubmit={(e) => {
              e.preventDefault();
              void s.setAnnotator(name);
              (document.activeElement as HTMLElement | null)?.blur();
            }}
          >
            <label>
              Annotator
              <input value={name} onChange={(e) => setName(e.currentTarget.value)} onBlur={() => name.trim() !== s.annotator && void s.setAnnotator(name)} placeholder="Your name" data-testid="annotator" />
            </label>
          </form>
          <div className="label-progress" data-testid="label-progress" data-labelled={s.labelled} data-total={s.total} data-skipped={s.skipped}>
            <progress max={1} value={fraction} aria-label="Labelled so far" />
            <span>
              {formatCount(s.labelled)} of {formatCount(s.total)} labelled · {formatCount(s.skipped)} skipped · {formatCount(Math.max(0, s.queue.length - s.skipped))} to go
            </span>
          </div>
        </div>

        {labelSources.length === 0 && s.status !== 'loading' && (
          <p className="data-hint">
            No data yet.{' '}
            <button type="button" className="link-button" onClick={() => navigate('data')}>
              Import a dataset
            </button>{' '}
            first.
          </p>
        )}
        {labelSources.length > 0 && !s.annotator && <p className="data-hint">Type your name above and press Enter to start: labels record who gave them.</p>}
        {s.status === 'finished' && (
          <p className="data-ok" data-testid="label-finished">
            Every task of this dataset is labelled. Its labels are in the dataset “… · labels” on the Data page.
          </p>
        )}
        {s.error && (
          <p className="data-error" role="alert">
            {s.error}
          </p>
        )}
        <p className="label-last" role="status" data-testid="label-last">
          {s.lastAction ?? ''}
        </p>
        {s.stepNote?.saved && (
          <p className="label-gap" data-testid="label-step-gap">
            Saved; step_dpo will leave it out: {s.stepNote.gap}.{s.stepNote.firstWrong !== null ? ' Undo (U) to add the correction.' : ''}
          </p>
        )}

        <div className="label-layout">
          <div className="label-main">
            {s.current && (
              <>
                <TaskView current={s.current} editing={editing} setEditing={setEditing} />
                <label className="label-rationale">
                  Rationale (optional)
                  <textarea value={s.rationale} onChange={(e) => s.setRationale(e.currentTarget.value)} rows={2} data-testid="rationale" />
                </label>
                <div className="label-buttons">
                  <button type="button" className="button button-secondary" onClick={() => void s.act({ type: 'skip' })}>
                    Skip (S)
                  </button>
                  <button type="button" className="button button-secondary" onClick={() => void s.next()}>
                    Next (N)
                  </button>
                  <button type="button" className="button button-secondary" onClick={() => void s.undo()}>
                    Undo (U)
                  </button>
                  {s.current.task.mode !== 'steps' && (
                    <button type="button" className="button button-secondary" disabled={s.generating} onClick={() => void s.generate()} title="Sample two new responses to this prompt from the model loaded on the Models page">
                      {s.generating ? 'Generating…' : 'Generate candidates with the current model'}
                    </button>
                  )}
                </div>
              </>
            )}
          </div>
          <aside className="label-side">
            {help && (
              <section className="card" aria-labelledby="shortcuts-title" data-testid="shortcuts">
                <h2 id="shortcuts-title" className="card-title">
                  Keyboard
                </h2>
                <dl className="label-shortcuts">
                  {SHORTCUTS.filter((k) => k.modes === 'all' || (mode && k.modes.includes(mode))).map((k) => (
                    <div key={k.command}>
                      <dt>
                        {k.keys.map((key) => (
                          <kbd key={key}>{keyLabel(key)}</kbd>
                        ))}
                      </dt>
                      <dd>{k.label}</dd>
                    </div>
                  ))}
                </dl>
              </section>
            )}
            <details className="card label-guidelines">
              <summary>Guidelines</summary>
              <textarea value={s.guidelines} onChange={(e) => s.setGuidelines(e.currentTarget.value)} rows={7} aria-label="Labelling guidelines" />
            </details>
            <section className="card" aria-labelledby="agreement-title" data-testid="agreement">
              <h2 id="agreement-title" className="card-title">
                Agreement
              </h2>
              {!s.agreement || s.agreement.items === 0 ? (
                <p className="data-hint">No task has been labelled by two annotators yet.</p>
              ) : (
                <>
                  <p>
                    {formatCount(s.agreement.items)} tasks labelled more than once: {Math.round((s.agreement.observed ?? 0) * 100)}% of {formatCount(s.agreement.comparisons)} comparisons agree.
                  </p>
                  <table className="data-table">
                    <thead>
                      <tr>
                        <th scope="col">Annotators</th>
                        <th scope="col">Tasks</th>
                        <th scope="col">Agree</th>
                        <th scope="col">κ</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.agreement.byPair.map((p) => (
                        <tr key={`${p.a}\u0000${p.b}`}>
                          <td>
                            {p.a} · {p.b}
                          </td>
                          <td>{p.items}</td>
                          <td>{Math.round(p.observed * 100)}%</td>
                          <td>{p.kappa === null ? '—' : p.kappa.toFixed(2)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </>
              )}
              <button type="button" className="link-button" onClick={() => void s.refreshAgreement()}>
                Recompute
              </button>
            </section>
          </aside>
        </div>
      </div>
    </PageShell>
  );
}
