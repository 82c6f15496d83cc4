// One setting of the new-run form, drawn from the registry: its label, the name TRL or PEFT give
// it, an input fitting its kind (number, on/off, automatic/on/off, a choice, several choices, text), its one-line
// help and default, and a reset when the user changed it. The text goes to the store as typed;
// the registry's codec and the configuration schema read it (the plan names a bad field).
import { SETTINGS, settingToText, type SettingPath } from '../../stores/methods.js';
import { defaultValue, fieldText, type FieldView } from '../../stores/train-form.js';
import { useTrainStore } from '../../stores/train.js';

const testId = (path: SettingPath) => `train-field-${path}`;

function ChoicesInput({ path, text, onChange }: { path: SettingPath; text: string; onChange: (t: string) => void }) {
  const chosen = text.split(',').map((s) => s.trim()).filter(Boolean);
  const toggle = (c: string) => onChange((chosen.includes(c) ? chosen.filter((x) => x !== c) : [...chosen, c]).join(', '));
  return (
    <span className="setting-choices" role="group" aria-label={SETTINGS[path].label} data-testid={testId(path)} data-value={chosen.join(',')}>
      {SETTINGS[path].choices!.map((c) => (
        <label key={c} className="setting-choice">
          <input type="checkbox" checked={chosen.includes(c)} onChange={() => toggle(c)} data-testid={`${testId(path)}-${c}`} />
          {c}
        </label>
      ))}
    </span>
  );
}

export function SettingField({ field }: { field: FieldView }) {
  const { path, trlName } = field;
  const spec = SETTINGS[path];
  const form = useTrainStore((s) => s.form);
  const setField = useTrainStore((s) => s.setField);
  const text = fieldText(form, path);
  const changed = form.values[path] !== undefined;
  const onChange = (t: string) => setField(path, t);
  const defaultText = settingToText(path, defaultValue(form.method, path));
  const shownDefault = (path === 'step_separator' ? JSON.stringify(defaultText) : defaultText) || 'none';
  let input;
  switch (spec.input) {
    case 'switch':
      input = <input type="checkbox" checked={text === 'true'} onChange={(e) => onChange(String(e.target.checked))} data-testid={testId(path)} />;
      break;
    case 'optional-switch':
      // Three states: automatic (null, the registry's codec writes "auto"), on, off.
      input = (
        <select value={text} onChange={(e) => onChange(e.target.value)} data-testid={testId(path)}>
          <option value="auto">automatic</option>
          <option value="true">on</option>
          <option value="false">off</option>
        </select>
      );
      break;
    case 'choice':
      input = (
        <select value={text} onChange={(e) => onChange(e.target.value)} data-testid={testId(path)}>
          {spec.choices!.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      );
      break;
    case 'choices':
      input = <ChoicesInput path={path} text={text} onChange={onChange} />;
      break;
    case 'number':
    case 'int':
      input = <input type="number" step={spec.input === 'int' ? 1 : 'any'} value={text} onChange={(e) => onChange(e.target.value)} data-testid={testId(path)} />;
      break;
    default:
      input = (
        <input
          type="text"
          // The step separator is usually a newline: shown escaped so it can be seen and typed.
          value={path === 'step_separator' ? JSON.stringify(text).slice(1, -1) : text}
          placeholder={spec.input.startsWith('optional') || spec.input === 'numbers' ? 'none' : undefined}
          onChange={(e) => onChange(path === 'step_separator' ? unescapeText(e.target.value) : e.target.value)}
          data-testid={testId(path)}
        />
      );
  }
  return (
    <label className={`field setting-field${spec.input === 'choices' ? ' train-field-wide' : ''}`} data-changed={changed}>
      <span>
        {spec.label} <code className="setting-name">{trlName}</code>
        {changed && (
          <button type="button" className="setting-reset" onClick={(e) => (e.preventDefault(), setField(path, null))} title={`Back to the default (${shownDefault})`} data-testid={`${testId(path)}-reset`}>
            reset
          </button>
        )}
      </span>
      {input}
      <small className="hint">
        {spec.help} Default: {shownDefault}.
      </small>
    </label>
  );
}

/** `\n` and `\t` typed as escapes back to the characters (the step separator field). */
function unescapeText(s: string): string {
  try {
    return JSON.parse(`"${s.replace(/"/g, '\\"')}"`) as string;
  } catch {
    return s;
  }
}
