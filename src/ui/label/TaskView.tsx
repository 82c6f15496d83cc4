// One labelling task on screen: the prompt, then two responses side by side (blind: "Left" and
// "Right", never which was chosen before), one response with thumbs, several to drag into order,
// or a chain of steps to mark the first wrong one. All dataset text is rendered as text nodes.
import { useEffect, useRef, useState, type DragEvent } from 'react';
import type { Turns } from '../../data/records.js';
import { editableText, withEditedText } from '../../services/label-tasks.js';
import { useLabelStore, type CurrentTask } from '../../stores/label.js';

export function TurnsView({ turns, testId }: { turns: Turns; testId?: string }) {
  if (typeof turns === 'string') {
    return (
      <div className="label-text" data-testid={testId}>
        {turns}
      </div>
    );
  }
  return (
    <div className="label-messages" data-testid={testId}>
      {turns.map((m, i) => (
        <div key={i} className={`label-message label-message-${m.role}`}>
          <span className="label-role">{m.role}</span>
          <div className="label-text">{m.content}</div>
        </div>
      ))}
    </div>
  );
}

interface TaskProps {
  current: CurrentTask;
  /** Canonical index being edited, or null. */
  editing: number | null;
  setEditing(canonical: number | null): void;
}

export function TaskView(props: TaskProps) {
  const { task } = props.current;
  return (
    <div className="label-task" data-testid="label-task" data-mode={task.mode} data-task-key={task.key}>
      <section className="label-prompt" aria-label="Prompt">
        <h2 className="label-heading">Prompt</h2>
        {task.system !== undefined && (
          <div className="label-system">
            <span className="label-role">system</span>
            <div className="label-text">{task.system}</div>
          </div>
        )}
        <TurnsView turns={task.prompt} testId="label-prompt" />
      </section>
      {task.mode === 'pair' && <PairView {...props} />}
      {task.mode === 'single' && <SingleView {...props} />}
      {task.mode === 'rank' && <RankView {...props} />}
      {task.mode === 'steps' && <StepsView {...props} />}
    </div>
  );
}

function Candidate({ current, canonical, title, editing, setEditing, testId }: TaskProps & { canonical: number; title: string; testId: string }) {
  const editCandidate = useLabelStore((s) => s.editCandidate);
  const original = current.task.candidates[canonical]!;
  const edited = current.edits[canonical];
  const shown = edited !== undefined ? withEditedText(original, edited) : original;
  const area = useRef<HTMLTextAreaElement>(null);
  const isEditing = editing === canonical;
  useEffect(() => {
    if (isEditing) area.current?.focus();
  }, [isEditing]);
  return (
    <article className="label-candidate" data-testid={testId} aria-label={title}>
      <header className="label-candidate-head">
        <h3 className="label-heading">{title}</h3>
        {edited !== undefined && <span className="badge badge-warn">edited</span>}
        <button type="button" className="link-button" onClick={() => setEditing(isEditing ? null : canonical)}>
          {isEditing ? 'Done' : 'Edit'}
        </button>
      </header>
      {isEditing ? (
        <textarea
          ref={area}
          className="label-editor"
          aria-label={`Edit ${title}`}
          value={edited ?? editableText(original)}
          onChange={(e) => editCandidate(canonical, e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape' || (e.key === 'Enter' && (e.ctrlKey || e.metaKey))) {
              e.preventDefault();
              setEditing(null);
            }
          }}
        />
      ) : (
        <TurnsView turns={shown} />
      )}
    </article>
  );
}

function PairView(props: TaskProps) {
  const act = useLabelStore((s) => s.act);
  const [left, right] = props.current.shown;
  return (
    <>
      <div className="label-pair">
        <Candidate {...props} canonical={left!} title="Left" testId="candidate-left" />
        <Candidate {...props} canonical={right!} title="Right" testId="candidate-right" />
      </div>
      <div className="label-buttons">
        <button type="button" className="button button-primary" onClick={() => void act({ type: 'left' })}>
          ← Left is better
        </button>
        <button type="button" className="button button-secondary" onClick={() => void act({ type: 'tie' })}>
          Tie (T)
        </button>
        <button type="button" className="button button-secondary" onClick={() => void act({ type: 'bothBad' })}>
          Both bad (B)
        </button>
        <button type="button" className="button button-primary" onClick={() => void act({ type: 'right' })}>
          Right is better →
        </button>
      </div>
    </>
  );
}

function SingleView(props: TaskProps) {
  const act = useLabelStore((s) => s.act);
  return (
    <>
      <div className="label-single">
        <Candidate {...props} canonical={0} title="Response" testId="candidate-single" />
      </div>
      <div className="label-buttons">
        <button type="button" className="button button-primary" onClick={() => void act({ type: 'thumb', up: true })} aria-label="Thumbs up">
          👍 Good (↑)
        </button>
        <button type="button" className="button button-secondary" onClick={() => void act({ type: 'thumb', up: false })} aria-label="Thumbs down">
          👎 Bad (↓)
        </button>
      </div>
    </>
  );
}

/** The order the person arranged, as shown positions, best first; reset with each task. */
export const rankOrder = { current: [] as number[] };

function RankView({ current }: TaskProps) {
  const act = useLabelStore((s) => s.act);
  const [order, setOrder] = useState(() => current.shown.map((_, i) => i));
  const [dragging, setDragging] = useState<number | null>(null);
  useEffect(() => setOrder(current.shown.map((_, i) => i)), [current]);
  rankOrder.current = order;
  const move = (from: number, to: number) => {
    if (to < 0 || to >= order.length || from === to) return;
    const next = [...order];
    const [item] = next.splice(from, 1);
    next.splice(to, 0, item!);
    setOrder(next);
  };
  return (
    <>
      <p className="data-hint">Drag the responses into order, best at the top (or use the arrows), then save with Enter.</p>
      <ol className="label-rank" data-testid="rank-list">
        {order.map((position, place) => (
          <li
            key={position}
            className={`label-rank-item${dragging === place ? ' label-rank-dragging' : ''}`}
            draggable
            onDragStart={(e: DragEvent) => {
              setDragging(place);
              e.dataTransfer.effectAllowed = 'move';
            }}
            onDragOver={(e) => e.preventDefault()}
            onDrop={(e) => {
              e.preventDefault();
              if (dragging !== null) move(dragging, place);
              setDragging(null);
            }}
            onDragEnd={() => setDragging(null)}
          >
            <span className="label-rank-place">{place + 1}</span>
            <div className="label-rank-text">
              <TurnsView turns={current.task.candidates[current.shown[position]!]!} />
            </div>
            <span className="label-rank-moves">
              <button type="button" className="icon-button" aria-label={`Move response ${place + 1} up`} onClick={() => move(place, place - 1)}>
                ↑
              </button>
              <button type="button" className="icon-button" aria-label={`Move response ${place + 1} down`} onClick={() => move(place, place + 1)}>
                ↓
              </button>
            </span>
          </li>
        ))}
      </ol>
      <div className="label-buttons">
        <button type="button" className="button button-primary" onClick={() => void act({ type: 'rank', order })}>
          Save ranking (Enter)
        </button>
      </div>
    </>
  );
}

function StepsView({ current }: TaskProps) {
  const act = useLabelStore((s) => s.act);
  const markStep = useLabelStore((s) => s.markStep);
  const saveStep = useLabelStore((s) => s.saveStep);
  const generateStep = useLabelStore((s) => s.generateStep);
  const setCorrection = useLabelStore((s) => s.setCorrection);
  const marked = useLabelStore((s) => s.markedStep);
  const correction = useLabelStore((s) => s.correction);
  const note = useLabelStore((s) => s.stepNote);
  const generating = useLabelStore((s) => s.generating);
  return (
    <>
      <p className="data-hint">
        Click the first wrong step (or press its number), give its correction (type it, or generate one with G), then save with Enter; 0 if every step is right.
      </p>
      <ol className="label-steps" data-testid="step-list">
        {current.task.steps.map((step, i) => (
          <li key={i}>
            <button
              type="button"
              className={`label-step${marked === i ? ' label-step-marked' : ''}`}
              aria-pressed={marked === i}
              onClick={() => void markStep(i)}
            >
              <span className="label-rank-place">{i + 1}</span>
              <span className="label-text">{step}</span>
            </button>
          </li>
        ))}
      </ol>
      {marked !== null && note && !note.saved && (
        <p className="label-gap" role="status" data-testid="step-gap">
          Step {marked + 1} marked as the first wrong one: {note.gap}.
        </p>
      )}
      <label className="label-correction">
        {marked === null ? 'Correction for the first wrong step' : `Correction for step ${marked + 1}`}
        <input
          value={correction}
          onChange={(e) => setCorrection(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && marked !== null) {
              e.preventDefault();
              void saveStep();
            } else if (e.key === 'Escape') e.currentTarget.blur();
          }}
          data-testid="step-correction"
        />
      </label>
      <div className="label-buttons">
        <button
          type="button"
          className="button button-secondary"
          disabled={marked === null || generating}
          onClick={() => void generateStep()}
          title="The model loaded on the Models page (with the adapter chosen for sampling on the Train page) continues the prompt and the steps before the marked one"
          data-testid="step-generate"
        >
          {generating ? 'Generating…' : 'Generate a correct step (G)'}
        </button>
        {marked !== null && (
          <button type="button" className="button button-primary" onClick={() => void saveStep()} data-testid="step-save">
            {correction.trim() ? `Save step ${marked + 1} with this correction (Enter)` : `Save without a correction (Enter)`}
          </button>
        )}
        <button type="button" className="button button-secondary" onClick={() => void act({ type: 'steps', firstWrong: null })}>
          Every step is right (0)
        </button>
      </div>
    </>
  );
}
