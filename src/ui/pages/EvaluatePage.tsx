// Evaluate: before and after. Held-out preference accuracy and reward margins of the base model
// and each tuned adapter (per pair, sortable), generations side by side with blind A/B judging,
// and the run history with its reports. Scoring and sampling run in the engine Worker.
import { useEffect } from 'react';
import { useEvaluateStore } from '../../stores/evaluate.js';
import { useModelsStore } from '../../stores/models.js';
import { ProblemBanner } from '../components/ProblemBanner.js';
import { PageShell } from '../components/PageShell.js';
import { ComparePanel } from '../evaluate/ComparePanel.js';
import { HistoryPanel } from '../evaluate/HistoryPanel.js';
import { ScorePanel } from '../evaluate/ScorePanel.js';
import '../evaluate/evaluate.css';
import '../train/train.css';

export function EvaluatePage() {
  const init = useEvaluateStore((s) => s.init);
  const loaded = useEvaluateStore((s) => s.loaded);
  const problem = useEvaluateStore((s) => s.problem);
  const dismiss = useEvaluateStore((s) => s.dismissProblem);
  // Only a model already on the GPU (as on the Train page): loading one here would race the Models page.
  const modelId = useModelsStore((s) => s.loadedId);
  const manifest = useModelsStore((s) => s.models.find((m) => m.id === s.loadedId));
  const model = modelId ? { id: modelId, name: manifest?.name ?? modelId } : null;

  useEffect(() => {
    if (!loaded) void init();
    else void useEvaluateStore.getState().refresh();
  }, [init, loaded]);

  return (
    <PageShell page="evaluate" lead="Compare the base and tuned models on held-out pairs: preference accuracy, reward margins, samples side by side judged blind, and every run's history.">
      <div className="eval-page">
        {problem && <ProblemBanner problem={problem} onDismiss={dismiss} testId="eval-problem" />}
        <ScorePanel model={model} />
        <ComparePanel model={model} />
        <HistoryPanel />
      </div>
    </PageShell>
  );
}
