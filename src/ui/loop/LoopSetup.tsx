// A new loop: the prompt set and held-out prompts, the rounds, how candidates are sampled, who
// judges (a person, a rule, a model, an adapter's reward), how pairs are made, and the training
// of each round (from the previous round's adapter, against the previous policy or the base).
import { useLoopStore, type JudgeKind, type LoopModelRef } from '../../stores/loop.js';
import { PAIR_RULES } from '../../engine/loop/config.js';
import { METHOD_IDS, METHODS } from '../../stores/methods.js';

/** Methods that train on what a loop's judgements make: pairs, or rankings (the method registry's kinds). */
const LOOP_METHODS = METHOD_IDS.filter((m) => METHODS[m].kinds.some((k) => k === 'pair' || k === 'ranking'));
import { RuleFields } from './RuleFields.js';

export function LoopSetup({ model }: { model: LoopModelRef | null }) {
  const s = useLoopStore();
  const f = s.form;
  const running = Object.keys(s.progress).length > 0;
  const num = (v: string) => (v === '' ? 0 : Number(v));

  return (
    <section className="card" aria-labelledby="loop-setup-title">
      <h2 id="loop-setup-title" className="card-title">
        New loop
      </h2>
      <div className="fields loop-fields">
        <label className="field">
          Name
          <input data-testid="loop-name" value={f.name} onChange={(e) => s.setForm({ name: e.target.value })} />
        </label>
        <label className="field">
          Prompt set
          <select data-testid="loop-prompts" value={f.promptDatasetId ?? ''} onChange={(e) => s.setForm({ promptDatasetId: e.target.value || null })}>
            {s.datasets.length === 0 && <option value="">no datasets: import prompts on the Data page</option>}
            {s.datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.counts.bySplit.train} train / {d.counts.bySplit.test} test)
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Held-out prompts
          <select data-testid="loop-heldout" value={f.heldOutDatasetId ?? ''} onChange={(e) => s.setForm({ heldOutDatasetId: e.target.value || null })}>
            <option value="">the prompt set's test split</option>
            {s.datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Rounds
          <input data-testid="loop-rounds" type="number" min={1} max={100} value={f.rounds} onChange={(e) => s.setForm({ rounds: num(e.target.value) })} />
        </label>
        <label className="field">
          Candidates per prompt (K)
          <input data-testid="loop-n" type="number" min={2} max={64} value={f.n} onChange={(e) => s.setForm({ n: num(e.target.value) })} />
        </label>
        <label className="field">
          Temperature
          <input type="number" min={0} step={0.1} value={f.temperature} onChange={(e) => s.setForm({ temperature: num(e.target.value) })} />
        </label>
        <label className="field">
          Max new tokens
          <input data-testid="loop-max-new-tokens" type="number" min={1} value={f.maxNewTokens} onChange={(e) => s.setForm({ maxNewTokens: num(e.target.value) })} />
        </label>
        <label className="field">
          Seed
          <input type="number" min={0} value={f.seed} onChange={(e) => s.setForm({ seed: num(e.target.value) })} />
        </label>
        <label className="field">
          Judge
          <select data-testid="loop-judge" value={f.judge} onChange={(e) => s.setForm({ judge: e.target.value as JudgeKind })}>
            <option value="person">a person (Label page)</option>
            <option value="rule">a rule</option>
            <option value="model">a model (LLM-as-a-judge)</option>
            <option value="reward">an adapter's implicit reward</option>
          </select>
        </label>
        <label className="field">
          Pairs
          <select data-testid="loop-pairs" value={f.pairs} onChange={(e) => s.setForm({ pairs: e.target.value as (typeof PAIR_RULES)[number] })}>
            <option value="best-worst">best against worst</option>
            <option value="all-gaps">every pair with a score gap</option>
            <option value="rso">rejection sampling (RSO)</option>
            <option value="ranking">a ranking (listwise)</option>
          </select>
        </label>
        <label className="field">
          Method
          <select value={f.method} onChange={(e) => s.setForm({ method: e.target.value })}>
            {LOOP_METHODS.map((m) => (
              <option key={m} value={m}>
                {METHODS[m].label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Learning rate
          <input type="number" min={0} step={0.001} value={f.learningRate} onChange={(e) => s.setForm({ learningRate: num(e.target.value) })} />
        </label>
        <label className="field">
          Steps per round
          <input data-testid="loop-steps" type="number" min={1} value={f.maxSteps} onChange={(e) => s.setForm({ maxSteps: num(e.target.value) })} />
        </label>
        <label className="field">
          Batch size
          <input data-testid="loop-batch" type="number" min={1} value={f.batchSize} onChange={(e) => s.setForm({ batchSize: num(e.target.value) })} />
        </label>
        <label className="field">
          Reference
          <select data-testid="loop-reference" value={f.reference} onChange={(e) => s.setForm({ reference: e.target.value as 'previous' | 'base' })}>
            <option value="previous">the previous round's policy (iterative DPO)</option>
            <option value="base">the base model</option>
          </select>
        </label>
      </div>
      {f.judge === 'rule' && <RuleFields />}
      {f.judge === 'person' && (
        <>
          <p className="hint">Each round waits for you: label its candidates on the Label page (rank them, or pick one of two), then continue here. The sets you leave can be judged by this rule:</p>
          <RuleFields />
        </>
      )}
      {f.judge === 'model' && (
        <div className="fields loop-fields">
          <label className="field">
            Mode
            <select value={f.modelMode} onChange={(e) => s.setForm({ modelMode: e.target.value as 'pointwise' | 'pairwise' })}>
              <option value="pointwise">pointwise: a 1-5 score from its answer</option>
              <option value="pairwise">pairwise: A or B from its log-probs, positions swapped</option>
            </select>
          </label>
          <label className="field loop-field-wide">
            Rubric (empty: the default for the mode)
            <textarea rows={4} value={f.rubric} onChange={(e) => s.setForm({ rubric: e.target.value })} />
          </label>
        </div>
      )}
      {f.judge === 'reward' && (
        <div className="fields loop-fields">
          <label className="field">
            Adapter (a run id)
            <input value={f.rewardRunId ?? ''} onChange={(e) => s.setForm({ rewardRunId: e.target.value || null })} />
          </label>
          <label className="field">
            β
            <input type="number" min={0} step={0.05} value={f.beta} onChange={(e) => s.setForm({ beta: num(e.target.value) })} />
          </label>
        </div>
      )}
      <div className="loop-actions">
        <button type="button" className="button button-primary" data-testid="loop-start" disabled={!model || running || !f.promptDatasetId} onClick={() => model && void s.start(model)}>
          Start loop
        </button>
        {!model && <span className="hint">Load a model on the Models page first.</span>}
      </div>
    </section>
  );
}
