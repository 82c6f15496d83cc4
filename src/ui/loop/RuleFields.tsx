// The rule of a rule judge (or of the judging left after a person): the demo tone lexicon, words,
// a regular expression, length bounds, or a small JavaScript function run in a sandboxed Worker.
import { useLoopStore, type RuleKind } from '../../stores/loop.js';

export function RuleFields() {
  const rule = useLoopStore((s) => s.form.rule);
  const setRule = useLoopStore((s) => s.setRule);
  return (
    <div className="fields loop-fields">
      <label className="field">
        Rule
        <select data-testid="loop-rule" value={rule.kind} onChange={(e) => setRule({ kind: e.target.value as RuleKind })}>
          {RULE_KINDS.map((k) => (
            <option key={k.id} value={k.id}>
              {k.label}
            </option>
          ))}
        </select>
      </label>
      {rule.kind === 'words' && (
        <label className="field loop-field-wide">
          Good words, then | and bad words (commas between)
          <input value={rule.text} placeholder="good, kind | bad, cruel" onChange={(e) => setRule({ text: e.target.value })} />
        </label>
      )}
      {rule.kind === 'regex' && (
        <label className="field loop-field-wide">
          Pattern (1 when a candidate matches)
          <input value={rule.text} onChange={(e) => setRule({ text: e.target.value })} />
        </label>
      )}
      {rule.kind === 'length' && (
        <>
          <label className="field">
            At least (characters)
            <input type="number" min={0} value={rule.min} onChange={(e) => setRule({ min: e.target.value })} />
          </label>
          <label className="field">
            At most (characters)
            <input type="number" min={0} value={rule.max} onChange={(e) => setRule({ max: e.target.value })} />
          </label>
        </>
      )}
      {rule.kind === 'javascript' && (
        <>
          <label className="field loop-field-wide">
            Body of function (response, prompt): return a number or true/false
            <textarea data-testid="loop-rule-js" rows={4} value={rule.text} placeholder="return response.includes('good') ? 1 : 0;" onChange={(e) => setRule({ text: e.target.value })} />
          </label>
          <label className="field">
            Time limit (ms)
            <input type="number" min={1} value={rule.timeoutMs} onChange={(e) => setRule({ timeoutMs: Number(e.target.value) })} />
          </label>
        </>
      )}
    </div>
  );
}

export const RULE_KINDS: { id: RuleKind; label: string }[] = [
  { id: 'tone', label: 'the demo tone lexicon (hopeful minus gloomy words)' },
  { id: 'words', label: 'words: good minus bad' },
  { id: 'regex', label: 'a regular expression' },
  { id: 'length', label: 'length bounds' },
  { id: 'javascript', label: 'JavaScript (sandboxed, time-limited)' },
];
