// The loops stored here and the one selected: its rounds (candidates, judged sets, pairs, the
// training run, the win rate against the previous round by the same judge), what it is doing now
// (generation with its ETA, judging, training steps), and what it waits for.
import type { LoopRow } from '../../db/index.js';
import { useLoopStore } from '../../stores/loop.js';
import type { LoopProgress } from '../../services/loop.js';

const fmt = (x: number | undefined, digits = 3) => (x === undefined ? '–' : x.toFixed(digits));

function progressText(p: LoopProgress): string {
  switch (p.type) {
    case 'generation': {
      const g = p.progress;
      const eta = g.etaMs !== null && g.done < g.total ? `, about ${Math.ceil(g.etaMs / 1000)} s left` : '';
      return `round ${p.round}: generating, ${g.done} / ${g.total} prompts, ${g.tokens} tokens (${(g.tokens / Math.max(0.001, g.ms / 1000)).toFixed(0)} tokens/s)${eta}`;
    }
    case 'judge':
      return `round ${p.round}: judging, ${p.done} / ${p.total} candidate sets`;
    case 'train':
      return `round ${p.round}: training, step ${p.step} / ${p.totalSteps}${p.loss !== undefined ? `, loss ${p.loss.toFixed(4)}` : ''}`;
    case 'message':
      return `round ${p.round}: ${p.text}`;
  }
}

export function LoopView() {
  const s = useLoopStore();
  const loop = s.loops.find((l) => l.id === s.selectedId) ?? null;
  return (
    <section className="card" aria-labelledby="loop-list-title">
      <h2 id="loop-list-title" className="card-title">
        Loops
      </h2>
      {s.loops.length === 0 && <p className="hint">No loop yet.</p>}
      <ul className="loop-list" data-testid="loop-list">
        {s.loops.map((l) => (
          <li key={l.id}>
            <button type="button" className={`loop-item${l.id === s.selectedId ? ' loop-item-selected' : ''}`} onClick={() => s.select(l.id)}>
              <span className="loop-item-name">{l.name}</span>
              <span className={`badge ${l.status === 'done' ? 'badge-ok' : l.status === 'failed' ? 'badge-warn' : 'badge-neutral'}`} data-testid="loop-status">
                {l.status}
              </span>
              <span className="hint">
                round {l.rounds.at(-1)?.round} of {l.settings.rounds}, {l.rounds.at(-1)?.stage}
              </span>
            </button>
          </li>
        ))}
      </ul>
      {loop && <LoopDetail loop={loop} />}
    </section>
  );
}

function LoopDetail({ loop }: { loop: LoopRow }) {
  const s = useLoopStore();
  const progress = s.progress[loop.id];
  const active = progress !== undefined || loop.status === 'running';
  const waitingForRule = loop.status === 'waiting' && loop.settings.judge.type === 'rule';
  const waitingForPerson = loop.status === 'waiting' && loop.settings.judge.type === 'person' && loop.rounds.at(-1)?.stage === 'judge';
  return (
    <div className="loop-detail" data-testid="loop-detail" data-loop-status={loop.status} data-round={loop.rounds.at(-1)?.round} data-stage={loop.rounds.at(-1)?.stage}>
      <p className="hint">
        {loop.modelName}; judge: {loop.settings.judge.type}
        {loop.settings.judge.type === 'rule' ? ` (${loop.settings.judge.rule.name})` : ''}; pairs: {loop.settings.pairs.rule}; reference: {loop.settings.reference === 'previous' ? 'the previous round' : 'the base model'}
      </p>
      {progress && (
        <p className="loop-progress" data-testid="loop-progress" aria-live="polite">
          {progressText(progress)}
        </p>
      )}
      {loop.message && loop.status !== 'running' && (
        <p className="loop-message" data-testid="loop-message">
          {loop.message}
        </p>
      )}
      <div className="loop-actions">
        {active ? (
          <button type="button" className="button button-secondary" data-testid="loop-pause" onClick={() => void s.pause(loop.id)}>
            Pause
          </button>
        ) : (
          loop.status !== 'done' && (
            <button type="button" className="button button-primary" data-testid="loop-continue" onClick={() => void s.resume(loop.id)}>
              {loop.status === 'waiting' ? 'Continue' : 'Resume'}
            </button>
          )
        )}
        {waitingForRule && (
          <button type="button" className="button button-secondary" data-testid="loop-retry-rule" onClick={() => void s.retryWithRule(loop.id)}>
            Continue with the rule of the form
          </button>
        )}
        {waitingForPerson && (
          <button type="button" className="button button-secondary" data-testid="loop-judge-rest" onClick={() => void s.judgeRestWithRule(loop.id)}>
            Judge the rest with the rule
          </button>
        )}
        {!active && (
          <button type="button" className="button button-secondary" onClick={() => void s.remove(loop.id)}>
            Delete
          </button>
        )}
      </div>
      <table className="loop-table" data-testid="loop-rounds">
        <thead>
          <tr>
            <th>Round</th>
            <th>Stage</th>
            <th className="num">Judged</th>
            <th className="num">Pairs</th>
            <th className="num">Win rate</th>
            <th className="num">Mean score</th>
            <th className="num">Good / bad words</th>
          </tr>
        </thead>
        <tbody>
          {loop.rounds.map((r) => (
            <tr key={r.round} data-testid={`loop-round-${r.round}`} data-stage={r.stage}>
              <td>{r.round}</td>
              <td>{r.stage}</td>
              <td className="num">{r.judged ?? '–'}</td>
              <td className="num">{r.pairs ?? '–'}</td>
              <td className="num" data-testid={`loop-winrate-${r.round}`}>
                {r.evaluation ? `${fmt(r.evaluation.winRate)} (${r.evaluation.wins}/${r.evaluation.ties}/${r.evaluation.losses})` : r.evaluationDatasetId ? 'label the evaluation set' : '–'}
              </td>
              <td className="num">{r.evaluation ? `${fmt(r.evaluation.meanScore)} vs ${fmt(r.evaluation.meanScorePrevious)}` : '–'}</td>
              <td className="num">{r.evaluation?.words ? `${r.evaluation.words.good} / ${r.evaluation.words.bad}` : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
