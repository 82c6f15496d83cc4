// Try the active model: a prompt (and, through the model's chat template, a system prompt), the
// sampling settings, the completion streamed token by token. The template is on by default when
// the model's tokenizer has one; the prompt becomes tokens as training's prompts do.
import type { FormEvent } from 'react';
import { useModelsStore } from '../../stores/models.js';
import type { GenerationSettings } from '../../worker/protocol.js';

const FINISH: Record<string, string> = {
  eos: 'the model ended the text',
  stop: 'a stop string was reached',
  length: 'the token limit was reached',
  abort: 'stopped',
};

interface NumberFieldProps {
  id: keyof GenerationSettings;
  label: string;
  value: number;
  min: number;
  max?: number;
  step: number;
  hint: string;
  disabled: boolean;
  onChange(v: number): void;
}

function NumberField({ id, label, value, min, max, step, hint, disabled, onChange }: NumberFieldProps) {
  return (
    <label className="playground-field" title={hint}>
      <span>{label}</span>
      <input
        type="number"
        data-testid={`playground-${id}`}
        value={Number.isFinite(value) ? value : ''}
        min={min}
        max={max}
        step={step}
        disabled={disabled}
        onChange={(e) => onChange(e.currentTarget.valueAsNumber)}
      />
    </label>
  );
}

export function Playground() {
  const loaded = useModelsStore((s) => s.models.find((m) => m.id === s.loadedId) ?? null);
  const p = useModelsStore((s) => s.playground);
  const setPrompt = useModelsStore((s) => s.setPrompt);
  const setSystem = useModelsStore((s) => s.setSystem);
  const setSettings = useModelsStore((s) => s.setSettings);
  const setUseChatTemplate = useModelsStore((s) => s.setUseChatTemplate);
  const generate = useModelsStore((s) => s.generate);
  const stop = useModelsStore((s) => s.stopGeneration);
  const running = p.status === 'running';
  const s = p.settings;

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (!running && loaded) void generate();
  };

  return (
    <section className="card" aria-labelledby="playground-title" data-testid="playground">
      <h2 id="playground-title" className="card-title">
        Playground {loaded && <span className="models-card-subtitle">· {loaded.name}</span>}
      </h2>
      {!loaded ? (
        <p className="models-hint">Load or choose a model to try it here.</p>
      ) : (
        <form className="playground" onSubmit={onSubmit} noValidate>
          {loaded.hasChatTemplate && (
            <label className="playground-prompt" title={p.useChatTemplate ? 'Rendered first by the chat template' : 'A system prompt needs the chat template: turn it on below'}>
              <span>System prompt (optional)</span>
              <textarea
                data-testid="playground-system"
                rows={2}
                value={p.system}
                placeholder={p.useChatTemplate ? 'e.g. You answer in one sentence.' : 'needs the chat template'}
                disabled={running || !p.useChatTemplate}
                onChange={(e) => setSystem(e.currentTarget.value)}
              />
            </label>
          )}
          <label className="playground-prompt">
            <span>Prompt</span>
            <textarea
              data-testid="playground-prompt"
              rows={3}
              value={p.prompt}
              disabled={running}
              onChange={(e) => setPrompt(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) onSubmit(e);
              }}
            />
          </label>
          <div className="playground-settings">
            <NumberField id="temperature" label="Temperature" value={s.temperature} min={0} max={5} step={0.1} hint="0 picks the likeliest token every time" disabled={running} onChange={(v) => setSettings({ temperature: v })} />
            <NumberField id="topK" label="Top-k" value={s.topK} min={0} step={1} hint="Keep the k likeliest tokens; 0 keeps all" disabled={running} onChange={(v) => setSettings({ topK: v })} />
            <NumberField id="topP" label="Top-p" value={s.topP} min={0.01} max={1} step={0.05} hint="Keep the likeliest tokens up to this probability; 1 keeps all" disabled={running} onChange={(v) => setSettings({ topP: v })} />
            <NumberField id="maxNewTokens" label="Max new tokens" value={s.maxNewTokens} min={1} max={loaded.dims.contextLength} step={1} hint="Longest completion" disabled={running} onChange={(v) => setSettings({ maxNewTokens: v })} />
            <NumberField id="seed" label="Seed" value={s.seed} min={0} step={1} hint="Same seed, same settings: same text" disabled={running} onChange={(v) => setSettings({ seed: v })} />
            <label className="playground-field playground-stops" title="Stop when the text contains one of these; one per line">
              <span>Stop strings (one per line)</span>
              <textarea
                data-testid="playground-stopStrings"
                rows={1}
                value={s.stopStrings.join('\n')}
                disabled={running}
                onChange={(e) => setSettings({ stopStrings: e.currentTarget.value.split('\n') })}
              />
            </label>
            {loaded.hasChatTemplate && (
              <label className="playground-check">
                <input type="checkbox" data-testid="playground-chat-template" checked={p.useChatTemplate} disabled={running} onChange={(e) => setUseChatTemplate(e.currentTarget.checked)} />
                <span>Use the chat template (system prompt, then the prompt as a user turn)</span>
              </label>
            )}
          </div>
          <div className="playground-actions">
            {running ? (
              <button type="button" className="button button-secondary" data-testid="playground-stop" onClick={stop}>
                Stop
              </button>
            ) : (
              <button type="submit" className="button button-primary" data-testid="playground-generate">
                Generate
              </button>
            )}
            <span className="models-hint" data-testid="playground-status" data-status={p.status}>
              {running && (
                <>
                  <span className="spinner" aria-hidden="true" /> Generating…
                </>
              )}
              {p.summary &&
                !running &&
                `${p.summary.tokens} tokens in ${(p.summary.ms / 1000).toFixed(1)} s (${((p.summary.tokens * 1000) / Math.max(p.summary.ms, 1)).toFixed(1)} tokens/s): ${FINISH[p.summary.finishReason]}.`}
              {p.status === 'stopped' && !p.summary && 'Stopped.'}
            </span>
          </div>
          {p.error && (
            <p className="models-inline-error" role="alert" data-testid="playground-error">
              {p.error.message}
            </p>
          )}
          <output className="playground-output" data-testid="playground-output" aria-live="polite">
            {p.prompt && !p.useChatTemplate && (p.output || running) ? <span className="playground-prompt-echo">{p.prompt}</span> : null}
            <span data-testid="playground-completion">{p.output}</span>
          </output>
        </form>
      )}
    </section>
  );
}
